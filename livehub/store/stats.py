"""The festival's live numbers on Redis: one set of keys per scope (a venue's, the festival's).

* An order is counted by stats_count.lua, once per scope: a per-order marker in the scope's slot
  (``{stats:<scope>}``) makes a recount a no-op, so the consumer group that feeds it may deliver
  an order twice (livehub.store.orders.OrderConsumer is at-least-once) and the numbers stay exact.
  The script adds the order to the totals (GMV, orders, units), to its UTC minute's bucket (the
  orders-per-minute series; each bucket expires after ``minutes_kept`` minutes), to the buyers'
  HyperLogLog and to the GMV per brand and per store.
* Viewers are a HyperLogLog per scope (PFADD: idempotent by nature), fed in batches.
* The peak online count is a one-member sorted set raised with ZADD GT (never lowered).
* Online now is read from the audience tally's hashes (livehub.presence.redis_tally writes them:
  node id -> ``count:unix_ms``; fields older than ``stale_before_ms`` are a dead node's).
* A sale's first sell-out time is a SET NX string in the sale's own slot.

Every key but the minute buckets expires ``ttl_s`` after its last write (default 7 days).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

from livehub.domain.sale_rules import text
from livehub.domain.stats import MINUTE_MS, Totals, scopes_of_order
from livehub.store.keys import Keys
from livehub.store.orders import Order
from livehub.store.scripts import Scripts

PEAK = "online"


class StatsStore:
    def __init__(
        self, redis: Redis, keys: Keys, scripts: Scripts, *, ttl_s: int = 604_800, minutes_kept: int = 1_440
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._scripts = scripts
        self.ttl_s = ttl_s
        self.minutes_kept = minutes_kept

    async def count(self, order: Order) -> int:
        """Count a confirmed order in its venue's and the festival's numbers; how many scopes counted
        it now (0: counted before, in both)."""
        k = self._keys
        counted = 0
        for scope in scopes_of_order(order.venue):
            minute = order.created_at_ms - order.created_at_ms % MINUTE_MS
            done = await self._scripts.run(
                "stats_count",
                [k.stats_counted(scope, order.order_id), k.stats_totals(scope), k.stats_minute(scope, minute),
                 k.stats_buyers(scope), k.stats_brands(scope), k.stats_stores(scope)],
                [order.order_id, order.amount_cents, order.qty, order.user_id, order.brand, order.store_id or "",
                 self.ttl_s, self.minutes_kept * 60],
            )  # fmt: skip
            counted += int(done)
        return counted

    async def add_viewers(self, viewers: Mapping[str, Iterable[str]]) -> None:
        """Add viewers (ids) to each scope's viewers (one pipelined round trip)."""
        pipe = self._redis.pipeline(transaction=False)
        for scope, ids in viewers.items():
            members = list(ids)
            if members:
                pipe.pfadd(self._keys.stats_viewers(scope), *members)
                pipe.expire(self._keys.stats_viewers(scope), self.ttl_s)
        await pipe.execute()

    async def online(self, venues: Sequence[str], stale_before_ms: int) -> list[int]:
        """Online now per venue, summed over the nodes that reported since ``stale_before_ms``."""
        pipe = self._redis.pipeline(transaction=False)
        for venue in venues:
            pipe.hvals(self._keys.online(venue))
        out: list[int] = []
        for values in await pipe.execute():
            total = 0
            for value in values:
                count, _, ts = text(value).partition(":")
                if int(ts or 0) >= stale_before_ms:
                    total += int(count)
            out.append(total)
        return out

    async def raise_peaks(self, online: Mapping[str, int]) -> None:
        """Raise each scope's peak to its online count when higher (ZADD GT; one round trip)."""
        pipe = self._redis.pipeline(transaction=False)
        for scope, count in online.items():
            pipe.zadd(self._keys.stats_peak(scope), {PEAK: count}, gt=True)
            pipe.expire(self._keys.stats_peak(scope), self.ttl_s)
        await pipe.execute()

    async def totals(self, scopes: Sequence[str]) -> list[Totals]:
        """Each scope's totals, buyers, viewers and peak (one pipelined round trip)."""
        k = self._keys
        pipe = self._redis.pipeline(transaction=False)
        for scope in scopes:
            pipe.hgetall(k.stats_totals(scope))
            pipe.pfcount(k.stats_buyers(scope))
            pipe.pfcount(k.stats_viewers(scope))
            pipe.zscore(k.stats_peak(scope), PEAK)
        replies = await pipe.execute()
        out = []
        for i in range(len(scopes)):
            fields, buyers, viewers, peak = replies[4 * i : 4 * i + 4]
            flat = {text(name): text(value) for name, value in fields.items()}
            out.append(Totals.from_fields(flat, int(buyers), int(viewers), int(peak or 0)))
        return out

    async def per_minute(self, scope: str, minutes: Sequence[int]) -> list[int]:
        """Orders confirmed in each of ``minutes`` (their starts, unix ms); 0 for a minute without any."""
        pipe = self._redis.pipeline(transaction=False)
        for minute in minutes:
            pipe.hget(self._keys.stats_minute(scope, minute), "orders")
        return [int(n or 0) for n in await pipe.execute()]

    async def ranked(self, scope: str, n: int = 10) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """The scope's best brands and best stores by GMV (cents), best first."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrevrange(self._keys.stats_brands(scope), 0, n - 1, withscores=True)
        pipe.zrevrange(self._keys.stats_stores(scope), 0, n - 1, withscores=True)
        brands, stores = await pipe.execute()
        return _pairs(brands), _pairs(stores)

    async def mark_sold_out(self, sale_ids: Sequence[str], at_ms: int) -> None:
        """Remember ``at_ms`` as each sale's sell-out time unless one is already kept (SET NX)."""
        pipe = self._redis.pipeline(transaction=False)
        for sale_id in sale_ids:
            pipe.set(self._keys.sale_sold_out_at(sale_id), at_ms, nx=True, ex=self.ttl_s)
        await pipe.execute()

    async def sold_out_at(self, sale_ids: Sequence[str]) -> list[int | None]:
        pipe = self._redis.pipeline(transaction=False)
        for sale_id in sale_ids:
            pipe.get(self._keys.sale_sold_out_at(sale_id))
        return [int(v) if v is not None else None for v in await pipe.execute()]


def _pairs(raw: Any) -> list[tuple[str, int]]:
    return [(text(member), int(score)) for member, score in raw]
