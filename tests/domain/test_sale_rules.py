"""Sale rules: spec validation, buy request validation, ids and prices (pure)."""

from __future__ import annotations

import dataclasses

import pytest

from livehub.domain.sale_rules import (
    BuyCode,
    BuyRequest,
    BuyRequestError,
    Location,
    SaleSpec,
    SaleSpecError,
    check_quantity,
    flat_fields,
    now_arg,
    order_id_for,
    price_after_coupon,
    reservation_id,
    sale_of,
    split_id,
    text,
)

SPEC = SaleSpec(
    sale_id="s1",
    venue="v-main",
    brand="b1",
    sku="sku-1",
    stock=10,
    price_cents=9_900,
    per_user_limit=2,
    starts_at_ms=1_000,
    ends_at_ms=61_000,
    reservation_ttl_s=300,
)


def test_a_valid_spec_round_trips_through_its_redis_fields() -> None:
    assert SaleSpec.from_fields(SPEC.to_fields()) == SPEC


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sale_id", ""),
        ("sale_id", "has{brace}"),
        ("sale_id", "a:b"),
        ("venue", "x" * 65),
        ("brand", "sp ace"),
        ("sku", None),
        ("stock", 0),
        ("stock", 10_000_001),
        ("stock", True),
        ("price_cents", 0),
        ("price_cents", 1.5),
        ("per_user_limit", 0),
        ("per_user_limit", 1_001),
        ("starts_at_ms", -1),
        ("ends_at_ms", 999),
        ("ends_at_ms", 1_000 + 31 * 86_400_000),
        ("reservation_ttl_s", 0),
        ("reservation_ttl_s", 86_401),
    ],
)
def test_each_bad_spec_field_is_rejected_by_name(field: str, value: object) -> None:
    with pytest.raises(SaleSpecError) as info:
        dataclasses.replace(SPEC, **{field: value})
    assert info.value.field == field


def test_an_empty_window_is_allowed_it_is_a_sale_ended_before_it_began() -> None:
    spec = dataclasses.replace(SPEC, ends_at_ms=SPEC.starts_at_ms)
    assert spec.ends_at_ms == spec.starts_at_ms


def test_a_spec_missing_a_field_names_it() -> None:
    fields = SPEC.to_fields()
    del fields["price_cents"]
    with pytest.raises(SaleSpecError) as info:
        SaleSpec.from_fields(fields)
    assert info.value.field == "price_cents"


def test_buy_request_parse_takes_defaults_and_a_location() -> None:
    req = BuyRequest.parse({"request_id": "r-1", "lat": 31.2, "lon": 121.5, "pickup_store": "st1"})
    assert req == BuyRequest("r-1", 1, Location(31.2, 121.5), "st1", None)


@pytest.mark.parametrize(
    ("data", "code", "field"),
    [
        ({}, BuyCode.BAD_REQUEST, "request_id"),
        ({"request_id": ""}, BuyCode.BAD_REQUEST, "request_id"),
        ({"request_id": "x" * 65}, BuyCode.BAD_REQUEST, "request_id"),
        ({"request_id": "has space"}, BuyCode.BAD_REQUEST, "request_id"),
        ({"request_id": "r", "qty": "2"}, BuyCode.BAD_REQUEST, "qty"),
        ({"request_id": "r", "qty": True}, BuyCode.BAD_REQUEST, "qty"),
        ({"request_id": "r", "qty": 0}, BuyCode.BAD_QUANTITY, "qty"),
        ({"request_id": "r", "qty": -3}, BuyCode.BAD_QUANTITY, "qty"),
        ({"request_id": "r", "qty": 1_001}, BuyCode.BAD_QUANTITY, "qty"),
        ({"request_id": "r", "lat": 10.0}, BuyCode.BAD_REQUEST, "lon"),
        ({"request_id": "r", "lon": 10.0}, BuyCode.BAD_REQUEST, "lat"),
        ({"request_id": "r", "lat": 91.0, "lon": 0.0}, BuyCode.BAD_REQUEST, "lat"),
        ({"request_id": "r", "lat": 86.0, "lon": 0.0}, BuyCode.BAD_REQUEST, "lat"),
        ({"request_id": "r", "lat": 0.0, "lon": -180.5}, BuyCode.BAD_REQUEST, "lon"),
        ({"request_id": "r", "lat": float("nan"), "lon": 0.0}, BuyCode.BAD_REQUEST, "lat"),
        ({"request_id": "r", "lat": "1", "lon": 0.0}, BuyCode.BAD_REQUEST, "lat"),
        ({"request_id": "r", "pickup_store": "a b"}, BuyCode.BAD_REQUEST, "pickup_store"),
        ({"request_id": "r", "coupon_id": ""}, BuyCode.BAD_REQUEST, "coupon_id"),
    ],
)
def test_each_bad_buy_request_names_its_field_and_code(
    data: dict[str, object], code: BuyCode, field: str
) -> None:
    with pytest.raises(BuyRequestError) as info:
        BuyRequest.parse(data)
    assert (info.value.code, info.value.field) == (code, field)


def test_quantity_beyond_the_per_user_limit_is_bad_quantity() -> None:
    assert check_quantity(2, 2) is None
    assert check_quantity(3, 2) is BuyCode.BAD_QUANTITY
    assert check_quantity(0, 2) is BuyCode.BAD_QUANTITY


def test_the_documented_buy_codes_are_distinct_strings() -> None:
    codes = {c.value for c in BuyCode}
    assert {
        "ok", "duplicate", "not_started", "ended", "sold_out", "limit_reached", "bad_quantity",
        "not_found", "bad_request", "coupon_invalid", "busy",
    } == codes  # fmt: skip
    assert {c for c in BuyCode if c.took_stock} == {BuyCode.OK, BuyCode.DUPLICATE}


def test_reservation_ids_are_deterministic_per_user_and_request_and_name_their_sale() -> None:
    a = reservation_id("s1", "u1", "req-1")
    assert a == reservation_id("s1", "u1", "req-1")
    assert a != reservation_id("s1", "u2", "req-1")
    assert a != reservation_id("s1", "u1", "req-2")
    assert a != reservation_id("s2", "u1", "req-1")
    assert sale_of(a) == "s1"
    order = order_id_for(a)
    assert sale_of(order) == "s1" and order != a and order_id_for(a) == order
    assert split_id(order)[1][0] == "o"


@pytest.mark.parametrize("bad", ["", "s1", "s1:r123", "s1:x" + "0" * 32, "s1:r" + "g" * 32, ":r" + "0" * 32])
def test_malformed_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        split_id(bad)


def test_price_after_coupon_caps_the_discount_and_honours_the_minimum_spend() -> None:
    assert price_after_coupon(1_000, 2).amount_cents == 2_000  # type: ignore[union-attr]
    assert price_after_coupon(1_000, 2, 500, 2_000).amount_cents == 1_500  # type: ignore[union-attr]
    assert price_after_coupon(1_000, 1, 500, 2_000) is None
    capped = price_after_coupon(300, 1, 500, 0)
    assert capped is not None and (capped.discount_cents, capped.amount_cents) == (300, 0)


def test_reply_helpers_decode_bytes_and_flat_lists() -> None:
    assert text(b"x") == "x" and text(3) == "3"
    assert flat_fields([b"a", b"1", "b", 2]) == {"a": "1", "b": "2"}
    assert flat_fields({b"a": b"1"}) == {"a": "1"}
    assert now_arg(None) == "" and now_arg(5) == "5"
