"""A store's storefront over real Redis stores (livehub.services.storefront): the hand-over's answers as
errors with their codes, the pickups waiting oldest first, stock with units held for unpaid buys."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from livehub import errors
from livehub.domain.sale_rules import BuyRequest, SaleSpec
from livehub.errors import LivehubError
from livehub.services.storefront import Storefront
from livehub.store.keys import Keys
from livehub.store.orders import OrderStore
from livehub.store.pickups import Pickups
from livehub.store.store_stock import StoreStock
from tests.services.conftest import Stores

T0 = 1_700_000_000_000


@pytest.fixture
async def front(redis: aioredis.Redis, keys: Keys, stores: Stores) -> Storefront:
    await stores.stores.load()
    await stores.sales.create(SaleSpec("s1", "b1", "b1", "b1-sku1", 10, 900, 1, T0, T0 + 600_000, 300))
    pickups = Pickups(redis, keys, stores.scripts, misses=2)
    return Storefront(stores.festival, OrderStore(redis, keys, scripts=stores.scripts, pickups=pickups), pickups,
                      StoreStock(redis, keys, stores.scripts), max_delta=100)  # fmt: skip


async def buy(stores: Stores, user: str, at: int, pay: bool = True) -> str:
    result = await stores.sales.buy("s1", user, BuyRequest("q", 1, None, "b1-s1"), now_ms=T0 + at)
    assert result.reservation is not None
    if pay:
        paid = await stores.sales.pay(result.reservation.reservation_id, "p", now_ms=T0 + at + 1)
        assert paid.order is not None
        return paid.order.order_id
    return result.reservation.reservation_id


async def code_of(front: Storefront, order_id: str) -> str:
    (pickup,) = await front.pickups.of_orders([("b1-s1", order_id)])
    assert pickup is not None
    return pickup.code


async def test_a_hand_over_answers_picked_up_then_already_picked_up_with_when_and_by_whom(
    front: Storefront, stores: Stores
) -> None:
    order_id = await buy(stores, "u1", 0)
    store = stores.festival.stores["b1-s1"]
    code = await code_of(front, order_id)

    done = await front.verify(store, code, "clerk-1")
    with pytest.raises(LivehubError) as again:
        await front.verify(store, code, "clerk-2")

    assert (done["status"], done["order"], done["user"], done["title"]) == (
        "picked_up", order_id, "u1", "Longjing green tea 250g")  # fmt: skip
    assert (again.value.code, again.value.http_status) == (errors.ALREADY_PICKED_UP, 409)
    assert again.value.details == {"order": order_id, "picked_up_at_ms": done["picked_up_at_ms"],
                                   "picked_up_by": "clerk-1"}  # fmt: skip


async def test_wrong_codes_are_not_found_until_the_store_is_rate_limited(front: Storefront, stores: Stores) -> None:
    store = stores.festival.stores["b1-s1"]
    for _ in range(2):
        with pytest.raises(LivehubError) as wrong:
            await front.verify(store, "ZZZZ9999", "guesser")
        assert wrong.value.code == errors.NOT_FOUND
    with pytest.raises(LivehubError) as limited:
        await front.verify(store, "ZZZZ9999", "guesser")

    assert limited.value.code == errors.RATE_LIMITED and (limited.value.retry_after_ms or 0) > 0


async def test_pickups_waiting_come_oldest_first_and_handed_over_ones_apart(front: Storefront, stores: Stores) -> None:
    first, second, third = [await buy(stores, f"u{i}", i * 10) for i in range(3)]
    store = stores.festival.stores["b1-s1"]
    await front.verify(store, await code_of(front, second), "clerk-1")

    view = await front.pickups_view(store, 50)

    assert [r["order"] for r in view["waiting"]] == [first, third]
    assert [(r["order"], r["picked_up_by"]) for r in view["picked_up"]] == [(second, "clerk-1")]


async def test_stock_shows_units_on_hand_and_held_for_unpaid_buys_and_adjusts_within_bounds(
    front: Storefront, stores: Stores
) -> None:
    store = stores.festival.stores["b1-s1"]
    await buy(stores, "u1", 0, pay=False)  # one unit held for a reservation not paid yet

    rows = {r["sku"]: r for r in (await front.stock_view(store))["stock"]}
    assert (rows["b1-sku1"]["units"], rows["b1-sku1"]["held"]) == (19, 1)  # 20 at festival start
    assert (rows["b1-sku2"]["units"], rows["b1-sku2"]["held"]) == (30, 0)

    assert (await front.adjust(store, "b1-sku2", -30, "a1", "clerk-1"))["units"] == 0
    for delta in (-1, 101):
        with pytest.raises(LivehubError) as refused:
            await front.adjust(store, "b1-sku2", delta, f"a-{delta}", "clerk-1")
        assert refused.value.details["field"] == "delta"
    audit = await front.stock.audit("b1-s1")
    assert [(e.fields["sku"], e.fields["delta"], e.fields["who"]) for e in audit] == [("b1-sku2", "-30", "clerk-1")]
