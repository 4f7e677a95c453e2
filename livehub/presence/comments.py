"""Comments of a venue's room: sampled to a rate per room and node, sent as droppable updates.

A comment is checked for size and by a per-viewer token bucket in the protocol layer; here
each room has a per-node token bucket of ``comment_room_rate`` on the way out
(:meth:`Comments.publish`): in a huge room the surplus is sampled out (counted in
``livehub_dropped_total``), and each node re-samples what it receives
(:meth:`Comments.admit_incoming`) so one room never costs more than that rate per node.
Comments are volatile updates whose key starts with :data:`livehub.hub.connection.DROPPABLE`: a slow connection
skips them rather than queueing them (see :meth:`livehub.hub.connection.Connection.send_volatile`).
"""

from __future__ import annotations

import logging
import time
import uuid

from livehub.backplane.broker import Broker
from livehub.domain.ratelimit import TokenBucket
from livehub.domain.topology import room_channel
from livehub.hub.connection import DROPPABLE
from livehub.hub.stats import Stats
from livehub.protocol import frames
from livehub.protocol.events import Volatile, now_ms

log = logging.getLogger("livehub.presence.comments")

COMMENT = DROPPABLE + "c"  # the key prefix of a comment (one key per comment: never coalesced)


class Comments:
    def __init__(self, room_rate: float, stats: Stats, broker: Broker) -> None:
        self.room_rate = room_rate
        self.stats = stats
        self.broker = broker
        self._room_out: dict[str, TokenBucket] = {}
        self._room_in: dict[str, TokenBucket] = {}

    async def publish(self, venue: str, user: str, text: str) -> bool:
        """Publish a comment to the room; False if sampled out by the room's rate."""
        now = time.monotonic()
        bucket = self._room_out.get(venue)
        if bucket is None:
            rate = self.room_rate
            bucket = self._room_out[venue] = TokenBucket(rate, rate, now)
        if not bucket.take(now):
            self.stats.dropped += 1
            return False
        comment_id = uuid.uuid4().hex[:12]
        message = frames.comment(venue, user, text, now_ms(), comment_id)
        await self.broker.publish_volatile(room_channel(venue), COMMENT + comment_id, message)
        return True

    def admit_incoming(self, venue: str) -> bool:
        """Receive-side sampling: at most ``room_rate`` comments/s per room per node."""
        now = time.monotonic()
        bucket = self._room_in.get(venue)
        if bucket is None:
            rate = self.room_rate
            bucket = self._room_in[venue] = TokenBucket(rate, rate, now)
        if bucket.take(now):
            return True
        self.stats.dropped += 1
        return False

    def filter(self, channel: str, item: Volatile) -> bool:
        """Whether a volatile update from the backplane goes on to the hub (comments are sampled)."""
        if item.key.startswith(COMMENT):
            return self.admit_incoming(channel)
        return True
