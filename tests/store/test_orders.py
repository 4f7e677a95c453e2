"""Orders on a real Redis: written once, streamed, consumed at least once and handled once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from livehub.domain.sale_rules import BuyRequest, SaleSpec
from livehub.settings import Settings
from livehub.store.keys import Keys
from livehub.store.orders import Order, OrderConsumer, OrderStore, tail_main
from livehub.store.sales import PayCode, SaleStore
from livehub.store.scripts import Scripts

T0 = 1_700_000_000_000

Pay = Callable[[int], Awaitable[list[Order]]]


@pytest.fixture
def orders(redis: aioredis.Redis, keys: Keys) -> OrderStore:
    return OrderStore(redis, keys)


@pytest.fixture
async def sales(redis: aioredis.Redis, keys: Keys, orders: OrderStore) -> SaleStore:
    store = SaleStore(redis, keys, Scripts(redis), orders=orders)
    await store.create(SaleSpec("s1", "v1", "b1", "sku1", 100, 1_000, 5, T0, T0 + 600_000, 60))
    return store


@pytest.fixture
def paid_orders(sales: SaleStore) -> Pay:
    """Buy and pay ``n`` orders (users u0..), returning them in payment order."""

    async def make(n: int, first: int = 0) -> list[Order]:
        out = []
        for i in range(first, first + n):
            res = (await sales.buy("s1", f"u{i}", BuyRequest("r"), now_ms=T0 + i)).reservation
            assert res is not None
            paid = await sales.pay(res.reservation_id, f"p{i}", now_ms=T0 + 1_000 + i)
            assert paid.order is not None
            out.append(paid.order)
        return out

    return make


async def test_an_order_round_trips_through_its_hash_and_the_stream(
    orders: OrderStore, paid_orders: Pay, redis: aioredis.Redis, keys: Keys
) -> None:
    (order,) = await paid_orders(1)
    assert await orders.get(order.order_id) == order
    assert await orders.get("s1:o" + "0" * 32) is None and await orders.get("junk") is None
    ((_, fields),) = await redis.xrange(keys.orders_stream())
    assert Order.from_fields({k.decode(): v.decode() for k, v in fields.items()}) == order
    assert (order.sale_id, order.venue, order.brand, order.sku, order.user_id) == ("s1", "v1", "b1", "sku1", "u0")
    assert (order.created_at_ms, order.payment_ref, order.fulfilment.mode) == (T0 + 1_000, "p0", "delivery")


async def test_an_order_republished_by_the_outbox_relay_is_in_the_stream_exactly_once(
    orders: OrderStore, paid_orders: Pay, redis: aioredis.Redis, keys: Keys
) -> None:
    (order,) = await paid_orders(1)  # published once by the payment
    assert await orders.publish(order) is False  # e.g. the sweeper relays it again after a crash
    assert await orders.publish(order) is False

    entries = await redis.xrange(keys.orders_stream())
    assert [e[1][b"order_id"].decode() for e in entries] == [order.order_id]
    assert 0 < await redis.ttl(keys.order_published(order.order_id)) <= orders.marker_ttl_s


async def test_a_consumer_group_handles_every_order_once(
    redis: aioredis.Redis, keys: Keys, orders: OrderStore, paid_orders: Pay
) -> None:
    made = await paid_orders(5)
    consumer = OrderConsumer(redis, keys, "billing", "c1")
    await consumer.ensure_group()
    await consumer.ensure_group()  # idempotent
    seen: list[str] = []

    async def handler(order: Order) -> None:
        seen.append(order.order_id)

    assert await consumer.run_once(handler, block_ms=None) == 5
    await orders.publish(made[0])  # a re-publish appends nothing: still handled once
    assert await consumer.run_once(handler, block_ms=None) == 0
    assert seen == [o.order_id for o in made]
    assert (await redis.xpending(keys.orders_stream(), "billing"))["pending"] == 0


async def test_a_consumer_group_forgets_handled_orders_older_than_its_memory(
    redis: aioredis.Redis, keys: Keys, paid_orders: Pay
) -> None:
    made = await paid_orders(2)
    consumer = OrderConsumer(redis, keys, "audit", "c1", done_ttl_s=3600)
    await consumer.ensure_group()
    await redis.zadd(keys.orders_done("audit"), {"an-order-of-last-week": 1})  # handled long ago

    async def handler(order: Order) -> None:
        pass

    assert await consumer.run_once(handler, block_ms=None) == 2
    handled = await redis.zrange(keys.orders_done("audit"), 0, -1)
    assert sorted(handled) == sorted(o.order_id.encode() for o in made)  # the old id was trimmed


async def test_entries_of_a_crashed_consumer_are_reclaimed_and_handled(
    redis: aioredis.Redis, keys: Keys, paid_orders: Pay
) -> None:
    made = await paid_orders(3)
    crashed = OrderConsumer(redis, keys, "ship", "dead", min_idle_ms=50)
    await crashed.ensure_group()
    assert len(await crashed.read_new()) == 3  # read, then "crashed" before handling or acking
    survivor = OrderConsumer(redis, keys, "ship", "alive", min_idle_ms=50)
    seen: list[str] = []

    async def handler(order: Order) -> None:
        seen.append(order.order_id)

    assert await survivor.run_once(handler, block_ms=None) == 0  # not idle long enough yet
    await asyncio.sleep(0.1)
    assert await survivor.run_once(handler, block_ms=None) == 3
    assert seen == [o.order_id for o in made]
    assert (await redis.xpending(keys.orders_stream(), "ship"))["pending"] == 0


async def test_a_failing_handler_leaves_the_order_pending_for_a_retry(
    redis: aioredis.Redis, keys: Keys, paid_orders: Pay
) -> None:
    await paid_orders(2)
    consumer = OrderConsumer(redis, keys, "crm", "c1", min_idle_ms=0)
    await consumer.ensure_group()
    calls: list[str] = []

    async def flaky(order: Order) -> None:
        calls.append(order.order_id)
        if len(calls) == 1:
            raise RuntimeError("downstream down")

    assert await consumer.run_once(flaky, block_ms=None) == 1
    assert (await redis.xpending(keys.orders_stream(), "crm"))["pending"] == 1
    assert await consumer.run_once(flaky, block_ms=None) == 1  # reclaimed and retried
    assert len(calls) == 3 and calls[0] == calls[2]
    assert (await redis.xpending(keys.orders_stream(), "crm"))["pending"] == 0


async def test_tail_follows_orders_as_they_are_paid(orders: OrderStore, paid_orders: Pay) -> None:
    await paid_orders(2)  # before the tail starts: not shown
    received: list[Order] = []

    async def follow() -> None:
        async for _entry_id, order in orders.tail(block_ms=100):
            received.append(order)
            if len(received) == 3:
                return

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.05)
    made = await paid_orders(3, first=10)
    await asyncio.wait_for(task, timeout=5)
    assert received == made


async def test_an_order_whose_fan_out_failed_is_published_by_the_outbox_relay(
    sales: SaleStore, orders: OrderStore, redis: aioredis.Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(order: Order) -> None:
        raise RedisConnectionError("the node lost Redis right after pay.lua")

    res = (await sales.buy("s1", "u1", BuyRequest("r"), now_ms=T0)).reservation
    assert res is not None
    with monkeypatch.context() as patch:
        patch.setattr(orders, "publish", down)
        paid = await sales.pay(res.reservation_id, now_ms=T0 + 1)
    assert paid.code is PayCode.PAID  # the order exists: pay.lua wrote it atomically
    assert await redis.xlen(keys.orders_stream()) == 0 and await sales.outbox.size("s1") == 1
    assert await sales.outbox.relay("s1", older_than_ms=5_000, now_ms=T0 + 2) == 0  # too fresh
    assert await sales.outbox.relay("s1", older_than_ms=5_000, now_ms=T0 + 10_000) == 1
    assert await redis.xlen(keys.orders_stream()) == 1 and await sales.outbox.size("s1") == 0
    assert (await sales.pay(res.reservation_id, now_ms=T0 + 3)).code is PayCode.DUPLICATE
    assert await redis.xlen(keys.orders_stream()) == 1


@pytest.mark.parametrize("group", [None, "printer"])
async def test_orders_tail_prints_orders_as_json_lines(
    redis_url: str, prefix: str, paid_orders: Pay, capsysbinary: pytest.CaptureFixture[bytes], group: str | None
) -> None:
    made = await paid_orders(3)
    settings = Settings(redis_url=redis_url, redis_prefix=prefix)
    await asyncio.wait_for(tail_main(settings, group=group, from_start=True, count=2), timeout=5)
    lines = capsysbinary.readouterr().out.splitlines()
    assert [orjson.loads(line)["order_id"] for line in lines] == [o.order_id for o in made[:2]]
    assert orjson.loads(lines[0])["fulfilment"]["mode"] == "delivery"
