"""The hourly guide contest ("top seller of the hour") on Redis sorted sets.

Each UTC hour ``YYYYMMDDHH`` has its own keys under ``{guides:<hour>}``: sales
per guide (sorted set, cents), commission per guide (hash, cents),
guide-attributed sales per store (sorted set), the set of order ids already
credited, which makes crediting idempotent: the order fan-out is
at-least-once, the leaderboard still counts each order once; each guide's
latest credited orders (a list of ``recent_orders``, for the guide's page) and
the hour's winner, recorded once after the hour (guide_winner.lua).  Who is credited,
the hour of an order and the commission's rounding are decided in
``livehub.domain.attribution``.  The hour's keys expire after ``ttl_s`` (default
8 days: the festival and its prize payouts).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
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


@dataclass(frozen=True, slots=True)
class CreditedOrder:
    order_id: str
    amount_cents: int
    commission_cents: int


@dataclass(frozen=True, slots=True)
class GuideHour:
    """One guide's figures in one hour: sales, commission, rank (1 = top; None: no sale) and latest orders."""

    hour: str
    sales_cents: int
    commission_cents: int
    rank: int | None
    orders: tuple[CreditedOrder, ...]


@dataclass(frozen=True, slots=True)
class Winner:
    """An hour's recorded winner."""

    hour: str
    guide_id: str
    sales_cents: int
    commission_cents: int
    recorded_at_ms: int


class GuideBoard:
    """Credits orders to guides and answers the hourly leaderboard."""

    def __init__(
        self, redis: Redis, keys: Keys, scripts: Scripts, commission_rate: float, ttl_s: int = 8 * 86_400,
        recent_orders: int = 20,
    ) -> None:  # fmt: skip
        if not 0 <= commission_rate <= 1:
            raise ValueError("commission rate must be in 0..1")
        if recent_orders <= 0:
            raise ValueError("recent orders must be > 0")
        self.recent_orders = recent_orders
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
        commission = commission_cents(amount_cents, self.commission_rate)
        done = await self._scripts.run(
            "guide_credit",
            [k.guides_credited(hour), k.guides_sales(hour), k.guides_commission(hour), k.guides_stores(hour),
             k.guides_orders(hour, guide_id)],
            [order_id, guide_id, store_id, amount_cents, commission, self.ttl_s,
             f"{order_id}|{amount_cents}|{commission}", self.recent_orders],
        )  # fmt: skip
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

    async def server_time_ms(self) -> int:
        """Redis' clock (every node judges the hour's end by the same clock)."""
        seconds, micros = await self._redis.time()  # (outbox.server_time_ms: importing it would be a cycle)
        return int(seconds) * 1000 + int(micros) // 1000

    async def hours_of(self, guide_id: str, hours: Sequence[str]) -> list[GuideHour]:
        """A guide's figures in each of ``hours`` (one pipelined round trip)."""
        k = self._keys
        pipe = self._redis.pipeline(transaction=False)
        for hour in hours:
            pipe.zscore(k.guides_sales(hour), guide_id)
            pipe.hget(k.guides_commission(hour), guide_id)
            pipe.zrevrank(k.guides_sales(hour), guide_id)
            pipe.lrange(k.guides_orders(hour, guide_id), 0, self.recent_orders - 1)
        replies = await pipe.execute()
        out = []
        for i, hour in enumerate(hours):
            sales, commission, rank, orders = replies[4 * i : 4 * i + 4]
            out.append(GuideHour(
                hour, int(sales or 0), int(commission or 0), None if rank is None else int(rank) + 1,
                tuple(_credited(text(entry)) for entry in orders),
            ))  # fmt: skip
        return out

    async def record_winner(self, hour: str, now_ms: int, ttl_s: int) -> tuple[str, Winner | None]:
        """Record ``hour``'s winner (its top guide by sales) unless recorded before: ("recorded" | "kept",
        the winner), or ("none", None) when nobody sold in the hour.  Idempotent, any node."""
        k = self._keys
        state, guide, sales, commission, at = await self._scripts.run(
            "guide_winner", [k.guides_sales(hour), k.guides_commission(hour), k.guides_winner(hour)], [now_ms, ttl_s]
        )
        if text(state) == "none":
            return "none", None
        return text(state), Winner(hour, text(guide), int(sales), int(commission), int(at))

    async def winners(self, hours: Sequence[str]) -> list[Winner]:
        """The recorded winners among ``hours``, in their order (one pipelined round trip)."""
        pipe = self._redis.pipeline(transaction=False)
        for hour in hours:
            pipe.hmget(self._keys.guides_winner(hour), ["guide", "sales_cents", "commission_cents", "recorded_at_ms"])
        out = []
        for hour, (guide, sales, commission, at) in zip(hours, await pipe.execute(), strict=True):
            if guide is not None:
                out.append(Winner(hour, text(guide), int(sales), int(commission), int(at)))
        return out


def _credited(entry: str) -> CreditedOrder:
    order_id, amount, commission = entry.rsplit("|", 2)
    return CreditedOrder(order_id, int(amount), int(commission))
