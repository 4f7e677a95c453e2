"""Who may do what: venue, store and brand-venue lookups, driving rights, viewers-only buying,
main-venue-only controls, and the channels a join subscribes to."""

from __future__ import annotations

from pathlib import Path

import pytest

from livehub import errors
from livehub.config import load_festival
from livehub.domain import roles
from livehub.domain.tokens import ANONYMOUS_VIEWER, HOST, VIEWER, Identity
from livehub.domain.topology import Festival, host_channel, room_channel
from livehub.errors import LivehubError

SMALL = Path(__file__).resolve().parents[2] / "config" / "small.toml"
MAIN_HOST = Identity("host-main", HOST, "main")
B1_HOST = Identity("host-b1", HOST, "b1")
VIEWER_ID = Identity("u1", VIEWER)


@pytest.fixture(scope="module")
def festival() -> Festival:
    return load_festival(SMALL)


def code_of(exc: pytest.ExceptionInfo[LivehubError]) -> str:
    return exc.value.code


def test_venue_or_404_returns_a_known_venue_and_refuses_an_unknown_or_missing_one(festival: Festival) -> None:
    assert roles.venue_or_404(festival, "b1") == "b1"
    for venue in ("nope", None):
        with pytest.raises(LivehubError) as exc:
            roles.venue_or_404(festival, venue)
        assert code_of(exc) == errors.NOT_FOUND


def test_brand_venue_or_404_refuses_the_main_venue(festival: Festival) -> None:
    assert roles.brand_venue_or_404(festival, "b2") == "b2"
    with pytest.raises(LivehubError) as exc:
        roles.brand_venue_or_404(festival, "main")
    assert code_of(exc) == errors.NOT_FOUND


def test_store_or_404_finds_a_store_and_refuses_an_unknown_one(festival: Festival) -> None:
    assert roles.store_or_404(festival, "b1-s1").brand == "b1"
    with pytest.raises(LivehubError) as exc:
        roles.store_or_404(festival, "b9-s9")
    assert code_of(exc) == errors.NOT_FOUND


def test_a_brand_host_drives_its_own_venue_only_and_the_main_host_drives_every_venue(festival: Festival) -> None:
    assert roles.may_drive(festival, B1_HOST, "b1")
    assert not roles.may_drive(festival, B1_HOST, "b2")
    assert not roles.may_drive(festival, B1_HOST, "main")
    assert all(roles.may_drive(festival, MAIN_HOST, v) for v in festival.venues)
    assert not any(roles.may_drive(festival, VIEWER_ID, v) for v in festival.venues)


def test_a_host_of_several_named_venues_drives_those_only(festival: Festival) -> None:
    two = Identity("host-duo", HOST, venue="b1", venues=frozenset({"b2"}))

    assert [v for v in festival.venues if roles.may_drive(festival, two, v)] == ["b1", "b2"]
    assert not roles.is_main_host(festival, two)
    assert not roles.may_drive(festival, Identity("mod", "moderator", venues=frozenset({"b1"})), "b1")


def test_only_a_host_token_of_the_main_venue_is_the_main_host(festival: Festival) -> None:
    assert roles.is_main_host(festival, MAIN_HOST)
    assert not roles.is_main_host(festival, B1_HOST)
    assert not roles.is_main_host(festival, Identity("u1", VIEWER, "main"))  # a viewer, whatever its venue
    assert not roles.is_main_host(festival, Identity("host-x", HOST, "gone"))  # a venue the festival lost


def test_viewers_buy_and_hosts_are_refused(festival: Festival) -> None:
    assert roles.require_viewer(VIEWER_ID) == "u1"
    with pytest.raises(LivehubError) as exc:
        roles.require_viewer(B1_HOST)
    assert code_of(exc) == errors.FORBIDDEN


def test_anything_needing_a_user_id_refuses_an_anonymous_viewer_as_unauthorized() -> None:
    assert roles.require_user(VIEWER_ID) == "u1"
    for check in (roles.require_user, roles.require_viewer):
        with pytest.raises(LivehubError) as exc:
            check(ANONYMOUS_VIEWER)
        assert code_of(exc) == errors.UNAUTHORIZED


def test_require_host_refuses_a_viewer_and_says_what_was_refused() -> None:
    roles.require_host(B1_HOST, "mint tokens")
    with pytest.raises(LivehubError) as exc:
        roles.require_host(VIEWER_ID, "mint tokens")
    assert code_of(exc) == errors.FORBIDDEN and exc.value.message == "only hosts mint tokens"


def test_main_venue_only_controls_are_refused_in_a_brand_venue(festival: Festival) -> None:
    roles.require_main_venue(festival, "main", "co-host link-ups")
    with pytest.raises(LivehubError) as exc:
        roles.require_main_venue(festival, "b1", "co-host link-ups")
    assert code_of(exc) == errors.BAD_REQUEST and exc.value.message == "co-host link-ups are driven from the main venue"


def test_a_join_subscribes_the_venue_channels_and_its_room_and_a_host_also_its_own_channel(festival: Festival) -> None:
    viewer = roles.channels_of(festival, VIEWER_ID, "b1")
    assert viewer == (*festival.channels_for("b1"), room_channel("b1"))
    assert "main" in viewer and "b1" in viewer and "b2" not in viewer
    assert roles.channels_of(festival, B1_HOST, "b1") == (*viewer, host_channel("host-b1"))
