"""Coupon drops on a real Redis: grab limits, and a coupon applied to a later buy."""

from __future__ import annotations

import asyncio
import collections
import dataclasses

import pytest
import redis.asyncio as aioredis

from livehub.domain.sale_rules import BuyCode, BuyRequest, SaleSpec, reservation_id
from livehub.store.coupons import CouponCode, CouponSpec, CouponSpecError, CouponStore
from livehub.store.keys import Keys
from livehub.store.sales import PayCode, SaleStore
from livehub.store.scripts import Scripts

T0 = 1_700_000_000_000
DROP = CouponSpec(
    coupon_id="c1",
    venue="v1",
    issuer="guide-7",
    value_cents=300,
    min_spend_cents=1_000,
    per_user_limit=2,
    total=5,
    expires_at_ms=T0 + 3_600_000,
    brand="b1",
)


@pytest.fixture
def coupons(redis: aioredis.Redis, keys: Keys) -> CouponStore:
    return CouponStore(redis, keys, Scripts(redis))


@pytest.fixture
async def sales(redis: aioredis.Redis, keys: Keys, coupons: CouponStore) -> SaleStore:
    store = SaleStore(redis, keys, Scripts(redis), coupons=coupons)
    await store.create(SaleSpec("s1", "v1", "b1", "sku1", 10, 800, 3, T0, T0 + 600_000, 60))
    return store


def test_a_drop_spec_names_its_bad_field() -> None:
    for field, value in [("value_cents", 0), ("min_spend_cents", -1), ("per_user_limit", 101), ("total", 0)]:
        with pytest.raises(CouponSpecError) as info:
            dataclasses.replace(DROP, **{field: value})
        assert info.value.field == field
    with pytest.raises(CouponSpecError):
        dataclasses.replace(DROP, brand="no brand")
    assert CouponSpec.from_fields(DROP.to_fields()) == DROP


async def test_a_drop_is_created_once_and_listed_in_its_venue(coupons: CouponStore) -> None:
    assert await coupons.drop(DROP)
    assert not await coupons.drop(dataclasses.replace(DROP, total=99))
    assert await coupons.get("c1") == DROP and await coupons.left("c1") == 5
    assert await coupons.coupons_of_venue("v1") == ["c1"]
    assert (await coupons.grab("nope", "u1", T0)).code is CouponCode.NOT_FOUND


async def test_grabbing_holds_the_per_user_limit_and_the_total(coupons: CouponStore) -> None:
    await coupons.drop(DROP)
    first = await coupons.grab("c1", "u1", T0)
    assert (first.code, first.left, first.grabbed, first.unused) == (CouponCode.OK, 4, 1, 1)
    assert (await coupons.grab("c1", "u1", T0)).code is CouponCode.OK
    assert (await coupons.grab("c1", "u1", T0)).code is CouponCode.LIMIT_REACHED
    assert [(await coupons.grab("c1", u, T0)).code for u in ("u2", "u3", "u4", "u5")] == [
        CouponCode.OK,
        CouponCode.OK,
        CouponCode.OK,
        CouponCode.SOLD_OUT,
    ]
    assert await coupons.left("c1") == 0


async def test_an_expired_drop_cannot_be_grabbed(coupons: CouponStore) -> None:
    await coupons.drop(DROP)
    assert (await coupons.grab("c1", "u1", DROP.expires_at_ms)).code is CouponCode.EXPIRED


async def test_many_concurrent_grabs_never_exceed_the_total_or_a_users_limit(
    coupons: CouponStore, redis_url: str, keys: Keys
) -> None:
    await coupons.drop(dataclasses.replace(DROP, total=50))
    clients = [
        aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=8))
        for _ in range(3)
    ]
    try:
        stores = [CouponStore(c, keys, Scripts(c)) for c in clients]
        results = await asyncio.gather(
            *(stores[i % 3].grab("c1", f"u{i % 40}", T0) for i in range(400))  # 40 users, 10 tries each
        )
    finally:
        for c in clients:
            await c.aclose()
    codes = collections.Counter(r.code for r in results)
    assert codes[CouponCode.OK] == 50 and await coupons.left("c1") == 0
    per_user = collections.Counter(f"u{i % 40}" for i, r in enumerate(results) if r.code is CouponCode.OK)
    assert max(per_user.values()) <= 2


async def test_a_grabbed_coupon_lowers_a_later_buy_and_is_used_once_paid(
    coupons: CouponStore, sales: SaleStore
) -> None:
    await coupons.drop(DROP)
    await coupons.grab("c1", "u1", T0)
    buy = await sales.buy("s1", "u1", BuyRequest("r1", 2, coupon_id="c1"), now_ms=T0)
    assert buy.code is BuyCode.OK and buy.reservation is not None
    res = buy.reservation
    assert (res.subtotal_cents, res.discount_cents, res.amount_cents, res.coupon_id) == (1_600, 300, 1_300, "c1")
    assert await coupons.unused("c1", "u1") == 0
    assert await coupons.use_state("c1", res.reservation_id) == "locked"
    # the same coupon cannot go into a second buy
    second = await sales.buy("s1", "u1", BuyRequest("r2", 1, coupon_id="c1"), now_ms=T0)
    assert (second.code, second.detail) == (BuyCode.COUPON_INVALID, "not_owned")
    paid = await sales.pay(res.reservation_id, now_ms=T0 + 1)
    assert paid.code is PayCode.PAID and paid.order is not None and paid.order.amount_cents == 1_300
    assert await coupons.use_state("c1", res.reservation_id) == "used"
    retry = await sales.buy("s1", "u1", BuyRequest("r1", 2, coupon_id="c1"), now_ms=T0 + 2)
    assert retry.code is BuyCode.DUPLICATE and retry.reservation is not None
    assert retry.reservation.amount_cents == 1_300


async def test_a_buy_that_fails_gives_the_coupon_back(coupons: CouponStore, sales: SaleStore) -> None:
    await coupons.drop(DROP)
    await coupons.grab("c1", "u1", T0)
    below = await sales.buy("s1", "u1", BuyRequest("r1", 1, coupon_id="c1"), now_ms=T0)  # 800 < 1,000 minimum
    assert below.code is BuyCode.COUPON_INVALID
    assert await coupons.unused("c1", "u1") == 1
    late = await sales.buy("s1", "u1", BuyRequest("r2", 2, coupon_id="c1"), now_ms=T0 + 600_000)
    assert late.code is BuyCode.ENDED and await coupons.unused("c1", "u1") == 1
    state = await sales.get_state("s1")
    assert state is not None and state.available == 10


async def test_an_expired_reservation_gives_the_coupon_back(coupons: CouponStore, sales: SaleStore) -> None:
    await coupons.drop(DROP)
    await coupons.grab("c1", "u1", T0)
    buy = await sales.buy("s1", "u1", BuyRequest("r1", 2, coupon_id="c1"), now_ms=T0)
    assert buy.reservation is not None
    assert await sales.expire_due("s1", now_ms=T0 + 61_000) == 1
    assert await coupons.unused("c1", "u1") == 1
    assert await coupons.use_state("c1", buy.reservation.reservation_id) == "released"
    # retrying the expired buy answers its first answer and leaves the coupon in the wallet
    retry = await sales.buy("s1", "u1", BuyRequest("r1", 2, coupon_id="c1"), now_ms=T0 + 62_000)
    assert retry.code is BuyCode.DUPLICATE and await coupons.unused("c1", "u1") == 1
    again = await sales.buy("s1", "u1", BuyRequest("r2", 2, coupon_id="c1"), now_ms=T0 + 62_000)
    assert again.code is BuyCode.OK and await coupons.unused("c1", "u1") == 0


async def test_coupons_keep_their_rules_brand_expiry_and_owner(coupons: CouponStore, sales: SaleStore) -> None:
    await coupons.drop(dataclasses.replace(DROP, brand="b2"))
    await coupons.drop(dataclasses.replace(DROP, coupon_id="c2", brand=None, expires_at_ms=T0 + 10))
    await coupons.grab("c1", "u1", T0)
    await coupons.grab("c2", "u1", T0)
    wrong = await sales.buy("s1", "u1", BuyRequest("r1", 2, coupon_id="c1"), now_ms=T0)
    assert (wrong.code, wrong.detail) == (BuyCode.COUPON_INVALID, "wrong_brand")
    stale = await sales.buy("s1", "u1", BuyRequest("r2", 2, coupon_id="c2"), now_ms=T0 + 10)
    assert (stale.code, stale.detail) == (BuyCode.COUPON_INVALID, "expired")
    stranger = await sales.buy("s1", "u2", BuyRequest("r3", 2, coupon_id="c2"), now_ms=T0)
    assert (stranger.code, stranger.detail) == (BuyCode.COUPON_INVALID, "not_owned")
    missing = await sales.buy("s1", "u1", BuyRequest("r4", 2, coupon_id="c9"), now_ms=T0)
    assert (missing.code, missing.detail) == (BuyCode.COUPON_INVALID, "not_found")
    assert await coupons.unused("c1", "u1") == 1 and await coupons.unused("c2", "u1") == 1


async def test_one_coupon_used_by_many_concurrent_buys_discounts_exactly_one(
    coupons: CouponStore, sales: SaleStore
) -> None:
    await coupons.drop(DROP)
    await coupons.grab("c1", "u1", T0)
    results = await asyncio.gather(
        *(sales.buy("s1", "u1", BuyRequest(f"r{i}", 2, coupon_id="c1"), now_ms=T0) for i in range(20))
    )
    codes = collections.Counter(r.code for r in results)
    assert codes == {BuyCode.OK: 1, BuyCode.COUPON_INVALID: 19}
    assert await coupons.unused("c1", "u1") == 0


async def test_a_lock_left_by_a_node_that_died_before_buying_is_released(
    coupons: CouponStore, sales: SaleStore
) -> None:
    await coupons.drop(DROP)
    await coupons.grab("c1", "u1", T0)
    await coupons.grab("c1", "u1", T0)
    live = await sales.buy("s1", "u1", BuyRequest("r1", 2, coupon_id="c1"), now_ms=T0)
    assert live.reservation is not None
    orphan = reservation_id("s1", "u1", "r2")  # locked, then the node died before buy.lua
    assert (await coupons.lock("c1", "u1", orphan, "b1", T0)).code is CouponCode.OK
    assert await coupons.unused("c1", "u1") == 0
    assert await sales.outbox.reconcile_coupon_locks("c1", now_ms=T0 + 1_000) == 0  # too fresh
    assert await sales.outbox.reconcile_coupon_locks("c1", now_ms=T0 + 61_000) == 1
    assert await coupons.unused("c1", "u1") == 1
    assert await coupons.use_state("c1", orphan) == "released"
    assert await coupons.use_state("c1", live.reservation.reservation_id) == "locked"  # still reserved


GUIDE_ONLY = dataclasses.replace(DROP, coupon_id="cg", only_guide="ann")
STORE_ONLY = dataclasses.replace(DROP, coupon_id="cs", only_store="st-1")


def test_an_exclusive_drop_keeps_its_guide_and_store_and_names_a_bad_one() -> None:
    assert CouponSpec.from_fields(GUIDE_ONLY.to_fields()) == GUIDE_ONLY
    assert CouponSpec.from_fields(STORE_ONLY.to_fields()) == STORE_ONLY
    older = {k: v for k, v in DROP.to_fields().items() if k not in ("only_guide", "only_store")}
    assert CouponSpec.from_fields(older) == DROP  # a drop made before exclusive coupons existed: for anyone
    for field in ("only_guide", "only_store"):
        with pytest.raises(CouponSpecError) as info:
            dataclasses.replace(DROP, **{field: "not an id"})
        assert info.value.field == field


async def test_a_guide_only_drop_is_grabbed_by_that_guides_customers_only(coupons: CouponStore) -> None:
    await coupons.drop(GUIDE_ONLY)
    for guide in (None, "bo"):
        refused = await coupons.grab("cg", "stranger", T0, guide=guide)
        assert (refused.code, refused.left, refused.grabbed) == (CouponCode.GUIDE_ONLY, 5, 0)
    assert (await coupons.grab("cg", "anns-fan", T0, guide="ann")).code is CouponCode.OK
    assert await coupons.left("cg") == 4


async def test_a_guide_only_coupon_applies_only_to_a_buy_that_credits_its_guide(
    coupons: CouponStore, sales: SaleStore
) -> None:
    from livehub.domain.attribution import GuideCredit

    await coupons.drop(GUIDE_ONLY)
    await coupons.grab("cg", "fan", T0, guide="ann")
    buy = BuyRequest("r1", 2, coupon_id="cg")
    other = await sales.buy("s1", "fan", buy, guide=GuideCredit("bo", "st-2"), now_ms=T0)
    assert (other.code, other.detail) == (BuyCode.COUPON_INVALID, "guide_only")
    assert (await sales.buy("s1", "fan", buy, now_ms=T0)).detail == "guide_only"  # a buy crediting nobody
    assert await coupons.unused("cg", "fan") == 1  # refused before the wallet was touched
    ok = await sales.buy("s1", "fan", buy, guide=GuideCredit("ann", "st-1"), now_ms=T0)
    assert ok.code is BuyCode.OK and ok.reservation is not None and ok.reservation.discount_cents == 300


async def test_a_store_only_coupon_locks_only_for_a_pickup_at_its_store(coupons: CouponStore) -> None:
    await coupons.drop(STORE_ONLY)
    assert (await coupons.grab("cs", "fan", T0)).code is CouponCode.OK  # anyone may grab it
    assert (await coupons.lock("cs", "fan", "use-1", "b1", T0)).code is CouponCode.STORE_ONLY  # delivery
    assert (await coupons.lock("cs", "fan", "use-1", "b1", T0, pickup_store="st-2")).code is CouponCode.STORE_ONLY
    assert await coupons.unused("cs", "fan") == 1
    assert (await coupons.lock("cs", "fan", "use-1", "b1", T0, pickup_store="st-1")).code is CouponCode.OK
    assert (await coupons.lock("cs", "fan", "use-1", "b1", T0, pickup_store="st-1")).code is CouponCode.HELD
