"""The join protocol: subscribe a connection to a venue and send its snapshot, or resume it
exactly from the client's positions (docs/architecture.md, "Order and recovery").

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
            snaps: list[Snapshot] = list(await asyncio.gather(*(self.broker.snapshot(c) for c in venue_channels)))
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
            state = {c: present_state(s.state) for c, s in zip(venue_channels, snaps, strict=True)}
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
