"""Live numbers on a real Redis: each order counted once per scope, viewers and peaks, minute buckets."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from livehub.domain.routing import Fulfilment, warehouse_delivery
from livehub.domain.stats import FESTIVAL_SCOPE, MINUTE_MS, Totals, venue_scope
from livehub.store.keys import Keys
from livehub.store.orders import Order
from livehub.store.scripts import Scripts
from livehub.store.stats import StatsStore

T0 = 1_800_000_000_000 - 1_800_000_000_000 % MINUTE_MS  # a minute's start


def order(n: int, venue: str = "b1", user: str = "u1", amount: int = 1_000, store: str | None = "b1-s1",
          at_ms: int = T0, qty: int = 1) -> Order:  # fmt: skip
    fulfilment = Fulfilment("pickup", store, 1.0) if store else warehouse_delivery(None)
    return Order(
        order_id=f"s1:o{n:032x}", reservation_id=f"s1:r{n}", sale_id="s1", venue=venue, brand="b1", sku="b1-sku1",
        user_id=user, qty=qty, unit_price_cents=amount, subtotal_cents=amount, discount_cents=0, amount_cents=amount,
        coupon_id=None, fulfilment=fulfilment, guide_id=None, guide_store=None, payment_ref=f"p{n}",
        created_at_ms=at_ms,
    )  # fmt: skip


@pytest.fixture
def stats(redis: aioredis.Redis, keys: Keys) -> StatsStore:
    return StatsStore(redis, keys, Scripts(redis), ttl_s=3_600, minutes_kept=30)


async def test_an_order_counts_in_its_venue_and_the_festival_once_however_often_it_is_counted(
    stats: StatsStore,
) -> None:
    first = order(1, qty=2, amount=2_500)
    assert await stats.count(first) == 2
    assert await stats.count(first) == 0  # a redelivery: nothing counted again
    venue, festival = await stats.totals([venue_scope("b1"), FESTIVAL_SCOPE])
    assert venue == festival == Totals(gmv_cents=2_500, orders=1, units=2, buyers=1, viewers=0, peak=0)


async def test_totals_add_up_orders_of_several_venues_in_the_festival(stats: StatsStore) -> None:
    await stats.count(order(1, venue="b1", user="u1", amount=100))
    await stats.count(order(2, venue="b2", user="u2", amount=200))
    await stats.count(order(3, venue="b2", user="u1", amount=300))
    b1, b2, festival = await stats.totals([venue_scope("b1"), venue_scope("b2"), FESTIVAL_SCOPE])
    assert (b1.gmv_cents, b1.orders, b1.buyers) == (100, 1, 1)
    assert (b2.gmv_cents, b2.orders, b2.buyers) == (500, 2, 2)
    assert (festival.gmv_cents, festival.orders, festival.buyers) == (600, 3, 2)  # u1 bought in both venues


async def test_orders_fall_in_the_minute_they_were_paid_and_an_empty_minute_reads_zero(stats: StatsStore) -> None:
    await stats.count(order(1, at_ms=T0 + 5))
    await stats.count(order(2, at_ms=T0 + MINUTE_MS - 1))
    await stats.count(order(3, at_ms=T0 + 2 * MINUTE_MS))
    minutes = [T0 - MINUTE_MS, T0, T0 + MINUTE_MS, T0 + 2 * MINUTE_MS]
    assert await stats.per_minute(FESTIVAL_SCOPE, minutes) == [0, 2, 0, 1]


async def test_a_minute_bucket_expires_after_the_minutes_kept_and_the_once_marker_expires_too(
    stats: StatsStore, redis: aioredis.Redis, keys: Keys
) -> None:
    await stats.count(order(1))
    ttl = await redis.ttl(keys.stats_minute(FESTIVAL_SCOPE, T0))
    assert 0 < ttl <= 30 * 60  # minutes_kept = 30
    assert 30 * 60 < await redis.ttl(keys.stats_totals(FESTIVAL_SCOPE)) <= 3_600  # ttl_s
    assert 30 * 60 < await redis.ttl(keys.stats_counted(FESTIVAL_SCOPE, order(1).order_id)) <= 3_600


async def test_brands_and_stores_are_ranked_by_gmv_and_a_delivery_counts_for_no_store(stats: StatsStore) -> None:
    await stats.count(order(1, store="b1-s1", amount=100))
    await stats.count(order(2, store="b1-s2", amount=900))
    await stats.count(order(3, store=None, amount=5_000))
    brands, stores = await stats.ranked(venue_scope("b1"))
    assert brands == [("b1", 6_000)]
    assert stores == [("b1-s2", 900), ("b1-s1", 100)]


async def test_viewers_are_unique_per_scope(stats: StatsStore) -> None:
    await stats.add_viewers({venue_scope("b1"): ["u1", "u2"], FESTIVAL_SCOPE: ["u1", "u2"]})
    await stats.add_viewers({venue_scope("b1"): ["u2", "u3"], FESTIVAL_SCOPE: ["u2", "u3"]})
    b1, festival = await stats.totals([venue_scope("b1"), FESTIVAL_SCOPE])
    assert b1.viewers == festival.viewers == 3


async def test_the_peak_only_rises(stats: StatsStore) -> None:
    await stats.raise_peaks({venue_scope("b1"): 5})
    await stats.raise_peaks({venue_scope("b1"): 3})
    assert (await stats.totals([venue_scope("b1")]))[0].peak == 5
    await stats.raise_peaks({venue_scope("b1"): 8})
    assert (await stats.totals([venue_scope("b1")]))[0].peak == 8


async def test_online_sums_the_fresh_reports_of_every_node(
    stats: StatsStore, redis: aioredis.Redis, keys: Keys
) -> None:
    await redis.hset(keys.online("b1"), mapping={"n1": f"3:{T0}", "n2": f"4:{T0 + 10}", "dead": f"50:{T0 - 99_000}"})
    assert await stats.online(["b1", "b2"], stale_before_ms=T0 - 3_000) == [7, 0]


async def test_the_first_sell_out_time_is_kept(stats: StatsStore) -> None:
    await stats.mark_sold_out(["s1"], T0)
    await stats.mark_sold_out(["s1", "s2"], T0 + 5_000)
    assert await stats.sold_out_at(["s1", "s2", "s3"]) == [T0, T0 + 5_000, None]
