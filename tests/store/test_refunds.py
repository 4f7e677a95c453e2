"""The refunds integration point (livehub.store.refunds): each refund in the stream once, settled once."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from livehub.domain.group_rules import Refund
from livehub.store.keys import Keys
from livehub.store.refunds import DemoRefunds, RefundStream
from livehub.store.scripts import Scripts

NOW = 1_800_000_000_000


def refund(n: int = 1) -> Refund:
    return Refund(f"d1.g0123456789abcdef:f{n:032x}", "d1", "d1.g0123456789abcdef", "b1", f"u{n}", 4900, f"pay-{n}", NOW)


async def test_a_refund_is_in_the_stream_once_however_often_it_is_handed_over(
    redis: aioredis.Redis, keys: Keys
) -> None:
    stream = RefundStream(redis, keys, Scripts(redis))
    handed = await asyncio.gather(*(stream.refund(refund()) for _ in range(5)), stream.refund(refund(2)))
    assert sorted(handed) == [False] * 4 + [True] * 2
    assert sorted(await stream.published(), key=lambda r: r.refund_id) == [refund(), refund(2)]
    assert await stream.settled(refund().refund_id) is None  # outside demo mode: the provider's worker settles


async def test_the_providers_outcome_is_recorded_once(redis: aioredis.Redis, keys: Keys) -> None:
    stream = RefundStream(redis, keys, Scripts(redis))
    assert await stream.settle(refund().refund_id, "psp-r-1", NOW)
    assert not await stream.settle(refund().refund_id, "psp-r-2", NOW + 1)
    assert await stream.settled(refund().refund_id) == "psp-r-1"


async def test_the_demo_pays_every_refund_back_at_once(redis: aioredis.Redis, keys: Keys) -> None:
    demo = DemoRefunds(redis, keys, Scripts(redis))
    assert await demo.refund(refund())
    assert not await demo.refund(refund())
    assert await demo.settled(refund().refund_id) == f"demo-refund:{refund().refund_id}"
    assert len(await demo.published()) == 1
