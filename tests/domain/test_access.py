"""livehub.domain.access: the role table and ``permits`` (pure: every need with every role)."""

from __future__ import annotations

from pathlib import Path

import pytest

from livehub import errors
from livehub.config import load_festival
from livehub.domain import access
from livehub.domain.access import WS, Need, Target, check, check_command, permits
from livehub.domain.tokens import ADMIN, ANONYMOUS_VIEWER, GUIDE, HOST, MODERATOR, STAFF, VIEWER, Identity
from livehub.domain.topology import Festival
from livehub.errors import LivehubError
from livehub.protocol.commands import CLIENT_TYPES

SMALL = Path(__file__).resolve().parents[2] / "config" / "small.toml"

ROLES = {
    "anonymous": ANONYMOUS_VIEWER,
    "viewer": Identity("u1", VIEWER),
    "main_host": Identity("host-main", HOST, venue="main"),
    "b1_host": Identity("host-b1", HOST, venue="b1"),
    "b1_moderator": Identity("mod-1", MODERATOR, venues=frozenset({"b1"})),
    "b1_guide": Identity("g-user", GUIDE, guide="b1-g1"),
    "unknown_guide": Identity("g-x", GUIDE, guide="nobody"),
    "b1_s1_staff": Identity("clerk-1", STAFF, store="b1-s1"),
    "admin": Identity("boss", ADMIN),
}
SIGNED_IN = set(ROLES) - {"anonymous"}
B1, B2 = Target(venue="b1"), Target(venue="b2")
B1_S1, B1_S2, B2_S1 = Target(store="b1-s1"), Target(store="b1-s2"), Target(store="b2-s1")

# Who meets each need for a target: written out, not derived from the code under test.
EXPECTED: list[tuple[Need, Target, set[str]]] = [
    (Need.PUBLIC, access.NO_TARGET, set(ROLES)),
    (Need.PAYMENT, access.NO_TARGET, set(ROLES)),
    (Need.WATCH, access.NO_TARGET, set(ROLES)),
    (Need.USER, access.NO_TARGET, SIGNED_IN),
    (Need.BUYER, access.NO_TARGET, SIGNED_IN - {"main_host", "b1_host"}),
    (Need.HOST, access.NO_TARGET, {"main_host", "b1_host"}),
    (Need.VENUE_HOST, B1, {"main_host", "b1_host"}),
    (Need.VENUE_HOST, B2, {"main_host"}),
    (Need.VENUE_HOST, Target(venue="main"), {"main_host"}),
    (Need.VENUE_HOST, access.NO_TARGET, set()),
    (Need.VENUE_MODERATOR, B1, {"main_host", "b1_host", "b1_moderator"}),
    (Need.VENUE_MODERATOR, B2, {"main_host"}),
    (Need.GUIDE_SELF, access.NO_TARGET, {"b1_guide"}),
    (Need.STORE_STAFF, B1_S1, {"b1_s1_staff", "b1_host", "main_host", "admin"}),
    (Need.STORE_STAFF, B1_S2, {"b1_host", "main_host", "admin"}),
    (Need.STORE_STAFF, B2_S1, {"main_host", "admin"}),
    (Need.STORE_STAFF, Target(store="nowhere"), set()),
    (Need.ADMIN, access.NO_TARGET, {"admin"}),
    (Need.STORE_KEEPER, B1_S1, {"b1_s1_staff", "admin"}),  # hosts read a store's stock, never adjust it
    (Need.STORE_KEEPER, B1_S2, {"admin"}),
    (Need.STORE_KEEPER, Target(store="nowhere"), set()),
    (Need.STORE_KEEPER, access.NO_TARGET, set()),
]


@pytest.fixture(scope="module")
def festival() -> Festival:
    return load_festival(SMALL)


def test_every_need_is_specified_here() -> None:
    assert {need for need, _, _ in EXPECTED} == set(Need)


@pytest.mark.parametrize(("need", "target", "allowed"), EXPECTED, ids=lambda v: str(v) if isinstance(v, Need) else "")
def test_permits_allows_exactly_the_roles_the_need_names(
    festival: Festival, need: Need, target: Target, allowed: set[str]
) -> None:
    got = {name for name, identity in ROLES.items() if permits(need, identity, festival, target)}

    assert got == allowed


def test_a_refusal_is_unauthorized_for_an_anonymous_viewer_and_forbidden_for_a_signed_in_role(
    festival: Festival,
) -> None:
    with pytest.raises(LivehubError) as anonymous:
        check(Need.BUYER, ANONYMOUS_VIEWER, festival)
    with pytest.raises(LivehubError) as host:
        check(Need.BUYER, ROLES["b1_host"], festival)

    assert anonymous.value.code == errors.UNAUTHORIZED
    assert host.value.code == errors.FORBIDDEN
    check(Need.BUYER, ROLES["viewer"], festival)  # allowed: no exception


def test_the_websocket_table_names_exactly_the_command_types_the_parser_knows() -> None:
    assert set(WS) == set(CLIENT_TYPES)


def test_anonymous_viewers_watch_and_like_but_comment_buy_grab_and_signal_need_more(festival: Festival) -> None:
    allowed = set()
    for kind in CLIENT_TYPES:
        try:
            check_command(kind, ANONYMOUS_VIEWER, festival)
            allowed.add(kind)
        except LivehubError as exc:
            assert exc.code == errors.UNAUTHORIZED

    assert allowed == {"ping", "join", "leave", "like"}


def test_no_token_is_read_for_public_routes_and_the_payment_callback() -> None:
    tokenless = {key for key, rule in access.HTTP.items() if rule.need in access.TOKENLESS}

    assert ("POST", "/api/payments/callback") in tokenless
    assert ("POST", "/api/auth/token") not in tokenless
    assert all(access.HTTP[key].need is Need.PUBLIC for key in tokenless - {("POST", "/api/payments/callback")})


def test_token_minting_is_for_admins_only() -> None:
    assert access.HTTP[("POST", "/api/auth/token")].need is Need.ADMIN


def test_the_demo_routes_are_marked_demo_only() -> None:
    demo = {key for key, rule in access.HTTP.items() if rule.demo_only}

    assert demo == {("POST", "/api/auth/guest"), ("POST", "/api/auth/staff"),
                    ("POST", "/api/reservations/{reservation}/pay")}  # fmt: skip
