"""Order guards of a channel's events on this node.

The hub delivers a channel's events strictly in offset order.  An event whose offset skips
ahead (e.g. after a backplane reconnect) holds the channel (``Channel.filling``) while the
missing events are read from the broker's history (:meth:`OrderGuard.fill_gap`); then the
missing and the held events are delivered again, in order.  When history cannot fill the gap,
or the epoch changed (history lost), the channel's connections are closed with 4009
(:meth:`OrderGuard.resync`) so that they resume with a fresh snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from livehub import errors
from livehub.hub.channel import Channel, Item
from livehub.hub.stats import Stats
from livehub.protocol.events import Event

if TYPE_CHECKING:
    from livehub.backplane.broker import Broker

log = logging.getLogger("livehub.hub.gapfill")


class OrderGuard:
    """Gap fill and resync for the hub; ``deliver`` is the hub's own delivery (in channel order)."""

    def __init__(self, stats: Stats, deliver: Callable[[str, Item], None], *, join_buffer_max: int) -> None:
        self.stats = stats
        self.join_buffer_max = join_buffer_max
        self.broker: Broker | None = None
        self._deliver = deliver

    def attach(self, broker: Broker) -> None:
        self.broker = broker

    async def fill_gap(self, ch: Channel, epoch: str, after: int) -> None:
        """Read what is missing after ``after`` from history, then deliver it and the held events."""
        assert self.broker is not None
        first_held = ch.held[0]
        assert isinstance(first_held, Event)
        missing: list[Event] | None = None
        try:
            limit = max(first_held.offset - after - 1, self.join_buffer_max)
            missing = await self.broker.history(ch.name, epoch, after, limit)
        except Exception:
            log.exception("gap fill on %s failed", ch.name)
        held, ch.held = ch.held, []
        ch.filling = False
        if missing is not None and (not missing or missing[-1].offset < first_held.offset - 1):
            missing = None  # history does not reach the held event: treat as lost
        if missing is None:
            log.warning("gap on channel %s after offset %d not recoverable: resync", ch.name, after)
            ch.epoch = None
            self.resync(ch, None)
            return
        self.stats.gaps_filled += 1
        for item in [*missing, *held]:
            self._deliver(ch.name, item)

    def resync(self, ch: Channel, item: Event | None) -> None:
        """History broke under the channel: everyone resumes (they will get a fresh snapshot)."""
        self.stats.resyncs += 1
        for conn in list(ch.connections()):
            conn.close(errors.CLOSE_RESYNC, "channel history changed: reconnect and resume")
        if item is not None:
            ch.epoch = item.epoch
            ch.offset = item.offset
