"""A store's stock adjustments on a real Redis (livehub.store.store_stock): once per request id, never
below zero, audited in a bounded stream."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from livehub.store.keys import Keys
from livehub.store.scripts import Scripts
from livehub.store.store_stock import AdjustCode, Adjusted, StoreStock


@pytest.fixture
def stock(redis: aioredis.Redis, keys: Keys) -> StoreStock:
    return StoreStock(redis, keys, Scripts(redis), audit_maxlen=10, answer_ttl_s=60)


async def test_an_adjustment_retried_with_its_request_id_is_applied_once(
    stock: StoreStock, redis: aioredis.Redis, keys: Keys
) -> None:
    await redis.hset(keys.store_stock("st1"), "sku1", 4)

    first = await stock.adjust("st1", "sku1", 3, "clerk-1", "a1")
    retry = await stock.adjust("st1", "sku1", 3, "clerk-1", "a1")

    assert (first, retry) == (Adjusted(AdjustCode.ADJUSTED, 7), Adjusted(AdjustCode.DUPLICATE, 7))
    assert await stock.levels("st1") == ({"sku1": 7}, {})
    assert 0 < await redis.pttl(keys.store_adjusted("st1", "a1")) <= 60_000


async def test_an_adjustment_below_zero_changes_nothing_and_is_not_audited(stock: StoreStock) -> None:
    assert await stock.adjust("st1", "sku1", -1, "clerk-1", "a1") == Adjusted(AdjustCode.BELOW_ZERO, 0)
    assert await stock.adjust("st1", "sku1", -1, "clerk-1", "a1") == Adjusted(AdjustCode.BELOW_ZERO, 0)  # no marker

    assert await stock.levels("st1") == ({}, {})
    assert await stock.audit("st1") == []


async def test_the_audit_stream_names_who_did_what_and_stays_bounded(stock: StoreStock) -> None:
    for i in range(300):
        await stock.adjust("st1", "sku1", 1, f"clerk-{i % 2}", f"a{i}", now_ms=1_000 + i)

    audit = await stock.audit("st1", count=1_000)

    assert audit[0].fields == {"type": "stock", "sku": "sku1", "delta": "1", "units": "300", "who": "clerk-1",
                               "request_id": "a299", "ts": "1299"}  # fmt: skip
    assert len(audit) < 300  # trimmed to about audit_maxlen (MAXLEN ~ trims whole nodes)
