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
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from livehub import errors
from livehub.hub.channel import Channel, Item
from livehub.hub.stats import Stats
from livehub.protocol.events import Event

if TYPE_CHECKING:
    from livehub.backplane.broker import Broker

log = logging.getLogger("livehub.hub.gapfill")

Background = Callable[[Coroutine[Any, Any, None]], None]


class OrderGuard:
    """Gap fill and resync for the hub; ``deliver`` is the hub's own delivery (in channel order)."""

    def __init__(self, stats: Stats, deliver: Callable[[str, Item], None], *, join_buffer_max: int) -> None:
        self.stats = stats
        self.join_buffer_max = join_buffer_max
        self.broker: Broker | None = None
        self._deliver = deliver

    def attach(self, broker: Broker) -> None:
        self.broker = broker

    async def fill_gap(self, ch: Channel, epoch: str, after: int, upto: int | None = None) -> None:
        """Read what is missing after ``after`` from history, then deliver it and the held events.

        The missing events end right before the first held event, or at ``upto`` when nothing is
        held (a position check found the channel behind Redis: events were never delivered)."""
        assert self.broker is not None
        first_held = ch.held[0] if ch.held else None
        target = first_held.offset - 1 if isinstance(first_held, Event) else (upto if upto is not None else after)
        missing: list[Event] | None = None
        failed = False
        try:
            limit = max(target - after, self.join_buffer_max)
            missing = await self.broker.history(ch.name, epoch, after, limit)
        except Exception:
            log.exception("gap fill on %s failed", ch.name)
            failed = True
        held, ch.held = ch.held, []
        ch.filling = False
        if failed and first_held is None:  # a position check's fill: the next check tries again
            return
        if missing is not None and target > after and (not missing or missing[-1].offset < target):
            missing = None  # history does not reach the held event: treat as lost
        if missing is None:
            log.warning("gap on channel %s after offset %d not recoverable: resync", ch.name, after)
            self.resync(ch, None)
            return
        if missing:
            self.stats.gaps_filled += 1
        for item in [*missing, *held]:
            self._deliver(ch.name, item)

    async def check(self, channels: dict[str, Channel], background: Background) -> None:
        """The position check: compare each channel's last delivered position on this node with
        the channel's position in Redis (one pipelined read).  Behind in the same epoch: the
        missing events are read from history and delivered (as a gap fill; a resync if history no
        longer has them).  Another epoch, or a channel Redis no longer knows (restarted empty,
        flushed): the channel's connections are closed with 4009 and resume with a fresh snapshot.

        Runs every ``position_check_interval_s`` and right after the backplane reconnects, so
        an event missed during an outage on a quiet channel (a ``sale.started`` nobody follows
        with another event) is delivered anyway.  Channels that have delivered nothing, with
        only volatile traffic, or in a gap fill already, are skipped."""
        assert self.broker is not None
        known = {
            name: (ch.epoch, ch.offset)
            for name, ch in channels.items()
            if ch.epoch is not None and not ch.filling and len(ch)
        }
        if not known:
            return
        names = list(known)
        positions = await self.broker.positions(names)
        for name, position in zip(names, positions, strict=True):
            ch = channels.get(name)
            epoch, offset = known[name]
            # (events keep arriving during the read: the node may be further than what was read;
            # what it had delivered *before* the read is what Redis cannot be behind of. A channel
            # whose epoch changed meanwhile was handled by its delivery)
            if ch is None or ch.epoch is None or ch.filling or ch.epoch != epoch:
                continue
            self.stats.position_checks += 1
            if position is None or position[0] != epoch or position[1] < offset:  # lost, new epoch, rewound
                log.warning("channel %s: history changed under this node (%s, now %s): resync",
                            name, (ch.epoch, ch.offset), position)  # fmt: skip
                self.resync(ch, None)
            elif position[1] > ch.offset:
                log.info("channel %s: %d events behind Redis; reading them from history", name, position[1] - ch.offset)
                ch.filling = True
                background(self.fill_gap(ch, ch.epoch, ch.offset, upto=position[1]))

    def resync(self, ch: Channel, item: Event | None) -> None:
        """History broke under the channel: everyone resumes (they will get a fresh snapshot)."""
        self.stats.resyncs += 1
        for conn in list(ch.connections()):
            conn.close(errors.CLOSE_RESYNC, "channel history changed: reconnect and resume")
        ch.floors.clear()
        if item is not None:
            ch.epoch = item.epoch
            ch.offset = item.offset
        else:  # the next joiner gives the channel its position again
            ch.epoch = None
            ch.offset = 0
