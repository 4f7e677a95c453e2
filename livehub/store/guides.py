"""The hourly guide contest ("top seller of the hour") on Redis sorted sets.

Each UTC hour ``YYYYMMDDHH`` has its own keys under ``{guides:<hour>}``: sales
per guide (sorted set, cents), commission per guide (hash, cents),
guide-attributed sales per store (sorted set) and the set of order ids already
credited, which makes crediting idempotent: the order fan-out is
at-least-once, the leaderboard still counts each order once.  Who is credited,
the hour of an order and the commission's rounding are decided in
``livehub.domain.attribution``.  The hour's keys expire after ``ttl_s`` (default
8 days: the festival and its prize payouts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from livehub.domain.attribution import commission_cents, hour_bucket
from livehub.domain.sale_rules import text
from livehub.store.keys import Keys
from livehub.store.scripts import Scripts

log = logging.getLogger("livehub.store.guides")


@dataclass(frozen=True, slots=True)
class GuideRank:
    guide_id: str
    sales_cents: int
    commission_cents: int


@dataclass(frozen=True, slots=True)
class StoreRank:
    store_id: str
    sales_cents: int


class GuideBoard:
    """Credits orders to guides and answers the hourly leaderboard."""

    def __init__(
        self, redis: Redis, keys: Keys, scripts: Scripts, commission_rate: float, ttl_s: int = 8 * 86_400
    ) -> None:
        if not 0 <= commission_rate <= 1:
            raise ValueError("commission rate must be in 0..1")
        self._redis = redis
        self._keys = keys
        self._scripts = scripts
        self.commission_rate = commission_rate
        self.ttl_s = ttl_s

    async def credit(
        self, order_id: str, guide_id: str, store_id: str, amount_cents: int, at_ms: int
    ) -> bool:
        """Credit an order to a guide and the guide's store in the hour of ``at_ms``; False if done before."""
        hour = hour_bucket(at_ms)
        k = self._keys
        done = await self._scripts.run(
            "guide_credit",
            [k.guides_credited(hour), k.guides_sales(hour), k.guides_commission(hour), k.guides_stores(hour)],
            [
                order_id,
                guide_id,
                store_id,
                amount_cents,
                commission_cents(amount_cents, self.commission_rate),
                self.ttl_s,
            ],
        )
        return bool(int(done))

    async def top(self, hour: str, n: int = 10) -> list[GuideRank]:
        """The hour's best guides by sales, best first (ties: guide id descending, as Redis orders them)."""
        k = self._keys
        ranked: list[Any] = await self._redis.zrevrange(k.guides_sales(hour), 0, n - 1, withscores=True)
        if not ranked:
            return []
        ids = [text(member) for member, _ in ranked]
        commissions = await self._redis.hmget(k.guides_commission(hour), ids)
        return [
            GuideRank(gid, int(score), int(c) if c is not None else 0)
            for gid, (_, score), c in zip(ids, ranked, commissions, strict=True)
        ]

    async def top_stores(self, hour: str, n: int = 10) -> list[StoreRank]:
        ranked: list[Any] = await self._redis.zrevrange(
            self._keys.guides_stores(hour), 0, n - 1, withscores=True
        )
        return [StoreRank(text(member), int(score)) for member, score in ranked]

    async def commission(self, hour: str, guide_id: str) -> int:
        value = await self._redis.hget(self._keys.guides_commission(hour), guide_id)
        return int(value) if value is not None else 0
