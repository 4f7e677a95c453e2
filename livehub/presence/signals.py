"""Audience signals: online counts, likes and comments.

* **Online count** per venue, summed across nodes: every ``online_interval_s``
  each node writes its own count into a Redis hash (field = node id, value =
  ``count:unix_ms``) and reads the hash back; fields older than three intervals
  (a dead node) are ignored and removed.  The main venue's count is every viewer
  of the festival (everyone watches the main stream); a brand venue's count is
  the viewers in that brand room.
* **Likes** are summed on the node and added to Redis once per interval
  (INCRBY), never per tap; the total is pushed as a latest-value update.
* **Comments**: a size limit and a per-viewer token bucket (protocol layer), and
  a per-room, per-node token bucket of ``comment_room_rate``: in a huge room
  the surplus is sampled out (counted in ``livehub_dropped_total``), and each
  node re-samples what it receives so one room never costs more than that rate
  per node.  Comments are droppable volatile updates: a slow connection skips
  them rather than queueing them.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from livehub.backplane.broker import Broker
from livehub.domain.ratelimit import TokenBucket
from livehub.domain.topology import Festival, room_channel
from livehub.hub.fanout import Hub
from livehub.protocol.events import Volatile, now_ms
from livehub.runtime.periodic import every
from livehub.settings import Settings
from livehub.store.keys import Keys

log = logging.getLogger("livehub.presence.signals")

DROPPABLE = "~"  # volatile keys starting with this are dropped, not queued, for slow connections


class AudienceSignals:
    def __init__(
        self, settings: Settings, festival: Festival, redis: Redis, keys: Keys, hub: Hub, broker: Broker,
        node_id: str,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.festival = festival
        self.redis = redis
        self.keys = keys
        self.hub = hub
        self.broker = broker
        self.node_id = node_id
        self.online: dict[str, int] = {}
        self.likes: dict[str, int] = {}
        self._likes_pending: Counter[str] = Counter()
        self._room_out: dict[str, TokenBucket] = {}
        self._room_in: dict[str, TokenBucket] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(every(self.settings.online_interval_s, self.tick, "signals"),
                                         name="livehub-signals")  # fmt: skip

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        try:  # leave the online sums at once rather than after three intervals
            async with self.redis.pipeline(transaction=False) as pipe:
                for venue in self.festival.venues:
                    pipe.hdel(self.keys.online(venue), self.node_id)
                await pipe.execute()
        except RedisError:
            pass

    def counters(self, venue: str) -> dict[str, Any]:
        return {"online": self.online.get(venue, 0), "likes": self.likes.get(venue, 0)}

    # ---- inbound -----------------------------------------------------------------------
    def like(self, venue: str, n: int) -> None:
        self._likes_pending[venue] += n

    async def comment(self, venue: str, user: str, text: str) -> bool:
        """Publish a comment to the room; False if sampled out by the room's rate."""
        now = time.monotonic()
        bucket = self._room_out.get(venue)
        if bucket is None:
            rate = self.settings.comment_room_rate
            bucket = self._room_out[venue] = TokenBucket(rate, rate, now)
        if not bucket.take(now):
            self.hub.stats.dropped += 1
            return False
        message = {"type": "comment", "venue": venue, "user": user, "text": text, "ts": now_ms()}
        await self.broker.publish_volatile(room_channel(venue), DROPPABLE + "c" + uuid.uuid4().hex[:12], message)
        return True

    def admit_incoming_comment(self, venue: str) -> bool:
        """Receive-side sampling: at most comment_room_rate comments/s per room per node."""
        now = time.monotonic()
        bucket = self._room_in.get(venue)
        if bucket is None:
            rate = self.settings.comment_room_rate
            bucket = self._room_in[venue] = TokenBucket(rate, rate, now)
        if bucket.take(now):
            return True
        self.hub.stats.dropped += 1
        return False

    def filter(self, channel: str, item: Volatile) -> bool:
        if item.key.startswith(DROPPABLE + "c"):
            return self.admit_incoming_comment(channel)
        return True

    # ---- the periodic tick ---------------------------------------------------------------
    def local_counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        main = self.festival.main_venue
        for conn in self.hub.connections.values():
            if conn.venue is not None:
                counts[main] += 1
                if conn.venue != main:
                    counts[conn.venue] += 1
        return counts

    async def tick(self) -> None:
        counts = self.local_counts()
        venues = [v for v in self.festival.venues if counts.get(v) or self.hub.count(v)]
        if not venues and not self._likes_pending:
            return
        likes, self._likes_pending = self._likes_pending, Counter()
        stamp = now_ms()
        ttl = max(10, int(self.settings.online_interval_s * 10))
        async with self.redis.pipeline(transaction=False) as pipe:
            for venue in venues:
                key = self.keys.online(venue)
                pipe.hset(key, self.node_id, f"{counts.get(venue, 0)}:{stamp}")
                pipe.expire(key, ttl)
                pipe.hgetall(key)
                if likes.get(venue):
                    pipe.incrby(self.keys.likes(venue), likes[venue])
                else:
                    pipe.get(self.keys.likes(venue))
            for venue in set(likes) - set(venues):
                pipe.incrby(self.keys.likes(venue), likes[venue])
            replies = await pipe.execute()
        stale_after = stamp - int(self.settings.online_interval_s * 3000)
        for i, venue in enumerate(venues):
            fields = replies[i * 4 + 2]
            total = 0
            stale = []
            for node, value in fields.items():
                count, _, ts = value.partition(b":")
                if int(ts or 0) < stale_after:
                    stale.append(node)
                else:
                    total += int(count)
            if stale:
                await self.redis.hdel(self.keys.online(venue), *stale)
            like_total = int(replies[i * 4 + 3] or 0)
            if self.online.get(venue) != total:
                self.online[venue] = total
                self.hub.broadcast_volatile(venue, "online", {"type": "online", "venue": venue, "count": total})
            if self.likes.get(venue) != like_total:
                self.likes[venue] = like_total
                self.hub.broadcast_volatile(venue, "likes", {"type": "likes", "venue": venue, "count": like_total})
