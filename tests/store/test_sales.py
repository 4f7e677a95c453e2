"""Flash sales on a real Redis: answers, idempotency, limits, expiry, payment, and concurrency."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from livehub.domain.festival import build_festival
from livehub.domain.sale_rules import BuyCode, BuyRequest, SaleSpec, order_id_for
from livehub.store.coupons import CouponSpec, CouponStore
from livehub.store.keys import Keys
from livehub.store.orders import OrderStore
from livehub.store.sales import PayCode, RetireCode, SaleState, SaleStore
from livehub.store.scripts import Scripts

T0 = 1_700_000_000_000  # test clock (unix ms); scripts take it as their "now"
START, END = T0, T0 + 600_000
TTL_S = 60


def spec(sale_id: str = "s1", stock: int = 10, limit: int = 2, **changes: object) -> SaleSpec:
    fields: dict[str, object] = dict(
        sale_id=sale_id,
        venue="v1",
        brand="b1",
        sku="sku1",
        stock=stock,
        price_cents=1_000,
        per_user_limit=limit,
        starts_at_ms=START,
        ends_at_ms=END,
        reservation_ttl_s=TTL_S,
    )
    fields.update(changes)
    return SaleSpec(**fields)  # type: ignore[arg-type]


def req(request_id: str, qty: int = 1) -> BuyRequest:
    return BuyRequest(request_id, qty)


@pytest.fixture
def sales(redis: aioredis.Redis, keys: Keys) -> SaleStore:
    return SaleStore(redis, keys, Scripts(redis))


@pytest.fixture
async def nodes(redis_url: str, keys: Keys) -> AsyncIterator[list[SaleStore]]:
    """Four "nodes": separate clients, each with a bounded pool of 8 connections."""
    clients = [
        aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=8))
        for _ in range(4)
    ]
    try:
        yield [SaleStore(c, keys, Scripts(c)) for c in clients]
    finally:
        for c in clients:
            await c.aclose()


async def state(sales: SaleStore, sale_id: str = "s1") -> SaleState:
    st = await sales.get_state(sale_id)
    assert st is not None
    return st


# ---- creating and scheduling ---------------------------------------------------------


async def test_a_created_sale_is_registered_in_its_venue_with_its_full_stock(sales: SaleStore) -> None:
    assert await sales.create(spec(stock=7))
    assert not await sales.create(spec(stock=99))  # the id exists: nothing changes
    st = await state(sales)
    assert (st.available, st.reserved, st.sold, st.spec.stock) == (7, 0, 0, 7) and st.balanced
    assert await sales.sale_ids_of_venue("v1") == ["s1"]
    assert st.phase(START - 1) == "scheduled" and st.phase(START) == "open" and st.phase(END) == "ended"
    assert await sales.get_state("nope") is None


async def test_start_now_and_end_now_move_the_window_by_server_time(sales: SaleStore) -> None:
    now = await sales.server_time_ms()
    await sales.create(spec(starts_at_ms=now + 3_600_000, ends_at_ms=now + 7_200_000))
    assert (await sales.buy("s1", "u1", req("a"))).code is BuyCode.NOT_STARTED
    started = await sales.start_now("s1")
    assert started is not None and started.starts_at_ms <= await sales.server_time_ms()
    assert (await sales.buy("s1", "u1", req("b"))).code is BuyCode.OK
    ended = await sales.end_now("s1")
    assert ended is not None and ended.ends_at_ms <= await sales.server_time_ms()
    assert (await sales.buy("s1", "u1", req("c"))).code is BuyCode.ENDED
    with pytest.raises(ValueError):
        await sales.start_now("s1")
    assert await sales.start_now("nope") is None


async def test_ending_a_scheduled_sale_leaves_an_empty_window(sales: SaleStore) -> None:
    await sales.create(spec())
    ended = await sales.end_now("s1", now_ms=START - 10_000)
    assert ended is not None and ended.starts_at_ms == ended.ends_at_ms == START - 10_000
    assert (await sales.buy("s1", "u1", req("a"), now_ms=START)).code is BuyCode.ENDED


# ---- the answers of a buy ------------------------------------------------------------


async def test_a_buy_reserves_stock_until_a_payment_deadline_and_logs_an_event(
    sales: SaleStore, redis: aioredis.Redis, keys: Keys
) -> None:
    await sales.create(spec(stock=5))
    result = await sales.buy("s1", "u1", req("r1", qty=2), now_ms=START + 5)
    assert result.code is BuyCode.OK and result.available == 3
    res = result.reservation
    assert res is not None and res.state == "reserved" and res.qty == 2
    assert (res.amount_cents, res.deadline_ms, res.user_id) == (2_000, START + 5 + TTL_S * 1000, "u1")
    assert res.fulfilment is not None and res.fulfilment.warehouse  # no store index: warehouse delivery
    st = await state(sales)
    assert (st.available, st.reserved, st.sold) == (3, 2, 0) and st.balanced
    assert await redis.zscore(keys.sale_deadlines("s1"), res.reservation_id) == res.deadline_ms
    (entry,) = await redis.xrange(keys.sale_events("s1"))
    assert entry[1][b"type"] == b"reserved" and entry[1][b"available"] == b"3"


async def test_a_festival_sku_with_dots_can_be_put_on_sale_and_bought(
    sales: SaleStore, redis: aioredis.Redis, keys: Keys
) -> None:
    """Every id the festival loader accepts is a valid sale id, sku, venue and brand (one grammar)."""
    doc = {
        "festival": {"id": "f.1", "title": "Dots", "main_venue": "v.main"},
        "venues": [{"id": "v.main", "kind": "main", "title": "Main"},
                   {"id": "v.b-1", "kind": "brand", "title": "B", "brand": "b.1"}],
        "brands": [{"id": "b.1", "name": "B", "venue": "v.b-1", "warehouse": {"lat": 31.2, "lon": 121.4}}],
        "products": [{"sku": "tea.green_250g", "brand": "b.1", "title": "Tea", "price_cents": 900,
                      "list_price_cents": 1_000}],
    }  # fmt: skip
    festival = build_festival(doc)
    product = festival.products["tea.green_250g"]
    sale = spec("sale.tea.1", stock=3, venue="v.b-1", brand=product.brand, sku=product.sku,
                price_cents=product.price_cents)  # fmt: skip
    assert await sales.create(sale)
    result = await sales.buy("sale.tea.1", "u1", req("r.1", qty=2), now_ms=START)
    assert result.code is BuyCode.OK and result.available == 1
    assert result.reservation is not None and result.reservation.amount_cents == 1_800
    assert await sales.sale_ids_of_venue("v.b-1") == ["sale.tea.1"]
    paid = await sales.pay(result.reservation.reservation_id, now_ms=START + 1)
    assert paid.code is PayCode.PAID and paid.order is not None and paid.order.sku == "tea.green_250g"
    assert (await state(sales, "sale.tea.1")).balanced


async def test_the_per_user_limit_bounds_one_buy_in_the_script(sales: SaleStore) -> None:
    await sales.create(spec(stock=10, limit=3))
    assert (await sales.buy("s1", "u1", req("a", qty=4), now_ms=START)).code is BuyCode.BAD_QUANTITY
    assert (await sales.buy("s1", "u1", req("b", qty=3), now_ms=START)).code is BuyCode.OK
    assert (await state(sales)).available == 7


async def test_the_script_prices_a_buy_and_caps_a_coupon_at_the_subtotal(
    redis: aioredis.Redis, keys: Keys
) -> None:
    coupons = CouponStore(redis, keys, Scripts(redis))
    sales = SaleStore(redis, keys, Scripts(redis), coupons=coupons)
    await sales.create(spec(stock=10, limit=3, price_cents=300))
    drop = dict(venue="v1", issuer="guide-7", per_user_limit=1, total=5, expires_at_ms=END, brand="b1")
    await coupons.drop(CouponSpec(coupon_id="big", value_cents=500, min_spend_cents=0, **drop))  # type: ignore[arg-type]
    await coupons.drop(CouponSpec(coupon_id="min", value_cents=100, min_spend_cents=600, **drop))  # type: ignore[arg-type]
    for coupon in ("big", "min"):
        await coupons.grab(coupon, "u1", START)
    plain = (await sales.buy("s1", "u2", req("p", qty=2), now_ms=START)).reservation
    assert plain is not None and (plain.subtotal_cents, plain.discount_cents, plain.amount_cents) == (600, 0, 600)
    capped = (await sales.buy("s1", "u1", BuyRequest("c", 1, coupon_id="big"), now_ms=START)).reservation
    assert capped is not None and (capped.subtotal_cents, capped.discount_cents, capped.amount_cents) == (300, 300, 0)
    below = await sales.buy("s1", "u3", BuyRequest("m", 1, coupon_id="min"), now_ms=START)
    assert below.code is BuyCode.COUPON_INVALID  # not u3's coupon
    short = await sales.buy("s1", "u1", BuyRequest("m1", 1, coupon_id="min"), now_ms=START)
    assert (short.code, short.detail) == (BuyCode.COUPON_INVALID, "min_spend")  # 300 < 600 minimum spend
    exact = (await sales.buy("s1", "u1", BuyRequest("m2", 2, coupon_id="min"), now_ms=START)).reservation
    assert exact is not None and (exact.subtotal_cents, exact.discount_cents, exact.amount_cents) == (600, 100, 500)


async def test_every_refusal_is_its_own_code(sales: SaleStore) -> None:
    await sales.create(spec(stock=3, limit=2))
    assert (await sales.buy("nope", "u1", req("a"), now_ms=START)).code is BuyCode.NOT_FOUND
    early = await sales.buy("s1", "u1", req("a"), now_ms=START - 1)
    assert early.code is BuyCode.NOT_STARTED and early.starts_at_ms == START
    assert (await sales.buy("s1", "u1", req("a"), now_ms=END)).code is BuyCode.ENDED
    assert (await sales.buy("s1", "u1", req("a", qty=3), now_ms=START)).code is BuyCode.BAD_QUANTITY
    assert (await sales.buy("s1", "u1", req("a", qty=2), now_ms=START)).code is BuyCode.OK
    assert (await sales.buy("s1", "u1", req("b"), now_ms=START)).code is BuyCode.LIMIT_REACHED
    short = await sales.buy("s1", "u2", req("c", qty=2), now_ms=START)
    assert short.code is BuyCode.SOLD_OUT and short.available == 1  # fewer left than asked
    assert (await sales.buy("s1", "u2", req("d"), now_ms=START)).code is BuyCode.OK
    assert (await sales.buy("s1", "u3", req("e"), now_ms=START)).code is BuyCode.SOLD_OUT
    bad = await sales.buy("s1", "", req("f"), now_ms=START)
    assert bad.code is BuyCode.BAD_REQUEST and bad.detail == "user_id"
    assert (await sales.buy("s{1}", "u1", req("f"), now_ms=START)).code is BuyCode.BAD_REQUEST
    assert (await state(sales)).balanced


async def test_a_retried_request_returns_the_first_answer_and_takes_stock_once(sales: SaleStore) -> None:
    await sales.create(spec(stock=5, limit=5))
    first = await sales.buy("s1", "u1", req("r1", qty=2), now_ms=START)
    again = await sales.buy("s1", "u1", req("r1", qty=2), now_ms=START + 10)
    assert again.code is BuyCode.DUPLICATE and again.reservation == first.reservation
    late = await sales.buy("s1", "u1", req("r1", qty=2), now_ms=END + 1)  # even after the window
    assert late.code is BuyCode.DUPLICATE and late.reservation == first.reservation
    other_user = await sales.buy("s1", "u2", req("r1"), now_ms=START)  # request ids are per user
    assert other_user.code is BuyCode.OK
    st = await state(sales)
    assert (st.available, st.reserved) == (2, 3)


async def test_a_refused_request_is_evaluated_again_when_retried(sales: SaleStore) -> None:
    await sales.create(spec(stock=1))
    assert (await sales.buy("s1", "u1", req("r1"), now_ms=START - 5)).code is BuyCode.NOT_STARTED
    assert (await sales.buy("s1", "u1", req("r1"), now_ms=START)).code is BuyCode.OK


# ---- payment and expiry ----------------------------------------------------------------


async def test_paying_makes_exactly_one_order_and_paying_again_names_the_same_order(
    sales: SaleStore, redis: aioredis.Redis, keys: Keys
) -> None:
    await sales.create(spec(stock=5))
    res = (await sales.buy("s1", "u1", req("r1", qty=2), now_ms=START)).reservation
    assert res is not None
    paid = await sales.pay(res.reservation_id, "pay-123", now_ms=START + 1_000)
    assert paid.code is PayCode.PAID and paid.order is not None
    assert paid.order.order_id == order_id_for(res.reservation_id)
    assert (paid.order.qty, paid.order.amount_cents, paid.order.payment_ref) == (2, 2_000, "pay-123")
    again = await sales.pay(res.reservation_id, "pay-123", now_ms=START + 2_000)
    assert again.code is PayCode.DUPLICATE and again.order == paid.order
    st = await state(sales)
    assert (st.available, st.reserved, st.sold) == (3, 0, 2) and st.balanced
    assert await redis.xlen(keys.orders_stream()) == 1
    assert await sales.outbox.size("s1") == 0
    assert await OrderStore(redis, keys).get(paid.order.order_id) == paid.order
    reread = await sales.get_reservation(res.reservation_id)
    assert reread is not None and reread.state == "paid" and reread.order_id == paid.order.order_id


async def test_payment_of_an_unknown_or_malformed_reservation_is_not_found(sales: SaleStore) -> None:
    await sales.create(spec())
    assert (await sales.pay("garbage")).code is PayCode.NOT_FOUND
    assert (await sales.pay("s1:r" + "0" * 32)).code is PayCode.NOT_FOUND
    assert (await sales.pay("s1:o" + "0" * 32)).code is PayCode.NOT_FOUND


async def test_the_payment_deadline_is_hard(sales: SaleStore) -> None:
    await sales.create(spec())
    res = (await sales.buy("s1", "u1", req("r1"), now_ms=START)).reservation
    assert res is not None
    assert (await sales.pay(res.reservation_id, now_ms=res.deadline_ms + 1)).code is PayCode.EXPIRED
    assert await sales.expire_due("s1", now_ms=res.deadline_ms) == 0  # not past the deadline yet
    assert await sales.expire_due("s1", now_ms=res.deadline_ms + 1) == 1
    assert (await sales.pay(res.reservation_id, now_ms=res.deadline_ms)).code is PayCode.EXPIRED
    st = await state(sales)
    assert (st.available, st.reserved, st.sold, st.expired) == (10, 0, 0, 1)


async def test_an_expired_reservation_frees_the_users_limit_but_its_retry_stays_a_duplicate(
    sales: SaleStore,
) -> None:
    await sales.create(spec(stock=5, limit=1))
    first = await sales.buy("s1", "u1", req("r1"), now_ms=START)
    assert (await sales.buy("s1", "u1", req("r2"), now_ms=START)).code is BuyCode.LIMIT_REACHED
    assert await sales.expire_due("s1", now_ms=START + TTL_S * 1000 + 1) == 1
    retry = await sales.buy("s1", "u1", req("r1"), now_ms=START + TTL_S * 1000 + 2)
    assert retry.code is BuyCode.DUPLICATE and retry.reservation is not None
    assert retry.reservation.state == "expired" and first.reservation is not None
    assert retry.reservation.reservation_id == first.reservation.reservation_id
    assert (await sales.buy("s1", "u1", req("r2"), now_ms=START + TTL_S * 1000 + 2)).code is BuyCode.OK


# ---- concurrency -------------------------------------------------------------------


async def test_2000_concurrent_buyers_neither_oversell_nor_undersell_and_orders_equal_sold(
    nodes: list[SaleStore], redis: aioredis.Redis, keys: Keys
) -> None:
    stock = 50
    await nodes[0].create(spec(stock=stock, limit=1))
    results = await asyncio.gather(
        *(nodes[i % 4].buy("s1", f"user{i}", req(f"q{i}"), now_ms=START + i) for i in range(2_000))
    )
    codes = collections.Counter(r.code for r in results)
    assert codes == {BuyCode.OK: stock, BuyCode.SOLD_OUT: 2_000 - stock}
    st = await state(nodes[0])
    assert (st.available, st.reserved, st.sold) == (0, stock, 0) and st.balanced
    reservations = [r.reservation for r in results if r.reservation is not None]
    paid = await asyncio.gather(
        *(nodes[i % 4].pay(r.reservation_id, now_ms=START + 3_000) for i, r in enumerate(reservations))
    )
    assert {p.code for p in paid} == {PayCode.PAID}
    st = await state(nodes[0])
    assert (st.available, st.reserved, st.sold) == (0, 0, stock) and st.balanced
    assert await redis.xlen(keys.orders_stream()) == stock == len({p.order.order_id for p in paid if p.order})


async def test_one_user_buying_from_many_connections_at_once_gets_only_the_limit(
    nodes: list[SaleStore],
) -> None:
    await nodes[0].create(spec(stock=100, limit=3))
    results = await asyncio.gather(*(nodes[i % 4].buy("s1", "greedy", req(f"q{i}"), now_ms=START) for i in range(200)))
    codes = collections.Counter(r.code for r in results)
    assert codes == {BuyCode.OK: 3, BuyCode.LIMIT_REACHED: 197}
    st = await state(nodes[0])
    assert (st.available, st.reserved) == (97, 3)


async def test_a_request_retried_concurrently_takes_stock_once(nodes: list[SaleStore]) -> None:
    await nodes[0].create(spec(stock=10, limit=5))
    results = await asyncio.gather(*(nodes[i % 4].buy("s1", "u1", req("same"), now_ms=START) for i in range(100)))
    codes = collections.Counter(r.code for r in results)
    assert codes == {BuyCode.OK: 1, BuyCode.DUPLICATE: 99}
    assert len({r.reservation.reservation_id for r in results if r.reservation}) == 1
    assert (await state(nodes[0])).available == 9


async def test_two_sweepers_racing_return_expired_stock_exactly_once(nodes: list[SaleStore]) -> None:
    await nodes[0].create(spec(stock=120, limit=1))
    bought = await asyncio.gather(*(nodes[0].buy("s1", f"u{i}", req("r"), now_ms=START) for i in range(100)))
    assert all(r.code is BuyCode.OK for r in bought)
    later = START + TTL_S * 1000 + 1
    counts = await asyncio.gather(*(nodes[i % 4].expire_due("s1", limit=30, now_ms=later) for i in range(8)))
    while sum(counts) < 100:  # sweepers keep sweeping until nothing is due
        more = await asyncio.gather(nodes[0].expire_due("s1", 30, later), nodes[1].expire_due("s1", 30, later))
        assert sum(more) > 0
        counts += more
    assert sum(counts) == 100
    st = await state(nodes[0])
    assert (st.available, st.reserved, st.sold, st.expired) == (120, 0, 0, 100) and st.balanced
    assert await nodes[2].expire_due("s1", now_ms=later + 1) == 0


async def test_payment_racing_expiry_has_exactly_one_winner(
    nodes: list[SaleStore], redis: aioredis.Redis, keys: Keys
) -> None:
    await nodes[0].create(spec(stock=200, limit=1))
    bought = await asyncio.gather(*(nodes[0].buy("s1", f"u{i}", req("r"), now_ms=START) for i in range(200)))
    rids = [r.reservation.reservation_id for r in bought if r.reservation]
    deadline = START + TTL_S * 1000
    # the payment arrives at the deadline (still valid), the sweeper one ms after it (already due)
    pays = asyncio.gather(*(nodes[i % 4].pay(rid, now_ms=deadline) for i, rid in enumerate(rids)))
    sweeps = asyncio.gather(*(nodes[i % 4].expire_due("s1", limit=10, now_ms=deadline + 1) for i in range(30)))
    pay_results, expired = await asyncio.gather(pays, sweeps)
    paid = sum(1 for p in pay_results if p.code is PayCode.PAID)
    lost = sum(1 for p in pay_results if p.code is PayCode.EXPIRED)
    assert paid + lost == 200 and sum(expired) == lost
    assert 0 < paid < 200, "the race should have both outcomes (else it tested nothing)"
    reservations = [await nodes[0].get_reservation(rid) for rid in rids]
    states = collections.Counter(r.state for r in reservations if r is not None)
    assert states == {"paid": paid, "expired": lost}
    st = await state(nodes[0])
    assert (st.sold, st.reserved, st.available) == (paid, 0, lost) and st.balanced
    assert await redis.xlen(keys.orders_stream()) == paid


async def test_no_buy_succeeds_outside_the_window(nodes: list[SaleStore]) -> None:
    await nodes[0].create(spec(stock=100, limit=1))
    times = [START - 1_000, START - 1, END, END + 1, END + 60_000]
    results = await asyncio.gather(
        *(nodes[i % 4].buy("s1", f"u{i}", req("r"), now_ms=times[i % len(times)]) for i in range(500))
    )
    assert {r.code for r in results} == {BuyCode.NOT_STARTED, BuyCode.ENDED}
    assert (await state(nodes[0])).available == 100


async def test_buys_without_a_clock_override_use_the_server_time(sales: SaleStore) -> None:
    now = await sales.server_time_ms()
    await sales.create(spec(starts_at_ms=now - 1_000, ends_at_ms=now + 60_000))
    result = await sales.buy("s1", "u1", req("r"))
    assert result.code is BuyCode.OK and result.reservation is not None
    assert now <= result.reservation.created_at_ms <= await sales.server_time_ms()


# ---- retention -------------------------------------------------------------------


async def test_a_long_over_sale_and_its_reservations_expire_after_the_retention_never_while_one_is_unsettled(
    redis: aioredis.Redis, keys: Keys
) -> None:
    retention_s = 86_400
    sales = SaleStore(redis, keys, Scripts(redis), retention_s=retention_s)
    base = await sales.server_time_ms()  # real time: the TTLs are real
    start, end = base, base + 600_000
    await sales.create(spec(starts_at_ms=start, ends_at_ms=end))
    paid = (await sales.buy("s1", "u1", req("r1"), now_ms=start)).reservation
    unpaid = (await sales.buy("s1", "u2", req("r1"), now_ms=start)).reservation
    late = (await sales.buy("s1", "u3", req("r1"), now_ms=end - 1)).reservation
    assert paid is not None and unpaid is not None and late is not None
    assert (await sales.pay(paid.reservation_id, now_ms=start + 1_000)).code is PayCode.PAID
    assert await sales.expire_due("s1", now_ms=start + TTL_S * 1000 + 1) == 1  # unpaid
    settled_by = end + TTL_S * 1000  # no reservation can be bought or paid after this
    keep_until = settled_by + retention_s * 1000

    def res_key(rid: str) -> str:
        return keys.reservation("s1", rid)

    async def kept(key: str, at: int) -> bool:
        """The key expires at keep_until, as set by a script whose clock read ``at``."""
        pttl = await redis.pttl(key)
        return keep_until - at - 60_000 < pttl <= keep_until - at  # (the test's own run time: < 60 s)

    sale_keys = [keys.sale_spec("s1"), keys.sale_stock("s1"), keys.sale_counts("s1"), keys.sale_users("s1"),
                 keys.sale_events("s1"), keys.sale_user_reservations("s1")]  # fmt: skip
    assert await kept(res_key(paid.reservation_id), start + 1_000)  # settled: paid
    assert await kept(keys.order("s1", order_id_for(paid.reservation_id)), start + 1_000)
    assert await kept(res_key(unpaid.reservation_id), start + TTL_S * 1000 + 1)  # settled: expired
    assert await redis.pttl(res_key(late.reservation_id)) == -1  # still reserved: no TTL

    assert await sales.retire("s1", now_ms=end) == (RetireCode.RUNNING, keep_until)  # a reservation can still be paid
    unsettled = await sales.retire("s1", now_ms=settled_by + 1)  # "late" is not expired yet
    assert unsettled == (RetireCode.UNSETTLED, keep_until)
    assert [await redis.pttl(k) for k in sale_keys] == [-1] * len(sale_keys)

    assert await sales.expire_due("s1", now_ms=settled_by + 1) == 1  # late
    assert await kept(res_key(late.reservation_id), settled_by + 1)
    assert await sales.retire("s1", now_ms=settled_by + 1) == (RetireCode.RETIRED, keep_until)
    assert all([await kept(k, settled_by + 1) for k in sale_keys])
    st = await state(sales)
    assert (st.available, st.sold, st.expired) == (9, 1, 2) and st.balanced  # nothing changed but the TTLs


async def test_a_sale_lists_each_buyers_reservations_in_it_as_it_makes_them(
    sales: SaleStore, redis: aioredis.Redis, keys: Keys
) -> None:
    await sales.create(spec(stock=10, limit=3))
    first = await sales.buy("s1", "u1", BuyRequest("q1"), now_ms=START + 5)
    again = await sales.buy("s1", "u1", BuyRequest("q1"), now_ms=START + 5)  # a retry: the same reservation
    second = await sales.buy("s1", "u1", BuyRequest("q2"), now_ms=START + 5)
    refused = await sales.buy("s1", "u1", BuyRequest("q3", qty=2), now_ms=START + 5)  # over the per-user limit
    other = await sales.buy("s1", "u2", BuyRequest("q1"), now_ms=START + 5)

    assert (again.code, refused.code) == (BuyCode.DUPLICATE, BuyCode.LIMIT_REACHED)
    assert first.reservation and second.reservation and other.reservation
    listed = await redis.hgetall(keys.sale_user_reservations("s1"))
    assert listed == {b"u1": f"{first.reservation.reservation_id} {second.reservation.reservation_id}".encode(),
                      b"u2": other.reservation.reservation_id.encode()}  # fmt: skip
