"""Nearest-store routing on a real Redis, on a hand-checked fixture.

The buyer stands at ORIGIN.  Every store lies due north of it, so its distance
is exactly ``km`` (a degree of latitude is 111.2263 km on Redis's sphere):

======  ======  ======  =====  ===========================================
store   km      radius  units  why it is there
======  ======  ======  =====  ===========================================
near    1.0     3.0     1      the nearest store, one unit
small   2.0     1.5     5      nearer than "mid", but the buyer is outside its radius
mid     2.5     3.0     5      the next store within its radius
edge-in 2.95    3.0     5      just inside its radius
edge-out 3.05   3.0     5      just outside its radius (found by the 5 km step)
far     4.0     5.0     5      only the second (5 km) step finds it
other   0.5     3.0     5      another brand's store: never used
======  ======  ======  =====  ===========================================

The brand's warehouse is 50 km north.
"""

from __future__ import annotations

import dataclasses

import pytest
import redis.asyncio as aioredis

from livehub.domain.routing import Fulfilment
from livehub.domain.sale_rules import BuyCode, BuyRequest, Location, SaleSpec
from livehub.domain.topology import Brand, Festival, Store, Warehouse
from livehub.store.keys import Keys
from livehub.store.orders import OrderStore
from livehub.store.sales import PayCode, SaleStore
from livehub.store.scripts import Scripts
from livehub.store.stores import StoreIndex, take_units

ORIGIN = Location(31.2304, 121.4737)
KM_PER_DEG = 111.2263
T0 = 1_700_000_000_000


def north(km: float) -> tuple[float, float]:
    return ORIGIN.lat + km / KM_PER_DEG, ORIGIN.lon


def store(store_id: str, km: float, radius: float, units: int, brand: str = "b1") -> Store:
    lat, lon = north(km)
    return Store(store_id, brand, store_id, lat, lon, radius, {"sku1": units})


ALL = {
    "near": store("near", 1.0, 3.0, 1),
    "small": store("small", 2.0, 1.5, 5),
    "mid": store("mid", 2.5, 3.0, 5),
    "edge-in": store("edge-in", 2.95, 3.0, 5),
    "edge-out": store("edge-out", 3.05, 3.0, 5),
    "far": store("far", 4.0, 5.0, 5),
    "other": store("other", 0.5, 3.0, 5, brand="b2"),
}


def festival(*store_ids: str) -> Festival:
    stores = {i: ALL[i] for i in store_ids}
    wh = Warehouse(*north(50.0))
    brands = {
        b: Brand(b, b, f"v-{b}", wh, ("sku1",), tuple(s for s in store_ids if ALL[s].brand == b)) for b in ("b1", "b2")
    }
    return Festival("f", "f", "main", {}, {}, brands, {}, stores, {}, pickup_search_km=(3.0, 5.0))


async def index(redis: aioredis.Redis, keys: Keys, *store_ids: str) -> StoreIndex:
    idx = StoreIndex(redis, keys, Scripts(redis), festival(*store_ids))
    assert await idx.load() == len(store_ids)
    return idx


@dataclasses.dataclass
class Shop:
    """A brand's stores, orders and one open sale ("s1": 10 x sku1 at 10.00, limit 5) on one Redis."""

    index: StoreIndex
    orders: OrderStore
    sales: SaleStore


async def shop(redis: aioredis.Redis, keys: Keys, *store_ids: str) -> Shop:
    scripts = Scripts(redis)
    idx = await index(redis, keys, *store_ids)
    orders = OrderStore(redis, keys)
    sales = SaleStore(redis, keys, scripts, stores=idx, orders=orders)
    await sales.create(SaleSpec("s1", "v-b1", "b1", "sku1", 10, 1_000, 5, T0, T0 + 600_000, 60))
    return Shop(idx, orders, sales)


async def test_the_nearest_store_within_its_radius_with_stock_is_taken(redis: aioredis.Redis, keys: Keys) -> None:
    idx = await index(redis, keys, "near", "small", "mid", "far", "other")
    first = await idx.route("b1", "sku1", 1, ORIGIN, "h1")
    assert (first.mode, first.store_id) == ("pickup", "near")
    assert first.distance_km == pytest.approx(1.0, abs=0.005) and not first.fallback
    assert await idx.stock_of("near", "sku1") == 0 and "h1" in await idx.holds_of("near")
    # "near" is out of stock now; "small" is nearer than "mid" but the buyer is outside its 1.5 km radius
    second = await idx.route("b1", "sku1", 1, ORIGIN, "h2")
    assert second.store_id == "mid" and second.distance_km == pytest.approx(2.5, abs=0.005)
    assert await idx.stock_of("small", "sku1") == 5 and await idx.stock_of("other", "sku1") == 5


async def test_taking_is_idempotent_per_hold(redis: aioredis.Redis, keys: Keys) -> None:
    idx = await index(redis, keys, "mid")
    assert (await idx.route("b1", "sku1", 2, ORIGIN, "h1")).store_id == "mid"
    assert (await idx.route("b1", "sku1", 2, ORIGIN, "h1")).store_id == "mid"
    assert await idx.stock_of("mid", "sku1") == 3


async def test_a_store_takes_only_a_whole_quantity(redis: aioredis.Redis, keys: Keys) -> None:
    idx = await index(redis, keys, "near", "mid")
    routed = await idx.route("b1", "sku1", 2, ORIGIN, "h1")  # "near" has one unit only
    assert routed.store_id == "mid" and await idx.stock_of("near", "sku1") == 1


async def test_radius_edges_decide_whether_pickup_is_offered(redis: aioredis.Redis, keys: Keys) -> None:
    inside = await index(redis, keys, "edge-in")
    routed = await inside.route("b1", "sku1", 1, ORIGIN, "h1")
    assert routed.store_id == "edge-in" and routed.distance_km == pytest.approx(2.95, abs=0.005)


async def test_a_store_just_beyond_its_radius_is_not_offered_even_in_the_wider_step(
    redis: aioredis.Redis, keys: Keys
) -> None:
    outside = await index(redis, keys, "edge-out")
    routed = await outside.route("b1", "sku1", 1, ORIGIN, "h1")
    assert routed == Fulfilment("delivery", None, pytest.approx(50.0, abs=0.01))  # type: ignore[arg-type]
    assert await outside.stock_of("edge-out", "sku1") == 5


async def test_the_search_steps_outward_to_find_a_store_with_a_wide_radius(redis: aioredis.Redis, keys: Keys) -> None:
    idx = await index(redis, keys, "far", "small")
    routed = await idx.route("b1", "sku1", 1, ORIGIN, "h1")
    assert routed.store_id == "far" and routed.distance_km == pytest.approx(4.0, abs=0.005)


async def test_no_store_with_stock_means_delivery_from_the_brand_warehouse(redis: aioredis.Redis, keys: Keys) -> None:
    idx = await index(redis, keys, "near", "other")
    assert (await idx.route("b1", "sku1", 1, ORIGIN, "h1")).store_id == "near"
    routed = await idx.route("b1", "sku1", 1, ORIGIN, "h2")
    assert routed.mode == "delivery" and routed.warehouse
    assert routed.distance_km == pytest.approx(50.0, abs=0.01)


async def test_without_a_location_the_warehouse_delivers(redis: aioredis.Redis, keys: Keys) -> None:
    idx = await index(redis, keys, "near")
    assert await idx.route("b1", "sku1", 1, None, "h1") == Fulfilment("delivery", None, None)


async def test_a_buyer_who_chose_a_pickup_store_gets_that_store(redis: aioredis.Redis, keys: Keys) -> None:
    idx = await index(redis, keys, "near", "mid")
    routed = await idx.route("b1", "sku1", 1, ORIGIN, "h1", pickup_store="mid")
    assert (routed.store_id, routed.fallback) == ("mid", False)
    assert routed.distance_km == pytest.approx(2.5, abs=0.005)
    no_location = await idx.route("b1", "sku1", 1, None, "h2", pickup_store="mid")
    assert no_location == Fulfilment("pickup", "mid", None)


async def test_a_chosen_store_that_cannot_serve_falls_back_and_says_so(redis: aioredis.Redis, keys: Keys) -> None:
    idx = await index(redis, keys, "near", "small", "mid")
    # out of the chosen store's radius: routed to the nearest store instead
    beyond = await idx.route("b1", "sku1", 1, ORIGIN, "h1", pickup_store="small")
    assert (beyond.store_id, beyond.fallback) == ("near", True)
    assert await idx.stock_of("small", "sku1") == 5
    # the chosen store is out of stock ("near" was just emptied): next store, fallback
    empty = await idx.route("b1", "sku1", 1, ORIGIN, "h2", pickup_store="near")
    assert (empty.store_id, empty.fallback) == ("mid", True)


async def test_a_buy_routes_its_order_and_the_store_lists_it_once_paid(redis: aioredis.Redis, keys: Keys) -> None:
    s = await shop(redis, keys, "near", "mid", "other")
    idx, orders, sales = s.index, s.orders, s.sales
    buy = await sales.buy("s1", "u1", dataclasses.replace(BuyRequest("r1"), location=ORIGIN), now_ms=T0)
    assert buy.code is BuyCode.OK and buy.fulfilment is not None
    assert (buy.fulfilment.mode, buy.fulfilment.store_id) == ("pickup", "near")
    retry = await sales.buy("s1", "u1", dataclasses.replace(BuyRequest("r1"), location=ORIGIN), now_ms=T0)
    assert retry.code is BuyCode.DUPLICATE and retry.fulfilment == buy.fulfilment
    assert await idx.stock_of("near", "sku1") == 0
    assert buy.reservation is not None
    paid = await sales.pay(buy.reservation.reservation_id, now_ms=T0 + 1)
    assert paid.code is PayCode.PAID and paid.order is not None
    assert paid.order.fulfilment == buy.fulfilment
    assert await idx.holds_of("near") == {}  # the hold is committed: the unit stays sold
    assert await idx.stock_of("near", "sku1") == 0
    assert [o.order_id for o in await orders.orders_of_store("near")] == [paid.order.order_id]
    assert await orders.orders_of_store("mid") == []


async def test_an_expired_reservation_gives_its_store_unit_back_once(redis: aioredis.Redis, keys: Keys) -> None:
    s = await shop(redis, keys, "mid")
    idx, sales = s.index, [s.sales, SaleStore(redis, keys, Scripts(redis), stores=s.index)]  # two sweepers
    buy = await sales[0].buy("s1", "u1", BuyRequest("r1", 2, ORIGIN), now_ms=T0)
    assert buy.fulfilment is not None and buy.fulfilment.store_id == "mid"
    assert await idx.stock_of("mid", "sku1") == 3
    later = T0 + 61_000
    assert sum([await s.expire_due("s1", now_ms=later) for s in sales]) == 1
    assert await idx.stock_of("mid", "sku1") == 5 and await idx.holds_of("mid") == {}
    assert await sales[1].outbox.relay("s1", older_than_ms=0, now_ms=later) == 0


async def test_a_chosen_store_of_another_brand_is_a_bad_request_before_any_stock_is_taken(
    redis: aioredis.Redis, keys: Keys
) -> None:
    sales = (await shop(redis, keys, "near", "other")).sales
    for chosen in ("other", "nowhere"):
        result = await sales.buy("s1", "u1", BuyRequest("r1", 1, ORIGIN, chosen), now_ms=T0)
        assert (result.code, result.detail) == (BuyCode.BAD_REQUEST, "pickup_store")
    state = await sales.get_state("s1")
    assert state is not None and state.available == 10


async def test_a_store_lists_its_orders_newest_first(redis: aioredis.Redis, keys: Keys) -> None:
    s = await shop(redis, keys, "mid")
    orders, sales = s.orders, s.sales
    paid = []
    for i in range(3):
        res = (await sales.buy("s1", f"u{i}", BuyRequest("r", 1, ORIGIN), now_ms=T0 + i)).reservation
        assert res is not None
        paid.append((await sales.pay(res.reservation_id, now_ms=T0 + 100 + i)).order)
    listed = await orders.orders_of_store("mid", limit=2)
    assert listed == [paid[2], paid[1]]
    assert all(o.fulfilment.mode == "pickup" and o.store_id == "mid" for o in listed)
    assert await orders.orders_of_store("near") == []


async def test_stale_store_holds_no_reservation_explains_are_released_and_live_ones_kept(
    redis: aioredis.Redis, keys: Keys
) -> None:
    s = await shop(redis, keys, "near", "mid")
    idx, sales = s.index, s.sales
    routed = await sales.buy("s1", "u1", BuyRequest("r1", 1, ORIGIN), now_ms=T0)
    assert routed.reservation is not None and routed.fulfilment is not None
    assert routed.fulfilment.store_id == "near"
    rid = routed.reservation.reservation_id
    # a concurrent routing of the same buy took "mid" and its node died before giving it back
    assert await take_units(Scripts(redis), keys, "mid", "sku1", 1, rid, now_ms=T0)
    assert await idx.stock_of("mid", "sku1") == 4
    assert await sales.outbox.reconcile_store_holds("mid", now_ms=T0 + 1_000) == 0  # too fresh to judge
    assert await sales.outbox.reconcile_store_holds("mid", now_ms=T0 + 61_000) == 1
    assert await idx.stock_of("mid", "sku1") == 5
    assert await sales.outbox.reconcile_store_holds("near", now_ms=T0 + 61_000) == 0  # its reservation is live
    paid = await sales.pay(rid, now_ms=T0 + 2_000)
    assert paid.code is PayCode.PAID and await idx.holds_of("near") == {}
    assert await idx.stock_of("near", "sku1") == 0


async def _flush_prefix(redis: aioredis.Redis, keys: Keys) -> None:
    """What an empty Redis restart does to this festival's keys."""
    found = [k async for k in redis.scan_iter(match=f"{keys.prefix}:*")]
    if found:
        await redis.delete(*found)


async def test_stores_lost_by_an_empty_redis_restart_are_indexed_again_and_route_to_a_store(
    redis: aioredis.Redis, keys: Keys
) -> None:
    idx = StoreIndex(redis, keys, Scripts(redis), festival("near", "other"))
    assert await idx.load_once("n1") == 2
    assert await idx.ensure_loaded("n1") is None  # indexed: nothing to do

    await _flush_prefix(redis, keys)
    assert (await idx.route("b1", "sku1", 1, ORIGIN, "h0")).mode == "delivery"  # what every buy became

    assert await idx.ensure_loaded("n2") == 2
    assert await idx.ensure_loaded("n1") is None
    assert (await idx.route("b1", "sku1", 1, ORIGIN, "h1")).store_id == "near"


async def test_a_marker_left_without_its_index_is_indexed_again(redis: aioredis.Redis, keys: Keys) -> None:
    idx = StoreIndex(redis, keys, Scripts(redis), festival("near"))
    await idx.load_once("n1")
    await redis.delete(keys.brand_stores("b1"))

    assert await idx.ensure_loaded("n1") == 1
    assert (await idx.route("b1", "sku1", 1, ORIGIN, "h1")).store_id == "near"
