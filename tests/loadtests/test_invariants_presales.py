"""The invariant checker's pre-sale checks (loadtests/invariants.py) on a real Redis: a pre-sale worked
by livehub's PresaleStore through every state passes; each breach injected into it is reported by kind."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from livehub.domain.presale_rules import DepositCode, PresalePayCode, PresaleSpec
from livehub.store.keys import Keys
from livehub.store.orders import OrderStore
from livehub.store.presales import PresaleStore
from livehub.store.scripts import Scripts
from loadtests.invariants import Report, run_check

T0 = 1_700_000_000_000
TTL_S = 60
BAL_START, BAL_END = T0 + 600_000, T0 + 900_000


@pytest.fixture
async def presale(redis: aioredis.Redis, keys: Keys) -> str:
    """Pre-sale p1: two deposits lapsed (one before, one at the window's end), one completed (its order
    published), one forfeited.
    Returns the completed order's id."""
    scripts = Scripts(redis)
    store = PresaleStore(redis, keys, scripts, OrderStore(redis, keys, scripts=scripts))
    spec = PresaleSpec(presale_id="p1", venue="b1", brand="b1", sku="b1-sku1", stock=10, price_cents=10_000,
                       deposit_cents=1_000, per_user_limit=2, deposit_starts_at_ms=T0, deposit_ends_at_ms=T0 + 300_000,
                       balance_starts_at_ms=BAL_START, balance_ends_at_ms=BAL_END, deposit_ttl_s=TTL_S)  # fmt: skip
    try:
        assert await store.create(spec)
        ids = {}
        for user, at in (("u-lapse", T0), ("u-done", T0 + 1), ("u-forfeit", T0 + 2), ("u-due", T0 + 200_000)):
            placed = await store.deposit("p1", user, "r", 2 if user == "u-done" else 1, now_ms=at)
            assert placed.code is DepositCode.OK and placed.deposit is not None
            ids[user] = placed.deposit.deposit_id
        for user in ("u-done", "u-forfeit"):
            assert (await store.pay_deposit(ids[user], now_ms=T0 + 10)).code is PresalePayCode.PAID
        assert (await store.sweep("p1", now_ms=T0 + TTL_S * 1000 + 10)).lapsed == 1
        done = await store.pay_balance(ids["u-done"], now_ms=BAL_START)
        assert done.code is PresalePayCode.PAID and done.order is not None
        await store.sweep("p1", now_ms=BAL_END)  # forfeits u-forfeit, lapses u-due
    finally:
        await scripts.aclose()
    return done.order.order_id


def check(redis_url: str, prefix: str) -> Report:
    return run_check(redis_url, prefix, settle_s=0)


async def test_a_pre_sale_worked_through_every_state_passes(presale: str, redis_url: str, prefix: str) -> None:
    report = check(redis_url, prefix)
    assert report.ok, report.render()
    [p] = report.presales
    assert (p.stock, p.available, p.deposits, p.orders) == (10, 8, 4, 1)
    assert {k: v for k, v in p.counts.items() if v} == {"completed": 2, "lapsed": 2, "forfeited": 1}
    assert "pre-sale p1: stock 10 = available 8" in report.render()


async def test_a_unit_missing_from_a_pre_sales_counts_is_a_breach(
    presale: str, redis: aioredis.Redis, keys: Keys, redis_url: str, prefix: str
) -> None:
    await redis.decr(keys.presale_stock("p1"))
    assert check(redis_url, prefix).kinds() == {"units"}


async def test_a_completed_pre_sale_order_missing_from_the_stream_or_its_hash_is_a_breach(
    presale: str, redis: aioredis.Redis, keys: Keys, redis_url: str, prefix: str
) -> None:
    await redis.delete(keys.orders_stream())
    assert check(redis_url, prefix).kinds() == {"stream"}
    await redis.delete(keys.presale_order("p1", presale))
    assert check(redis_url, prefix).kinds() == {"orders"}


async def test_held_units_that_disagree_with_the_deposits_are_a_breach(
    presale: str, redis: aioredis.Redis, keys: Keys, redis_url: str, prefix: str
) -> None:
    await redis.hincrby(keys.presale_users("p1"), "u-done", 1)
    assert check(redis_url, prefix).kinds() == {"limit"}


async def test_only_the_named_pre_sales_are_checked_and_an_unknown_one_is_reported(
    presale: str, redis_url: str, prefix: str
) -> None:
    report = run_check(redis_url, prefix, settle_s=0, presale_ids=["p1", "nope"])
    assert [p.presale_id for p in report.presales] == ["p1"] and report.sales == []
    assert report.kinds() == {"scan"}
