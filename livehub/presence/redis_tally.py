"""The Redis tally: online counts in one hash per venue (field = node id, value =
``count:unix_ms``), likes in one integer per venue, one pipeline per report.

The hash expires after ten intervals (at least 10 s) without a report from any node, so a
festival whose nodes all stopped leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from redis.asyncio import Redis
from redis.exceptions import RedisError

from livehub.presence.tally import stale_before
from livehub.store.keys import Keys


class RedisTally:
    def __init__(self, redis: Redis, keys: Keys, node_id: str, interval_s: float) -> None:
        self.redis = redis
        self.keys = keys
        self.node_id = node_id
        self.interval_s = interval_s

    async def report(
        self, counts: Mapping[str, int], likes: Mapping[str, int], now_ms: int
    ) -> dict[str, tuple[int, int]]:
        venues = list(counts)
        ttl = max(10, int(self.interval_s * 10))
        async with self.redis.pipeline(transaction=False) as pipe:
            for venue in venues:
                key = self.keys.online(venue)
                pipe.hset(key, self.node_id, f"{counts[venue]}:{now_ms}")
                pipe.expire(key, ttl)
                pipe.hgetall(key)
                if likes.get(venue):
                    pipe.incrby(self.keys.likes(venue), likes[venue])
                else:
                    pipe.get(self.keys.likes(venue))
            for venue in set(likes) - set(venues):
                pipe.incrby(self.keys.likes(venue), likes[venue])
            replies = await pipe.execute()
        cutoff = stale_before(now_ms, self.interval_s)
        out: dict[str, tuple[int, int]] = {}
        for i, venue in enumerate(venues):
            fields = replies[i * 4 + 2]
            total = 0
            stale = []
            for node, value in fields.items():
                count, _, ts = value.partition(b":")
                if int(ts or 0) < cutoff:
                    stale.append(node)
                else:
                    total += int(count)
            if stale:
                await self.redis.hdel(self.keys.online(venue), *stale)
            out[venue] = (total, int(replies[i * 4 + 3] or 0))
        return out

    async def withdraw(self, venues: Iterable[str]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for venue in venues:
                    pipe.hdel(self.keys.online(venue), self.node_id)
                await pipe.execute()
        except RedisError:
            pass
