"""Local fan-out: the hub, and broadcast of a channel's items to its subscribers on this node.

The broker hands every event and volatile update of a channel to
:meth:`Hub.deliver` (synchronously, in channel order).  Deliveries for a
channel are collected and flushed together on the next loop iteration, so
all items that arrived in one read from the backplane go out in **one write
per connection** (batching).  A flush builds each item's frame once per codec
and writes the same ``bytes`` to every subscriber: no per-subscriber encode,
no await, no task.  A big audience is written ``fanout_slice`` connections per
loop turn (:meth:`Hub._write_slices`).

:class:`Hub` is the façade the node calls.  This module is its hot path; the
rest lives beside it: channel state in :mod:`livehub.hub.channel`, joins,
leaves and broker subscriptions in :mod:`livehub.hub.subscriptions`, gap fill
and resync in :mod:`livehub.hub.gapfill`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from livehub import errors
from livehub.hub.channel import Channel, Item
from livehub.hub.connection import Connection
from livehub.hub.gapfill import OrderGuard
from livehub.hub.stats import Stats
from livehub.hub.subscriptions import Subscriptions
from livehub.protocol.codec import CODECS
from livehub.protocol.events import Event, Volatile, now_ms

if TYPE_CHECKING:
    from livehub.backplane.broker import Broker

log = logging.getLogger("livehub.hub.fanout")

Job = tuple[bytes, "list[Connection]"]  # a frame and the audience it goes to


class Hub:
    def __init__(
        self, stats: Stats, *, join_buffer_max: int = 10_000, release_delay_s: float = 5.0,
        observe_latency: Callable[[float], None] | None = None, fanout_slice: int = 16,
    ) -> None:  # fmt: skip
        self.stats = stats
        self.fanout_slice = fanout_slice
        self.channels: dict[str, Channel] = {}
        self.connections: dict[str, Connection] = {}
        self.broker: Broker | None = None
        self.join_buffer_max = join_buffer_max
        self.observe_latency = observe_latency
        self._dirty: list[Channel] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Future[None]] = set()  # background fills/unsubscribes, kept referenced
        self.subscriptions = Subscriptions(self.channels, self._background, release_delay_s=release_delay_s)
        self.order = OrderGuard(stats, self.deliver, join_buffer_max=join_buffer_max)

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def attach(self, broker: Broker) -> None:
        self.broker = broker
        self._loop = asyncio.get_running_loop()
        self.subscriptions.attach(broker, self._loop)
        self.order.attach(broker)

    # ---- connections --------------------------------------------------------------
    def add(self, conn: Connection) -> None:
        self.connections[conn.id] = conn
        conn.on_close = self.remove
        self.stats.connections_total += 1

    def remove(self, conn: Connection) -> None:
        self.connections.pop(conn.id, None)
        self.subscriptions.leave(conn)

    def count(self, channel: str) -> int:
        ch = self.channels.get(channel)
        return len(ch) if ch else 0

    # ---- membership (livehub.hub.subscriptions) ---------------------------------------------
    def begin_join(self, conn: Connection, channels: tuple[str, ...]) -> Coroutine[Any, Any, None]:
        """Register ``conn`` as joining ``channels``; await it until the broker delivers them."""
        return self.subscriptions.begin_join(conn, channels)

    def finish_join(self, conn: Connection, name: str, after: tuple[str, int], first: bytes = b"") -> None:
        """Release ``conn``'s join buffer of ``name`` after ``first`` and go live (see Subscriptions)."""
        self.subscriptions.finish_join(conn, name, after, first)

    def leave(self, conn: Connection) -> None:
        self.subscriptions.leave(conn)

    # ---- delivery from the broker -----------------------------------------------------------
    def deliver(self, channel: str, item: Item) -> None:
        """Called by the broker, in channel order, for every item of a subscribed channel."""
        ch = self.channels.get(channel)
        if ch is None:
            return
        if isinstance(item, Event):
            self.stats.events_in += 1
            if ch.filling:
                ch.held.append(item)
                return
            if ch.epoch is not None:
                if item.epoch != ch.epoch:
                    self.order.resync(ch, item)
                    return
                if item.offset <= ch.offset:
                    return  # already delivered (gap fill overlap)
                if item.offset > ch.offset + 1:
                    ch.filling = True
                    ch.held.append(item)
                    self._background(self.order.fill_gap(ch, ch.epoch, ch.offset))
                    return
            ch.epoch = item.epoch
            ch.offset = item.offset
        self._queue(ch, item)

    async def check_positions(self) -> None:
        """Compare every channel's delivered position with Redis; fill or resync (see OrderGuard.check)."""
        await self.order.check(self.channels, self._background)

    def positions_lost(self) -> None:
        """The backplane reconnected: events published meanwhile never came; check now."""
        self._background(self._check_quietly())

    async def _check_quietly(self) -> None:
        try:
            await self.check_positions()
        except Exception as exc:  # Redis still down: the periodic check tries again
            log.warning("position check after a reconnect failed: %r", exc)

    def broadcast_volatile(self, channel: str, key: str, message: dict[str, Any]) -> None:
        """A node-local latest-value update (online count, likes, stock) for a channel's audience."""
        ch = self.channels.get(channel)
        if ch is not None:
            self._queue(ch, Volatile(channel, key, message))

    def _queue(self, ch: Channel, item: Item) -> None:
        if isinstance(item, Volatile):
            index = ch.pending_keys.get(item.key)
            if index is not None:
                ch.pending[index] = item  # latest value wins inside a batch too
                self.stats.coalesced += 1
                return
            ch.pending_keys[item.key] = len(ch.pending)
        if not ch.pending:
            self._mark_dirty(ch)
        ch.pending.append(item)

    def _mark_dirty(self, ch: Channel) -> None:
        """``ch`` has pending items: flush it on the next loop turn."""
        self._dirty.append(ch)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            (self._loop or asyncio.get_running_loop()).call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for ch in dirty:
            if ch.fanning:  # an earlier batch is still being written: this one follows it (_write_slices)
                continue
            items, ch.pending = ch.pending, []
            ch.pending_keys.clear()
            if items:
                self._fan_out(ch, items)

    def _fan_out(self, ch: Channel, items: list[Item]) -> None:
        n = len(items)
        if self.observe_latency is not None:
            now = now_ms()
            for item in items:
                if isinstance(item, Event):
                    ts = item.publish_ts()
                    if ts:
                        self.observe_latency((now - ts) / 1000.0)
        floors = self._apply_floors(ch, items) if ch.floors else None
        jobs: list[Job] = []
        for index, codec in enumerate(CODECS):
            subs = ch.subs[index]
            if subs:
                data = items[0].frame(codec) if n == 1 else b"".join([item.frame(codec) for item in items])
                audience = list(subs) if floors is None else [c for c in subs if c not in floors]
                jobs.append((data, audience))  # the audience now: who joins later has it in its join buffer
        if ch.joining:
            for conn, buffer in list(ch.joining.items()):
                buffer.extend(items)
                if len(buffer) > self.join_buffer_max:
                    conn.close(errors.CLOSE_SLOW, "join buffer overflow: reconnect and resume")
        if jobs:
            self._write_slices(ch, items, jobs, 0, 0)

    def _apply_floors(self, ch: Channel, items: list[Item]) -> set[Connection]:
        """Connections whose snapshot is ahead of this node get the batch without the events it
        covers; returns them (not in the common audience).  Floors reached are dropped."""
        held = set(ch.floors)
        for conn, floor in list(ch.floors.items()):
            keep = [i for i in items if not isinstance(i, Event) or i.offset > floor]
            if keep and (conn.paused or conn.backlog):
                conn.send_items(keep)
            elif keep:
                conn.send(b"".join([i.frame(conn.codec) for i in keep]))
            if floor <= ch.offset:
                del ch.floors[conn]
        return held

    def _write_slices(self, ch: Channel, items: list[Item], jobs: list[Job], job: int, start: int) -> None:
        """Write the batch to at most ``fanout_slice`` connections, then yield to the loop and go on.

        Buys, joins and every other socket get a turn between slices, so one broadcast to a big
        audience never stalls the loop for long; batches of one channel still reach each
        connection in order (the next batch waits for this one, see ``flush``).  The audience is
        the one at the start of the broadcast: a connection that joined since has the batch in its
        join buffer, and one that left since (``Channel.departed``) is skipped, even if it came back.
        """
        budget = self.fanout_slice
        stats = self.stats
        n = len(items)
        while job < len(jobs) and budget > 0:
            data, audience = jobs[job]
            part = audience[start:start + budget]
            start += len(part)
            budget -= len(part)
            if ch.departed:
                part = [conn for conn in part if conn not in ch.departed]
            slow: list[Connection] | None = None
            for conn in part:
                if conn.paused or conn.backlog:
                    if slow is None:
                        slow = []
                    slow.append(conn)
                else:
                    conn.write(data)
            fast = len(part) - (len(slow) if slow else 0)
            stats.writes += fast
            if n > 1:
                stats.batched_writes += fast
            stats.frames_sent += fast * n
            stats.bytes_sent += fast * len(data)
            if slow:
                for conn in slow:
                    conn.send_items(items)
                stats.frames_sent += len(slow) * n
            if start >= len(audience):
                job, start = job + 1, 0
        if job < len(jobs):
            ch.fanning = True
            loop = self._loop or asyncio.get_running_loop()
            loop.call_soon(self._write_slices, ch, items, jobs, job, start)
        elif ch.fanning:
            ch.fanning = False
            ch.departed.clear()
            if ch.pending:  # batches that arrived while this one was being written
                self._mark_dirty(ch)

    # ---- lifecycle ----------------------------------------------------------------------------
    async def stop(self) -> None:
        """After :meth:`drain`, before the broker closes: cancel the release timers and the background
        fills and unsubscribes still running, and wait for them to end (none outlives the node's loop)."""
        self.subscriptions.stop()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self, code: int, reason: str, batch: int, interval_s: float) -> None:
        """Close every connection, ``batch`` at a time (graceful shutdown: 1012)."""
        while self.connections:
            for conn in list(self.connections.values())[:batch]:
                conn.close(code, reason)
                self.connections.pop(conn.id, None)
            if self.connections:
                await asyncio.sleep(interval_s)
