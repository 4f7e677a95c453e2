"""A guide's customers' open reservations, read from the sales' keys on a real Redis: only the
guide's, only unpaid ones, soonest deadline first, and bounded (``truncated`` past the bounds)."""

from __future__ import annotations

import redis.asyncio as aioredis

from livehub.domain.attribution import GuideCredit
from livehub.domain.sale_rules import BuyRequest, SaleSpec
from livehub.store.guide_customers import GuideCustomers
from livehub.store.keys import Keys
from livehub.store.sales import SaleStore
from livehub.store.scripts import Scripts

T0 = 1_700_000_000_000
ANN = GuideCredit("ann", "st-1")
BO = GuideCredit("bo", "st-2")


async def sales_with_buys(redis: aioredis.Redis, keys: Keys) -> SaleStore:
    sales = SaleStore(redis, keys, Scripts(redis))
    for sale_id in ("s1", "s2"):
        await sales.create(SaleSpec(sale_id, "v1", "b1", "k1", 10, 1_000, 5, T0, T0 + 600_000, 60))
    await sales.buy("s1", "u1", BuyRequest("a"), guide=ANN, now_ms=T0 + 3)
    await sales.buy("s1", "u2", BuyRequest("b"), guide=BO, now_ms=T0 + 1)
    await sales.buy("s1", "u3", BuyRequest("c"), now_ms=T0 + 2)
    await sales.buy("s2", "u4", BuyRequest("d", 2), guide=ANN, now_ms=T0 + 1)
    paid = await sales.buy("s2", "u5", BuyRequest("e"), guide=ANN, now_ms=T0 + 1)
    assert paid.reservation is not None
    await sales.pay(paid.reservation.reservation_id, now_ms=T0 + 10)
    return sales


async def test_only_the_guides_unpaid_reservations_are_listed_soonest_deadline_first(
    redis: aioredis.Redis, keys: Keys
) -> None:
    await sales_with_buys(redis, keys)
    found = await GuideCustomers(redis, keys).open_reservations("ann", ["s1", "s2"], scan_max=100, limit=10)
    assert [(r.sale_id, r.user_id, r.qty) for r in found.reservations] == [("s1", "u1", 1), ("s2", "u4", 2)]
    assert not found.truncated
    assert (await GuideCustomers(redis, keys).open_reservations("cy", ["s1", "s2"], 100, 10)).reservations == []


async def test_past_the_scan_or_the_list_bound_the_answer_says_truncated(redis: aioredis.Redis, keys: Keys) -> None:
    await sales_with_buys(redis, keys)
    customers = GuideCustomers(redis, keys)
    scanned = await customers.open_reservations("ann", ["s1", "s2"], scan_max=2, limit=10)  # s1's two soonest
    assert [r.user_id for r in scanned.reservations] == [] and scanned.truncated
    listed = await customers.open_reservations("ann", ["s1", "s2"], scan_max=100, limit=1)
    assert [r.user_id for r in listed.reservations] == ["u1"] and listed.truncated
