"""Channel membership on this node, and when the node subscribes a channel on the broker.

A node subscribes a channel on the broker once, for its first joiner (never per viewer), and
unsubscribes it ``release_delay_s`` after its last connection left, unless someone joined
again meanwhile (a viewer who reconnects, or switches back, keeps the subscription warm).

Joining is race-free: a joining connection is registered (and its channel subscribed on the
broker) *before* its snapshot or history is read (:meth:`Subscriptions.begin_join`); what
arrives meanwhile waits in a per-connection join buffer, filled by the fan-out, and is
released, deduplicated by offset, when the join completes (:meth:`Subscriptions.finish_join`).

The snapshot is read on another Redis connection than the subscription, so it can cover an
event this node has not received yet: such a connection goes live with a *floor* (its
snapshot's offset) and the fan-out skips it for events up to the floor (``Channel.floors``);
the floor goes once the node delivered past it.  The first connection to go live gives the
channel its starting position (when no other is still joining), so the periodic position
check (:meth:`livehub.hub.gapfill.OrderGuard.check`) can see events missed on a quiet channel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from livehub.hub.channel import Channel
from livehub.hub.connection import Connection
from livehub.protocol.events import Event

if TYPE_CHECKING:
    from livehub.backplane.broker import Broker

log = logging.getLogger("livehub.hub.subscriptions")

Background = Callable[[Coroutine[Any, Any, None]], None]


class Subscriptions:
    """Joins, leaves and broker subscriptions of the channels in ``channels`` (the hub's own dict)."""

    def __init__(self, channels: dict[str, Channel], background: Background, *, release_delay_s: float) -> None:
        self.channels = channels
        self.release_delay_s = release_delay_s
        self.broker: Broker | None = None
        self._background = background
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, broker: Broker, loop: asyncio.AbstractEventLoop) -> None:
        self.broker = broker
        self._loop = loop

    async def begin_join(self, conn: Connection, channels: tuple[str, ...]) -> None:
        """Register ``conn`` as joining ``channels`` and wait until the broker delivers them."""
        assert self.broker is not None
        self.leave(conn)
        conn.channels = channels
        waits = []
        for name in channels:
            ch = self.channels.get(name)
            if ch is None:
                ch = self.channels[name] = Channel(name)
            if ch.release is not None:
                ch.release.cancel()
                ch.release = None
            ch.joining[conn] = []
            if ch.ready is None:
                ch.ready = asyncio.ensure_future(self.broker.subscribe(name))
            waits.append(ch.ready)
        if all(w.done() and not w.cancelled() and w.exception() is None for w in waits):
            return  # every channel subscribed already (the common join): nothing to wait for
        try:
            # shielded: cancelling one joiner must not cancel the subscription others wait on
            await asyncio.gather(*(asyncio.shield(w) for w in waits))
        except BaseException:
            for name in channels:
                ch = self.channels.get(name)
                if ch is not None and ch.ready is not None and ch.ready.done() and (
                    ch.ready.cancelled() or ch.ready.exception() is not None
                ):
                    ch.ready = None
            self.leave(conn)
            raise

    def finish_join(self, conn: Connection, name: str, after: tuple[str, int], first: bytes = b"") -> None:
        """Release the join buffer (events after ``after`` = (epoch, offset)) and go live.

        ``first`` (the snapshot and any replayed events) is written before the buffer,
        in the same write.
        """
        ch = self.channels.get(name)
        if ch is None or conn.closed:
            return
        buffered = ch.joining.pop(conn, None)
        if buffered is None:
            return
        epoch, offset = after
        codec = conn.codec
        parts = [first] if first else []
        for item in buffered:
            if isinstance(item, Event):
                if item.epoch == epoch and item.offset <= offset:
                    continue
            parts.append(item.frame(codec))
        if parts:
            conn.send(b"".join(parts))
            if conn.closed:  # that send overflowed its backlog: the connection is gone already
                return
        if epoch:
            if ch.epoch is None:
                ch.floors[conn] = offset
                if not ch.joining:  # nobody still joining could need an event below this
                    ch.epoch, ch.offset = epoch, min(ch.floors.values())
                    ch.floors = {c: f for c, f in ch.floors.items() if f > ch.offset}
            elif ch.epoch == epoch and (ch.offset < offset or ch.pending):
                ch.floors[conn] = offset  # (events queued, not yet fanned out, may be in the snapshot)
        ch.subs[conn.codec_index][conn] = None

    def leave(self, conn: Connection) -> None:
        for name in conn.channels:
            ch = self.channels.get(name)
            if ch is None:
                continue
            ch.subs[conn.codec_index].pop(conn, None)
            ch.joining.pop(conn, None)
            ch.floors.pop(conn, None)
            if ch.fanning:  # not in the rest of the broadcast being written, even if it rejoins meanwhile
                ch.departed.add(conn)
            if not len(ch) and ch.release is None and self._loop is not None:
                ch.release = self._loop.call_later(self.release_delay_s, self._release, name)
        conn.channels = ()

    def stop(self) -> None:
        """Shutting down: no release timer fires any more (the broker is about to close)."""
        for ch in self.channels.values():
            if ch.release is not None:
                ch.release.cancel()
                ch.release = None
        self._loop = None  # a leave from now on schedules no release

    def _release(self, name: str) -> None:
        ch = self.channels.get(name)
        if ch is None or len(ch):
            return
        del self.channels[name]
        if self.broker is not None and ch.ready is not None:
            self._background(self.broker.unsubscribe(name))
