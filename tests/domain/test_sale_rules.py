"""Sale rules: spec validation, buy request validation, reservation ids (pure).  Prices and the
per-user quantity limit are buy.lua's: tests/store/test_sales.py pins them."""

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
    flat_fields,
    now_arg,
    order_id_for,
    reservation_id,
    sale_of,
    split_id,
    text,
)
from livehub.protocol.commands import parse_buy_args

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


def test_a_buy_request_is_built_from_the_parsed_buy_arguments() -> None:
    args = parse_buy_args({"type": "buy", "id": "r-1", "sale": "s1", "loc": [31.2, 121.5], "pickup_store": "st1"})
    assert BuyRequest.from_args("r-1", args) == BuyRequest("r-1", 1, Location(31.2, 121.5), "st1", None)
    args = parse_buy_args({"type": "buy", "id": 7, "sale": "s1", "qty": 2, "coupon": "c.1"})
    assert BuyRequest.from_args("7", args) == BuyRequest("7", 2, None, None, "c.1")


@pytest.mark.parametrize(
    ("request_id", "args", "code", "field"),
    [
        ("", {}, BuyCode.BAD_REQUEST, "request_id"),
        ("x" * 65, {}, BuyCode.BAD_REQUEST, "request_id"),
        ("has space", {}, BuyCode.BAD_REQUEST, "request_id"),
        ("r\u00e9", {}, BuyCode.BAD_REQUEST, "request_id"),
        ("r", {"qty": "2"}, BuyCode.BAD_REQUEST, "qty"),
        ("r", {"qty": True}, BuyCode.BAD_REQUEST, "qty"),
        ("r", {"qty": 0}, BuyCode.BAD_QUANTITY, "qty"),
        ("r", {"qty": -3}, BuyCode.BAD_QUANTITY, "qty"),
        ("r", {"qty": 1_001}, BuyCode.BAD_QUANTITY, "qty"),
        ("r", {"loc": (91.0, 0.0)}, BuyCode.BAD_REQUEST, "lat"),
        ("r", {"loc": (86.0, 0.0)}, BuyCode.BAD_REQUEST, "lat"),  # beyond what Redis GEO indexes
        ("r", {"loc": (0.0, -180.5)}, BuyCode.BAD_REQUEST, "lon"),
        ("r", {"loc": (float("nan"), 0.0)}, BuyCode.BAD_REQUEST, "lat"),
        ("r", {"loc": ("1", 0.0)}, BuyCode.BAD_REQUEST, "lat"),
        ("r", {"pickup_store": "a b"}, BuyCode.BAD_REQUEST, "pickup_store"),
        ("r", {"coupon": ""}, BuyCode.BAD_REQUEST, "coupon_id"),
    ],
)
def test_each_bad_buy_request_names_its_field_and_code(
    request_id: str, args: dict[str, object], code: BuyCode, field: str
) -> None:
    with pytest.raises(BuyRequestError) as info:
        BuyRequest.from_args(request_id, args)
    assert (info.value.code, info.value.field) == (code, field)


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


def test_reply_helpers_decode_bytes_and_flat_lists() -> None:
    assert text(b"x") == "x" and text(3) == "3"
    assert flat_fields([b"a", b"1", "b", 2]) == {"a": "1", "b": "2"}
    assert flat_fields({b"a": b"1"}) == {"a": "1"}
    assert now_arg(None) == "" and now_arg(5) == "5"
