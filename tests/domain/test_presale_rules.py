"""Pre-sale rules (pure): the spec's bounds, the phases, the unpaid rule, the ids, conservation."""

from __future__ import annotations

import pytest

from livehub.domain.presale_rules import (
    PresaleCounts,
    PresaleSpec,
    deposit_id,
    is_presale_id,
    presale_order_id,
    split_presale_id,
    unpaid_state,
)
from livehub.domain.sale_rules import SaleSpecError, split_id

T0 = 1_700_000_000_000


def spec(**changes: object) -> PresaleSpec:
    fields: dict[str, object] = dict(
        presale_id="p1", venue="b1", brand="b1", sku="b1-sku1", stock=10, price_cents=10_000, deposit_cents=1_000,
        per_user_limit=1, deposit_starts_at_ms=T0, deposit_ends_at_ms=T0 + 100, balance_starts_at_ms=T0 + 200,
        balance_ends_at_ms=T0 + 300,
    )  # fmt: skip
    fields.update(changes)
    return PresaleSpec(**fields)  # type: ignore[arg-type]


def test_the_spec_round_trips_through_its_stored_fields() -> None:
    s = spec(unpaid="refund", deposit_ttl_s=30)
    assert PresaleSpec.from_fields(s.to_fields()) == s
    assert s.balance_cents == 9_000


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"deposit_cents": 10_000}, "deposit_cents"),  # the deposit is less than the price
        ({"deposit_cents": 0}, "deposit_cents"),
        ({"deposit_ends_at_ms": T0}, "deposit_ends_at_ms"),
        ({"balance_starts_at_ms": T0 + 99}, "balance_starts_at_ms"),  # the balance window opens after deposits
        ({"balance_ends_at_ms": T0 + 200}, "balance_ends_at_ms"),
        ({"unpaid": "keep"}, "unpaid"),
        ({"stock": 0}, "stock"),
        ({"presale_id": "p 1"}, "presale_id"),
        ({"deposit_ttl_s": 0}, "deposit_ttl_s"),
    ],
)
def test_a_bad_spec_names_its_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(SaleSpecError) as exc:
        spec(**changes)
    assert exc.value.field == field


def test_the_phases_follow_the_two_windows() -> None:
    s = spec()
    assert [s.phase(t) for t in (T0 - 1, T0, T0 + 100, T0 + 200, T0 + 300)] == [
        "scheduled",
        "deposit",
        "waiting",
        "balance",
        "ended",
    ]


def test_an_unpaid_balance_is_forfeited_unless_the_rule_is_refund() -> None:
    assert unpaid_state("forfeit") == "forfeited"
    assert unpaid_state("refund") == "refunded"


def test_a_deposit_id_is_stable_per_request_and_never_a_flash_sale_id() -> None:
    did = deposit_id("p1", "u1", "req")
    assert did == deposit_id("p1", "u1", "req") != deposit_id("p1", "u1", "other")
    assert split_presale_id(did)[0] == "p1" and is_presale_id(did)
    oid = presale_order_id(did)
    assert oid != did and is_presale_id(oid) and split_presale_id(oid)[1][0] == "p"
    for any_id in (did, oid):
        with pytest.raises(ValueError):
            split_id(any_id)  # a flash sale's parser refuses it
    assert not is_presale_id("p1:r" + "0" * 32) and not is_presale_id("nope")


def test_the_books_balance_when_every_held_unit_is_counted() -> None:
    assert PresaleCounts(10, available=4, deposit_due=1, balance_due=2, completed=3, lapsed=5, refunded=1).balanced
    assert not PresaleCounts(10, available=5, deposit_due=1, balance_due=2, completed=3).balanced
