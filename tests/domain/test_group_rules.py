"""Group-buy rules (livehub.domain.group_rules): the deal spec, the ids, the answers, the card text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livehub.domain.group_rules import (
    MAX_GROUP_SIZE,
    GroupDealSpec,
    JoinCode,
    Refund,
    deal_of,
    fill_text,
    group_id_for,
    member_order_id,
    refund_id,
)
from livehub.domain.ids import valid_id
from livehub.domain.sale_rules import SaleSpecError, split_id

NOW = 1_800_000_000_000


def spec(**changes: object) -> GroupDealSpec:
    fields: dict[str, object] = dict(deal_id="d1", venue="b1", brand="acme", sku="b1-sku1", group_size=3,
                                     group_price_cents=4900, groups=10, created_at_ms=NOW,
                                     ends_at_ms=NOW + 60_000)  # fmt: skip
    fields.update(changes)
    return GroupDealSpec(**fields)  # type: ignore[arg-type]


def test_a_spec_round_trips_through_its_redis_fields() -> None:
    original = spec(group_ttl_s=90)
    assert GroupDealSpec.from_fields(original.to_fields()) == original
    assert original.last_deadline_ms == NOW + 60_000 + 90_000


@pytest.mark.parametrize(
    ("field", "value"),
    [("group_size", 1), ("group_size", MAX_GROUP_SIZE + 1), ("group_size", True), ("group_price_cents", 0),
     ("groups", 0), ("group_ttl_s", 0), ("ends_at_ms", NOW), ("deal_id", "a" * 41), ("deal_id", "a:b"),
     ("sku", "x{y}"), ("venue", "")],
)  # fmt: skip
def test_a_spec_out_of_range_names_its_field(field: str, value: object) -> None:
    with pytest.raises(SaleSpecError) as caught:
        spec(**{field: value})
    assert caught.value.field == field


def test_a_missing_field_is_named() -> None:
    fields = spec().to_fields()
    del fields["groups"]
    with pytest.raises(SaleSpecError) as caught:
        GroupDealSpec.from_fields(fields)
    assert caught.value.field == "groups"


@given(deal=st.from_regex(r"[A-Za-z0-9_.-]{1,40}", fullmatch=True), user=st.text(min_size=1, max_size=64),
       request=st.text(min_size=1, max_size=64))  # fmt: skip
def test_a_group_id_is_an_entity_id_that_names_its_deal(deal: str, user: str, request: str) -> None:
    group_id = group_id_for(deal, user, request)
    assert valid_id(group_id) and deal_of(group_id) == deal
    assert group_id == group_id_for(deal, user, request)  # a retried start finds its group


def test_group_ids_of_other_starts_differ_and_other_strings_are_no_group() -> None:
    assert group_id_for("d1", "ann", "q1") != group_id_for("d1", "ann", "q2") != group_id_for("d1", "bo", "q1")
    for not_a_group in ("d1", "d1.g123", "d1.gXXXXXXXXXXXXXXXX", ".g0123456789abcdef", "d1:g0123456789abcdef", 7):
        assert deal_of(not_a_group) is None  # type: ignore[arg-type]


def test_a_members_order_id_has_the_flash_sale_order_shape_and_is_one_per_member() -> None:
    group_id = group_id_for("d1", "ann", "q1")
    order_id = member_order_id("d1", group_id, "bo")
    assert split_id(order_id)[0] == "d1" and order_id == member_order_id("d1", group_id, "bo")
    assert order_id != member_order_id("d1", group_id, "ann")
    assert refund_id(group_id, "bo") != refund_id(group_id, "ann")


def test_the_paid_answers_are_those_with_the_user_a_member() -> None:
    assert {c for c in JoinCode if c.paid} == {JoinCode.JOINED, JoinCode.COMPLETED, JoinCode.DUPLICATE}


def test_a_refund_round_trips_through_its_stream_fields() -> None:
    refund = Refund("r1", "d1", "d1.g0123456789abcdef", "b1", "ann", 4900, "pay-1", NOW)
    assert Refund.from_fields(refund.to_fields()) == refund


def test_the_card_says_how_full_the_group_is_and_how_long_it_has() -> None:
    assert fill_text(2, 3, 252_000) == "2 of 3 joined, 04:12 left"
    assert fill_text(1, 2, 1) == "1 of 2 joined, 00:01 left"
    assert fill_text(1, 2, 0) == "1 of 2 joined, 00:00 left"
