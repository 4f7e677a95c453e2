"""The join protocol: subscribe a connection to a venue and send its snapshot, or resume it
exactly from the client's positions (docs/architecture.md, "Order and recovery").

Joins share snapshot reads (:class:`SharedSnapshots`): a join storm costs one read per channel
each time the channel moves on, not one per joiner.

Also the HTTP read of a venue's snapshot, and how channel state is presented to clients;
both read the same broker snapshots as a join.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable, Sequence
from typing import Any

from livehub import errors
from livehub.backplane.broker import Broker, Snapshot
from livehub.domain.roles import channels_of, venue_or_404
from livehub.domain.topology import Festival
from livehub.errors import LivehubError
from livehub.hub.channel import Channel
from livehub.hub.connection import Connection
from livehub.hub.fanout import Hub
from livehub.hub.stats import Stats
from livehub.protocol import frames
from livehub.protocol.events import Event, now_ms

log = logging.getLogger("livehub.hub.recovery")

CounterSource = Callable[[str], dict[str, Any]]


def present_state(state: dict[str, Any]) -> dict[str, Any]:
    """Channel state as clients see it: fields ``<kind>:<id>`` grouped into ``<kind>s``
    (``sale:s1`` -> ``state["sales"]["s1"]``), other fields as they are."""
    out: dict[str, Any] = {}
    for field, value in state.items():
        kind, sep, key = field.partition(":")
        if sep:
            out.setdefault(kind + "s", {})[key] = value
        else:
            out[field] = value
    return out


class _Read:
    """One snapshot read of a channel, and where this node stood on the channel when it began."""

    __slots__ = ("channel", "epoch", "future", "offset", "resyncs", "snapshot")

    def __init__(self, future: asyncio.Future[Snapshot], channel: Channel | None, resyncs: int) -> None:
        self.future = future
        self.channel = channel  # the node's Channel object when the read began (None: not held yet)
        self.epoch = channel.epoch if channel is not None else None
        self.offset = channel.offset if channel is not None else 0
        self.resyncs = resyncs
        self.snapshot: Snapshot | None = None


class SharedSnapshots:
    """Snapshot reads shared by the joins of a channel (docs/architecture.md, "Order and recovery").

    A joiner needs a snapshot covering every event the node delivered on the channel before the
    joiner was registered (what comes later reaches it through its join buffer, and the floor
    skips what the snapshot covers).  A read begun after the registration always does.  An earlier
    one (another joiner's read still in flight, or the last completed read) does if, when the
    joiner takes it, either

    * the node has delivered nothing past the snapshot: same epoch, the node's offset at or below
      the snapshot's, no gap fill running; or
    * the node has delivered nothing at all on the channel since the read began (the same
      ``Channel`` object at the same position, no resync meanwhile): what it delivered before was
      published before the read, so the read covers it.

    So a node that holds a channel answers joins without a Redis read until the channel moves on
    (the first event delivered past the snapshot invalidates it), and joins arriving while a read
    is in flight share that read.  Each snapshot is presented once, and every joiner of that
    instant gets the same objects.  One entry per channel of the festival (bounded by it).
    """

    def __init__(self, broker: Broker, hub: Hub, stats: Stats) -> None:
        self.broker = broker
        self.hub = hub
        self.stats = stats
        self._last: dict[str, _Read] = {}  # the latest completed read per channel
        self._reading: dict[str, _Read] = {}  # the read in flight per channel
        self.reads = 0  # snapshot reads sent to the broker
        self.shared = 0  # joins served by a read another join made (or by the last one)

    def _covers(self, name: str, read: _Read) -> bool:
        snap = read.snapshot
        ch = self.hub.channels.get(name)
        if snap is None or ch is None or ch.filling:
            return False
        if ch.epoch == snap.epoch and ch.offset <= snap.offset:
            return True
        return ch is read.channel and ch.epoch == read.epoch and ch.offset == read.offset and (
            self.stats.resyncs == read.resyncs
        )

    def cached(self, name: str) -> Snapshot | None:
        """The last read's snapshot if it serves a joiner registered now (no I/O), else None."""
        read = self._last.get(name)
        if read is not None and self._covers(name, read):
            self.shared += 1
            return read.snapshot
        return None

    async def get(self, name: str) -> Snapshot:
        """A snapshot of ``name`` for a joiner already registered on it (see the class)."""
        snap = self.cached(name)
        if snap is not None:
            return snap
        read = self._reading.get(name)
        if read is not None:  # begun before this joiner registered: usable if it still covers
            await asyncio.shield(read.future)
            if self._covers(name, read):
                self.shared += 1
                return await read.future
            newer = self._reading.get(name)
            if newer is not None and newer is not read:  # begun after this joiner registered
                self.shared += 1
                return await asyncio.shield(newer.future)
        return await asyncio.shield(self._start(name).future)

    def _start(self, name: str) -> _Read:
        self.reads += 1
        future = asyncio.ensure_future(self.broker.snapshot(name))
        read = _Read(future, self.hub.channels.get(name), self.stats.resyncs)
        self._reading[name] = read
        future.add_done_callback(lambda _: self._done(name, read))  # runs before any awaiter resumes
        return read

    def _done(self, name: str, read: _Read) -> None:
        if self._reading.get(name) is read:
            del self._reading[name]
        if read.future.cancelled() or read.future.exception() is not None:  # (retrieved: no warning)
            return
        read.snapshot = read.future.result()
        self._last[name] = read


class Recovery:
    """Joins and resumes on one node.  ``counter_sources`` fill a snapshot's ``counters`` per
    channel of the venue (online and likes from the audience signals, stock from commerce)."""

    def __init__(
        self, festival: Festival, broker: Broker, hub: Hub, stats: Stats, *, replay_max: int,
        counter_sources: Sequence[CounterSource] = (),
    ) -> None:  # fmt: skip
        self.festival = festival
        self.broker = broker
        self.hub = hub
        self.stats = stats
        self.replay_max = replay_max
        self.counter_sources = tuple(counter_sources)
        self.snapshots = SharedSnapshots(broker, hub, stats)
        self._presentation: dict[str, tuple[Snapshot, dict[str, Any]]] = {}  # per channel: the last one

    async def join(
        self, conn: Connection, venue: str, since: dict[str, tuple[str, int]] | None, request_id: Any = None
    ) -> None:
        """Subscribe ``conn`` to the venue (1+N) and send its snapshot, or resume it exactly.

        Recovery is all-or-nothing: when every channel's missed events are still in
        history (same epoch, not trimmed, at most replay_max), the client gets
        ``recovered: true`` and exactly those events; otherwise a fresh snapshot with
        ``recovered: false``.  Never a partial replay.
        """
        venue_or_404(self.festival, venue)
        channels = channels_of(self.festival, conn.identity, venue)
        venue_channels = self.festival.channels_for(venue)
        conn.venue = venue
        try:
            await self.hub.begin_join(conn, channels)
            snaps = await self._snapshots(venue_channels)
            replays: dict[str, list[Event]] = {}
            recovered = False
            if since is not None and all(c in since for c in venue_channels):
                results = await asyncio.gather(
                    *(self.broker.history(c, since[c][0], since[c][1], self.replay_max) for c in venue_channels)
                )
                if all(r is not None for r in results):
                    recovered = True
                    replays = {c: r for c, r in zip(venue_channels, results, strict=True) if r is not None}
        except Exception as exc:
            # no half state: a failed join is in no channel and no venue (not counted online);
            # the client is told to retry (Redis down, a subscribe that timed out, ...)
            self.hub.leave(conn)
            conn.venue = None
            if isinstance(exc, LivehubError):
                raise
            self.stats.join_failures += 1
            log.warning("join of %s to %s failed: %r", conn.id, venue, exc)
            raise errors.storage_unavailable() from exc
        if since is not None:
            if recovered:
                self.stats.recovery_replayed += 1
            else:
                self.stats.recovery_fresh += 1
        if conn.closed:
            return
        if recovered:
            # "channels" is always the position right before the next event frame: after a
            # replay, the client's own position (the missed events follow this frame)
            positions = {c: {"epoch": since[c][0], "offset": since[c][1]} for c in venue_channels}  # type: ignore[index]
            state = None
        else:
            positions = {c: {"epoch": s.epoch, "offset": s.offset} for c, s in zip(venue_channels, snaps, strict=True)}
            state = {c: self._presented(c, s) for c, s in zip(venue_channels, snaps, strict=True)}
        message = frames.snapshot(venue, recovered, positions, self.counters(venue), now_ms(), request_id, state)
        first = conn.codec.frame(message)
        if recovered:
            # the missed events of all channels, each channel in offset order, merged by publish time
            # (a merge, never a sort: events published in one millisecond through two nodes have
            # publish times out of offset order, and a client keeping its last offset drops the late one)
            missed = heapq.merge(*(replays[c] for c in venue_channels), key=Event.publish_ts)
            first += b"".join(e.frame(conn.codec) for e in missed)
        conn.send(first)
        for c, snap in zip(venue_channels, snaps, strict=True):
            if recovered:
                events = replays[c]
                after = (since[c][0], events[-1].offset if events else since[c][1])  # type: ignore[index]
            else:
                after = (snap.epoch, snap.offset)
            self.hub.finish_join(conn, c, after)
        for c in channels:
            if c not in venue_channels:
                self.hub.finish_join(conn, c, ("", 0))

    async def _snapshots(self, channels: Sequence[str]) -> list[Snapshot]:
        """The channels' snapshots for a joiner registered on them: shared, without I/O when the
        node's last reads still cover it (the common case in a join storm)."""
        shared = self.snapshots
        snaps = [shared.cached(c) for c in channels]
        if all(s is not None for s in snaps):
            return snaps  # type: ignore[return-value]
        missing = [c for c, s in zip(channels, snaps, strict=True) if s is None]
        read = dict(zip(missing, await asyncio.gather(*(shared.get(c) for c in missing)), strict=True))
        return [s if s is not None else read[c] for c, s in zip(channels, snaps, strict=True)]

    def _presented(self, channel: str, snap: Snapshot) -> dict[str, Any]:
        """``present_state`` of a shared snapshot, built once (read-only: joiners share it)."""
        last = self._presentation.get(channel)
        if last is not None and last[0] is snap:
            return last[1]
        state = present_state(snap.state)
        self._presentation[channel] = (snap, state)
        return state

    def counters(self, venue: str) -> dict[str, Any]:
        """Per channel of the venue, the latest counters of every source."""
        out: dict[str, Any] = {}
        for v in self.festival.channels_for(venue):
            entry: dict[str, Any] = {}
            for source in self.counter_sources:
                entry.update(source(v))
            out[v] = entry
        return out

    async def venue_snapshot(self, venue: str) -> dict[str, Any]:
        """``GET /api/venues/{venue}``: positions, presented state and counters of the venue's channels."""
        venue_or_404(self.festival, venue)
        channels = self.festival.channels_for(venue)
        snaps = await asyncio.gather(*(self.broker.snapshot(c) for c in channels))
        return {
            "venue": venue,
            "channels": {c: {"epoch": s.epoch, "offset": s.offset} for c, s in zip(channels, snaps, strict=True)},
            "state": {c: present_state(s.state) for c, s in zip(channels, snaps, strict=True)},
            "counters": self.counters(venue),
            "server_time": now_ms(),
        }
