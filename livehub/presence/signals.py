"""Audience signals: online counts, likes and comments of a node's viewers.

:class:`AudienceSignals` composes the shared :class:`~livehub.presence.tally.Tally` (online
counts and likes across nodes: in memory or in Redis) and the room :class:`Comments`:

* **Online count** per venue, summed across nodes: every ``online_interval_s`` the node
  reports its own count per venue to the tally and reads the sums back (a dead node's count
  is ignored after three intervals).  The main venue's count is every viewer of the festival
  (everyone watches the main stream); a brand venue's count is the viewers in that brand room.
* **Likes** are summed on the node and added to the tally once per interval, never per tap.
* Both are pushed to the venue's audience as latest-value updates (``online``, ``likes``),
  only when they changed.
* A venue the node has reported once stays in its reports for the node's lifetime, with a
  count of 0 once its last viewer there left: that replaces the node's own last count at once
  (not three intervals later) and keeps the node's sum fresh for its next joiner's snapshot.
  Bounded by the festival's venues; a node that never had a viewer reports nothing.
* **Comments**: see :mod:`livehub.presence.comments`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from livehub.backplane.broker import Broker
from livehub.domain.topology import Festival
from livehub.hub.connection import DROPPABLE
from livehub.hub.fanout import Hub
from livehub.presence.comments import Comments
from livehub.presence.tally import Tally
from livehub.protocol import frames
from livehub.protocol.events import Volatile, now_ms
from livehub.runtime.periodic import every
from livehub.settings import Settings

__all__ = ["DROPPABLE", "AudienceSignals"]

log = logging.getLogger("livehub.presence.signals")


class AudienceSignals:
    def __init__(self, settings: Settings, festival: Festival, hub: Hub, broker: Broker, tally: Tally) -> None:
        self.settings = settings
        self.festival = festival
        self.hub = hub
        self.tally = tally
        self.comments = Comments(settings.comment_room_rate, hub.stats, broker)
        self.online: dict[str, int] = {}
        self.likes: dict[str, int] = {}
        self._likes_pending: Counter[str] = Counter()
        self._summed: set[str] = set()  # venues reported at least once: re-summed every tick from then on
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
        await self.tally.withdraw(self.festival.venues)  # leave the online sums at once, not after three intervals

    def counters(self, venue: str) -> dict[str, Any]:
        return {"online": self.online.get(venue, 0), "likes": self.likes.get(venue, 0)}

    # ---- inbound -----------------------------------------------------------------------
    def like(self, venue: str, n: int) -> None:
        self._likes_pending[venue] += n

    async def comment(self, venue: str, user: str, text: str) -> bool:
        """Publish a comment to the room; False if sampled out by the room's rate."""
        return await self.comments.publish(venue, user, text)

    def admit_incoming_comment(self, venue: str) -> bool:
        """Receive-side sampling: at most comment_room_rate comments/s per room per node."""
        return self.comments.admit_incoming(venue)

    def filter(self, channel: str, item: Volatile) -> bool:
        return self.comments.filter(channel, item)

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
        summed = self._summed
        venues = {v: counts.get(v, 0) for v in self.festival.venues
                  if counts.get(v) or v in summed or self.hub.count(v)}  # fmt: skip
        if not venues and not self._likes_pending:
            return
        likes, self._likes_pending = self._likes_pending, Counter()
        totals = await self.tally.report(venues, likes, now_ms())
        summed.update(venues)
        for venue, (total, like_total) in totals.items():
            if self.online.get(venue) != total:
                self.online[venue] = total
                self.hub.broadcast_volatile(venue, "online", frames.online(venue, total))
            if self.likes.get(venue) != like_total:
                self.likes[venue] = like_total
                self.hub.broadcast_volatile(venue, "likes", frames.likes(venue, like_total))
