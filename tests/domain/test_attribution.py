"""Guide attribution rule, hour buckets and commission rounding (pure)."""

from __future__ import annotations

import pytest

from livehub.domain.attribution import (
    GuideCredit,
    attribute,
    commission_cents,
    credit_for,
    ended_hours,
    hour_bucket,
    hour_start_ms,
    hours_between,
    lasting,
)
from livehub.domain.topology import Festival, Guide

G1 = Guide("g1", "Ann", "st-a1", "brand-a", "CODE-A1")
G2 = Guide("g2", "Bo", "st-a2", "brand-a", "CODE-A2")
G3 = Guide("g3", "Cy", "st-b1", "brand-b", "CODE-B1")
FESTIVAL = Festival(
    id="f",
    title="t",
    main_venue="main",
    venues={},
    hosts={},
    brands={},
    products={},
    stores={},
    guides={g.id: g for g in (G1, G2, G3)},
    guide_codes={g.share_code: g.id for g in (G1, G2, G3)},
)


def test_a_share_code_attributes_the_session_to_its_guide() -> None:
    assert attribute("CODE-A1", FESTIVAL) == G1
    assert attribute("CODE-A2", FESTIVAL) == G2


@pytest.mark.parametrize("code", [None, "", "nope", "bad code!", "x" * 65, "CODE-A1 ", "{CODE-A1}"])
def test_no_code_an_unknown_or_a_malformed_one_attributes_the_session_to_nobody(code: str | None) -> None:
    assert attribute(code, FESTIVAL) is None


def test_an_order_credits_the_guide_and_the_guides_store_for_its_own_brand_only() -> None:
    assert credit_for(G1, "brand-a") == GuideCredit("g1", "st-a1")
    assert credit_for(G1, "brand-b") is None
    assert credit_for(None, "brand-a") is None


def test_hour_bucket_is_the_utc_hour() -> None:
    assert hour_bucket(0) == "1970010100"
    ms = 1_592_000_000_000  # 2020-06-12 22:13:20 UTC
    assert hour_bucket(ms) == "2020061222"
    assert hour_bucket(hour_start_ms("2020061222")) == "2020061222"
    assert hour_bucket(hour_start_ms("2020061222") - 1) == "2020061221"
    with pytest.raises(ValueError):
        hour_start_ms("2020-06-12")


@pytest.mark.parametrize(
    ("amount", "rate", "expected"),
    [
        (10_000, 0.05, 500),
        (9_990, 0.05, 500),  # 499.5 rounds half up
        (9_989, 0.05, 499),  # 499.45
        (1, 0.05, 0),
        (10, 0.05, 1),  # 0.5 rounds up
        (0, 0.05, 0),
        (12_345, 0.0, 0),
        (12_345, 1.0, 12_345),
        (2_995, 0.1, 300),  # 299.5: float 0.1 would risk 299.49999...
    ],
)
def test_commission_is_rounded_half_up_on_the_decimal_rate(amount: int, rate: float, expected: int) -> None:
    assert commission_cents(amount, rate) == expected


def test_commission_refuses_negative_amounts_and_rates_outside_0_1() -> None:
    with pytest.raises(ValueError):
        commission_cents(-1, 0.05)
    with pytest.raises(ValueError):
        commission_cents(1, 1.5)


def test_a_remembered_first_touch_names_its_guide_while_the_festival_has_it() -> None:
    assert lasting("g2", FESTIVAL) == G2
    assert lasting(None, FESTIVAL) is None
    assert lasting("", FESTIVAL) is None
    assert lasting("a-guide-who-left", FESTIVAL) is None  # the festival changed: the attribution counts for nothing


def test_hours_between_counts_both_ends_across_a_day_and_nothing_when_reversed() -> None:
    assert hours_between("2023111422", "2023111501") == ["2023111422", "2023111423", "2023111500", "2023111501"]
    assert hours_between("2023111422", "2023111422") == ["2023111422"]
    assert hours_between("2023111423", "2023111422") == []
    with pytest.raises(ValueError):
        hours_between("yesterday", "2023111422")


def test_an_hour_counts_as_ended_only_once_its_grace_has_passed() -> None:
    eleven = hour_start_ms("2023111423")
    assert ended_hours(eleven + 119_999, 120_000, 2) == ["2023111420", "2023111421"]  # 22h still in its grace
    assert ended_hours(eleven + 120_000, 120_000, 2) == ["2023111421", "2023111422"]
    assert ended_hours(eleven + 120_000, 0, 1) == ["2023111422"]
