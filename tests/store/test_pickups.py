"""Pickup codes on a real Redis (livehub.store.pickups): issued once per paid pickup order, unique per
store, shown to nobody but the buyer; verified at hand-over exactly once, even with two nodes racing;
wrong codes bounded per store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from livehub.config import load_festival
from livehub.domain.sale_rules import BuyRequest, SaleSpec
from livehub.store import pickups as pickups_module
from livehub.store.keys import Keys
from livehub.store.orders import Order, OrderStore
from livehub.store.pickups import ALPHABET, CODE_CHARS, Pickups, VerifyCode, normalize_code
from livehub.store.sales import SaleStore
from livehub.store.scripts import Scripts
from livehub.store.stores import StoreIndex

SMALL = Path(__file__).resolve().parents[2] / "config" / "small.toml"
T0 = 1_700_000_000_000


@pytest.fixture
def pickups(redis: aioredis.Redis, keys: Keys) -> Pickups:
    return Pickups(redis, keys, Scripts(redis), misses=3, miss_window_s=60)


@pytest.fixture
async def sales(redis: aioredis.Redis, keys: Keys, pickups: Pickups) -> AsyncIterator[SaleStore]:
    scripts = Scripts(redis)
    index = StoreIndex(redis, keys, scripts, load_festival(SMALL))
    await index.load()
    store = SaleStore(redis, keys, scripts, stores=index, orders=OrderStore(redis, keys, scripts=scripts,
                                                                             pickups=pickups))  # fmt: skip
    await store.create(SaleSpec("s1", "b1", "b1", "b1-sku1", 50, 9_900, 1, T0, T0 + 600_000, 300))
    yield store


async def paid(sales: SaleStore, user: str, pickup_store: str | None = "b1-s1") -> Order:
    buy = await sales.buy("s1", user, BuyRequest("r1", 1, None, pickup_store), now_ms=T0)
    assert buy.reservation is not None
    result = await sales.pay(buy.reservation.reservation_id, "p", now_ms=T0 + 1_000)
    assert result.order is not None
    return result.order


async def code_of(pickups: Pickups, order: Order) -> str:
    (pickup,) = await pickups.of_orders([(order.store_id or "", order.order_id)])
    assert pickup is not None
    return pickup.code


async def test_a_paid_pickup_order_gets_a_short_code_at_its_store_and_a_relay_keeps_it(
    sales: SaleStore, pickups: Pickups, redis: aioredis.Redis, keys: Keys
) -> None:
    order = await paid(sales, "u1")
    code = await code_of(pickups, order)

    assert len(code) == CODE_CHARS and set(code) <= set(ALPHABET)
    assert await redis.hget(keys.store_pickup_codes("b1-s1"), code) == order.order_id.encode()
    await OrderStore(redis, keys, pickups=pickups).publish(order)  # the outbox relay after a crash
    assert await code_of(pickups, order) == code
    assert await redis.hlen(keys.store_pickup_codes("b1-s1")) == 1


async def test_a_delivery_order_gets_no_pickup_code(sales: SaleStore, pickups: Pickups) -> None:
    order = await paid(sales, "u1", pickup_store=None)

    assert order.store_id is None
    assert await pickups.of_orders([("b1-s1", order.order_id)]) == [None]


async def test_a_code_drawn_twice_at_one_store_is_drawn_again(
    pickups: Pickups, monkeypatch: pytest.MonkeyPatch
) -> None:
    draws: Iterator[str] = iter(["AAAA2222", "AAAA2222", "BBBB3333"])
    monkeypatch.setattr(pickups_module, "new_code", lambda: next(draws))

    assert await pickups.issue("b1-s1", "s1:o" + "1" * 32) == "AAAA2222"
    assert await pickups.issue("b1-s1", "s1:o" + "2" * 32) == "BBBB3333"  # AAAA2222 taken: drawn again


async def test_a_code_is_verified_once_and_a_second_verify_says_when_and_by_whom(
    sales: SaleStore, pickups: Pickups
) -> None:
    order = await paid(sales, "u1")
    code = await code_of(pickups, order)

    first = await pickups.verify("b1-s1", code.lower(), "clerk-1", now_ms=T0 + 5_000)  # typed in lower case
    again = await pickups.verify("b1-s1", code, "clerk-2", now_ms=T0 + 9_000)

    assert (first.code, first.order_id, first.picked_up_at_ms, first.picked_up_by) == (
        VerifyCode.PICKED_UP, order.order_id, T0 + 5_000, "clerk-1")  # fmt: skip
    assert (again.code, again.order_id, again.picked_up_at_ms, again.picked_up_by) == (
        VerifyCode.ALREADY_PICKED_UP, order.order_id, T0 + 5_000, "clerk-1")  # fmt: skip
    (state,) = await pickups.of_orders([("b1-s1", order.order_id)])
    assert state is not None and (state.code, state.picked_up_at_ms, state.picked_up_by) == (code, T0 + 5_000,
                                                                                               "clerk-1")  # fmt: skip


async def test_a_code_of_another_store_is_not_found_there(sales: SaleStore, pickups: Pickups) -> None:
    order = await paid(sales, "u1")

    assert (await pickups.verify("b1-s2", await code_of(pickups, order), "clerk-9")).code is VerifyCode.NOT_FOUND


async def test_two_nodes_racing_to_verify_one_code_hand_it_over_exactly_once(
    sales: SaleStore, redis_url: str, keys: Keys, pickups: Pickups
) -> None:
    order = await paid(sales, "u1")
    code = await code_of(pickups, order)
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
    batched = [Scripts(c, batch=True) for c in clients]  # each "node" pipelines its scripts, as a node does
    try:
        nodes = [Pickups(c, keys, s) for c, s in zip(clients, batched, strict=True)]
        results = await asyncio.gather(*(nodes[i % 2].verify("b1-s1", code, f"clerk-{i}") for i in range(20)))
    finally:
        for client, scripts in zip(clients, batched, strict=True):
            await scripts.aclose()
            await client.aclose()

    codes = [r.code for r in results]
    assert codes.count(VerifyCode.PICKED_UP) == 1
    assert codes.count(VerifyCode.ALREADY_PICKED_UP) == 19
    assert len({(r.picked_up_at_ms, r.picked_up_by) for r in results}) == 1  # everyone names the one hand-over


async def test_past_the_wrong_codes_allowed_every_verify_at_the_store_waits_for_the_window(
    sales: SaleStore, pickups: Pickups
) -> None:
    order = await paid(sales, "u1")
    code = await code_of(pickups, order)
    for guess in ("2222AAAA", "not a code", "3333BBBB"):  # misses=3 (malformed ones count too)
        assert (await pickups.verify("b1-s1", guess, "guesser")).code is VerifyCode.NOT_FOUND

    refused = await pickups.verify("b1-s1", code, "clerk-1")  # even the right code: a guesser learns nothing

    assert refused.code is VerifyCode.RATE_LIMITED and 0 < refused.retry_after_ms <= 60_000
    assert (await pickups.verify("b1-s2", "4444CCCC", "clerk-2")).code is VerifyCode.NOT_FOUND  # per store


async def test_once_the_window_ends_the_right_code_hands_over(
    redis: aioredis.Redis, keys: Keys, sales: SaleStore, pickups: Pickups
) -> None:
    order = await paid(sales, "u1")
    code = await code_of(pickups, order)
    short = Pickups(redis, keys, Scripts(redis), misses=1, miss_window_s=0.2)
    assert (await short.verify("b1-s1", "2222AAAA", "guesser")).code is VerifyCode.NOT_FOUND
    assert (await short.verify("b1-s1", code, "clerk-1")).code is VerifyCode.RATE_LIMITED

    async def handed_over() -> VerifyCode:
        for _ in range(1_000):  # the window ends after 0.2 s: wait for it, generously
            result = await short.verify("b1-s1", code, "clerk-1")
            if result.code is not VerifyCode.RATE_LIMITED:
                return result.code
            await asyncio.sleep(0.05)
        raise AssertionError("the window never ended")

    assert await asyncio.wait_for(handed_over(), timeout=10) is VerifyCode.PICKED_UP


@pytest.mark.parametrize(("typed", "stored"), [("k7qm3xpa", "K7QM3XPA"), (" K7QM-3XPA ", "K7QM3XPA"),
                                               ("K7QM3XP", None), ("K7QM3XP0", None), ("", None)])  # fmt: skip
def test_a_typed_code_is_normalized_or_refused(typed: str, stored: str | None) -> None:
    assert normalize_code(typed) == stored
