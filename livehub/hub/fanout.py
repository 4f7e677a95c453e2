"""Local fan-out: channels, their subscribers on this node, and broadcast.

The broker hands every event and volatile update of a channel to
:meth:`Hub.deliver` (synchronously, in channel order).  Deliveries for a
channel are collected and flushed together on the next loop iteration, so
all items that arrived in one read from the backplane go out in **one write
per connection** (batching).  A flush builds each item's frame once per codec
and writes the same ``bytes`` to every subscriber: no per-subscriber encode,
no await, no task.

Joining is race-free: a joining connection is registered (and its channel
subscribed on the broker) *before* its snapshot or history is read; what
arrives meanwhile waits in a per-connection join buffer and is released,
deduplicated by offset, when the join completes.

The hub also guards each channel's order: an event whose offset skips ahead
(e.g. after a backplane reconnect) triggers a gap fill from history before
anything newer is sent; a changed epoch (history lost) closes the channel's
connections with 4009 so that they resume with a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any

from livehub import errors
from livehub.hub.connection import Connection
from livehub.hub.stats import Stats
from livehub.protocol.codec import CODECS
from livehub.protocol.events import Event, Volatile, now_ms

if TYPE_CHECKING:
    from livehub.backplane.broker import Broker

log = logging.getLogger("livehub.hub.fanout")

Item = Event | Volatile
Job = tuple[bytes, "list[Connection]"]  # a frame and the audience it goes to


class Channel:
    __slots__ = (
        "departed", "epoch", "fanning", "filling", "held", "joining", "name", "offset", "pending", "pending_keys",
        "ready", "release", "subs",
    )  # fmt: skip

    def __init__(self, name: str) -> None:
        self.name = name
        self.subs: list[dict[Connection, None]] = [{} for _ in CODECS]  # live subscribers per codec
        self.joining: dict[Connection, list[Item]] = {}  # join buffers
        self.pending: list[Item] = []
        self.pending_keys: dict[str, int] = {}  # volatile key -> index in pending
        self.epoch: str | None = None  # position of the last event delivered on this node
        self.offset = 0
        self.ready: asyncio.Future[None] | None = None  # broker subscription confirmed
        self.release: asyncio.TimerHandle | None = None  # delayed broker unsubscribe
        self.filling = False  # a gap fill is running; live events are held meanwhile
        self.held: list[Item] = []
        self.fanning = False  # a batch is being written slice by slice (Hub._write_slices)
        self.departed: set[Connection] = set()  # left the channel while it was fanning: skipped

    def __len__(self) -> int:
        return sum(len(s) for s in self.subs) + len(self.joining)

    def connections(self) -> Iterator[Connection]:
        for subs in self.subs:
            yield from subs
        yield from self.joining


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
        self.release_delay_s = release_delay_s
        self.observe_latency = observe_latency
        self._dirty: list[Channel] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Future[None]] = set()  # background fills/unsubscribes, kept referenced

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def attach(self, broker: Broker) -> None:
        self.broker = broker
        self._loop = asyncio.get_running_loop()

    # ---- connections --------------------------------------------------------------
    def add(self, conn: Connection) -> None:
        self.connections[conn.id] = conn
        conn.on_close = self.remove
        self.stats.connections_total += 1

    def remove(self, conn: Connection) -> None:
        self.connections.pop(conn.id, None)
        self.leave(conn)

    def count(self, channel: str) -> int:
        ch = self.channels.get(channel)
        return len(ch) if ch else 0

    # ---- membership -----------------------------------------------------------------
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
        ch.subs[conn.codec_index][conn] = None

    def leave(self, conn: Connection) -> None:
        for name in conn.channels:
            ch = self.channels.get(name)
            if ch is None:
                continue
            ch.subs[conn.codec_index].pop(conn, None)
            ch.joining.pop(conn, None)
            if ch.fanning:  # not in the rest of the broadcast being written, even if it rejoins meanwhile
                ch.departed.add(conn)
            if not len(ch) and ch.release is None and self._loop is not None:
                ch.release = self._loop.call_later(self.release_delay_s, self._release, name)
        conn.channels = ()

    def _release(self, name: str) -> None:
        ch = self.channels.get(name)
        if ch is None or len(ch):
            return
        del self.channels[name]
        if self.broker is not None and ch.ready is not None:
            self._background(self.broker.unsubscribe(name))

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
                    self._resync(ch, item)
                    return
                if item.offset <= ch.offset:
                    return  # already delivered (gap fill overlap)
                if item.offset > ch.offset + 1:
                    ch.filling = True
                    ch.held.append(item)
                    self._background(self._fill_gap(ch, ch.epoch, ch.offset))
                    return
            ch.epoch = item.epoch
            ch.offset = item.offset
        self._queue(ch, item)

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
        jobs: list[Job] = []
        for index, codec in enumerate(CODECS):
            subs = ch.subs[index]
            if subs:
                data = items[0].frame(codec) if n == 1 else b"".join([item.frame(codec) for item in items])
                jobs.append((data, list(subs)))  # the audience now: who joins later has it in its join buffer
        if ch.joining:
            for conn, buffer in list(ch.joining.items()):
                buffer.extend(items)
                if len(buffer) > self.join_buffer_max:
                    conn.close(errors.CLOSE_SLOW, "join buffer overflow: reconnect and resume")
        if jobs:
            self._write_slices(ch, items, jobs, 0, 0)

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

    # ---- order guards -----------------------------------------------------------------------
    async def _fill_gap(self, ch: Channel, epoch: str, after: int) -> None:
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
            self._resync(ch, None)
            return
        self.stats.gaps_filled += 1
        for item in [*missing, *held]:
            self.deliver(ch.name, item)

    def _resync(self, ch: Channel, item: Event | None) -> None:
        """History broke under the channel: everyone resumes (they will get a fresh snapshot)."""
        self.stats.resyncs += 1
        for conn in list(ch.connections()):
            conn.close(errors.CLOSE_RESYNC, "channel history changed: reconnect and resume")
        if item is not None:
            ch.epoch = item.epoch
            ch.offset = item.offset

    # ---- lifecycle ----------------------------------------------------------------------------
    async def drain(self, code: int, reason: str, batch: int, interval_s: float) -> None:
        """Close every connection, ``batch`` at a time (graceful shutdown: 1012)."""
        while self.connections:
            for conn in list(self.connections.values())[:batch]:
                conn.close(code, reason)
                self.connections.pop(conn.id, None)
            if self.connections:
                await asyncio.sleep(interval_s)
