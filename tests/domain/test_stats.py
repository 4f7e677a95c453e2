"""The live numbers' pure rules: scopes, minute buckets, conversion, the live sale and the run of show."""

from __future__ import annotations

import dataclasses

from livehub.domain.stats import (
    FESTIVAL_SCOPE,
    MINUTE_MS,
    SaleFigures,
    Totals,
    conversion,
    last_minutes,
    live_sale,
    minute_of,
    ranked,
    scopes_of_order,
    shown_sales,
    totals_view,
    upcoming,
)

T0 = 1_800_000_000_000 - 1_800_000_000_000 % MINUTE_MS


def sale(sale_id: str, phase: str, starts: int = 0, ends: int = 10) -> SaleFigures:
    return SaleFigures(sale_id, "sku", "Tea", phase, starts, ends, 10, 10, 0, 0, 100, None)


def test_an_order_counts_in_its_venue_and_in_the_festival() -> None:
    assert scopes_of_order("b1") == ("v:b1", FESTIVAL_SCOPE)


def test_a_minute_starts_on_the_minute_and_the_last_minutes_end_with_the_current_one() -> None:
    assert minute_of(T0) == minute_of(T0 + MINUTE_MS - 1) == T0
    assert minute_of(T0 + MINUTE_MS) == T0 + MINUTE_MS
    assert last_minutes(T0 + 5, 3) == [T0 - 2 * MINUTE_MS, T0 - MINUTE_MS, T0]


def test_conversion_is_buyers_over_viewers_zero_without_viewers_and_at_most_one() -> None:
    assert conversion(3, 40) == 0.075
    assert conversion(1, 3) == 0.3333
    assert conversion(5, 0) == 0.0
    assert conversion(12, 10) == 1.0  # two independent estimates: noise, never more than everyone


def test_the_live_sale_is_the_open_one_ending_first_and_the_run_of_show_is_soonest_first() -> None:
    sales = [sale("late", "open", ends=50), sale("soon", "open", ends=20), sale("done", "ended"),
             sale("next2", "scheduled", starts=90), sale("next1", "scheduled", starts=60)]  # fmt: skip
    current = live_sale(sales)
    assert current is not None and current.sale_id == "soon"
    assert [s.sale_id for s in upcoming(sales)] == ["next1", "next2"]
    assert live_sale([sale("done", "ended")]) is None


def test_a_sold_out_sale_still_open_does_not_hide_the_one_still_selling() -> None:
    sold_out = dataclasses.replace(sale("gone", "open", ends=20), stock=0)
    selling = sale("selling", "open", ends=50)
    assert live_sale([sold_out, selling]) == selling
    assert live_sale([sold_out]) == sold_out  # every open sale sold out: the one ending first


def test_the_peak_shown_is_never_below_online_now() -> None:
    view = totals_view(Totals(gmv_cents=500, orders=2, units=3, buyers=1, viewers=4, peak=6), 9, [1, 1], 2)
    assert view["peak"] == 9 and view["online"] == 9 and view["conversion"] == 0.25
    assert view["orders_per_minute"] == [1, 1] and view["reservations"] == 2


def test_a_breakdown_names_each_entry_and_keeps_unknown_ids() -> None:
    assert ranked([("b1", 900), ("gone", 100)], {"b1": "Lotus Tea"}, "brand") == [
        {"brand": "b1", "name": "Lotus Tea", "gmv_cents": 900},
        {"brand": "gone", "name": "gone", "gmv_cents": 100},
    ]


def test_a_venue_lists_its_running_sales_by_start_and_only_its_latest_ended_ones() -> None:
    ended = [sale(f"e{i}", "ended", starts=i, ends=100 + i) for i in range(8)]
    running = [sale("later", "scheduled", starts=900), sale("now", "open", starts=50)]
    shown = [s.sale_id for s in shown_sales([*ended, *running])]
    assert shown == ["now", "later", "e7", "e6", "e5", "e4", "e3"]
