"""One running livehub node: the composition root that wires settings, the
festival, Redis, the broker, the hub and the audience signals together, and
implements the join protocol (snapshot, or resume with exact replay)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.asyncio import Redis

from livehub import errors
from livehub.backplane.broker import Broker, Snapshot, StateOp
from livehub.backplane.redis_broker import RedisBroker
from livehub.domain.tokens import Identity
from livehub.domain.topology import MAIN, Festival, host_channel, room_channel
from livehub.hub.connection import Connection
from livehub.hub.fanout import Hub
from livehub.hub.stats import Stats
from livehub.presence.redis_tally import RedisTally
from livehub.presence.signals import AudienceSignals
from livehub.protocol.commands import Command
from livehub.protocol.events import Event, Volatile, now_ms
from livehub.runtime.heap import HeapPolicy
from livehub.runtime.metrics import Metrics
from livehub.settings import Settings
from livehub.store.keys import Keys

log = logging.getLogger("livehub.node")

CommandHandler = Callable[[Connection, Command], Awaitable[dict[str, Any]]]
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


class Node:
    def __init__(self, settings: Settings, festival: Festival, redis: Redis, broker: Broker | None = None) -> None:
        self.settings = settings
        self.festival = festival
        self.redis = redis
        self.id = settings.node
        self.keys = Keys(settings.redis_prefix)
        self.stats = Stats()
        self.heap = HeapPolicy(settings.gc_full_interval_s)
        self.metrics = Metrics(self)
        self.broker: Broker = broker or RedisBroker(
            redis, self.keys, history_size=settings.history_size, ttl_s=settings.history_ttl_s
        )
        self.hub = Hub(self.stats, join_buffer_max=settings.join_buffer_max, fanout_slice=settings.fanout_slice,
                       observe_latency=self.metrics.event_latency.observe)  # fmt: skip
        tally = RedisTally(redis, self.keys, self.id, settings.online_interval_s)
        self.signals = AudienceSignals(settings, festival, self.hub, self.broker, tally)
        self.command_handlers: dict[str, CommandHandler] = {}
        self.counter_sources: list[CounterSource] = []
        self.on_start: list[Callable[[], Awaitable[None]]] = []
        self.on_stop: list[Callable[[], Awaitable[None]]] = []
        self.accepting = False

    # ---- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        await self.broker.start(self._deliver)
        self.hub.attach(self.broker)
        self.signals.start()
        for hook in self.on_start:
            await hook()
        self.heap.start()
        self.accepting = True
        log.info("node %s up: festival %s, %d venues", self.id, self.festival.id, len(self.festival.venues))

    async def stop(self) -> None:
        self.accepting = False
        await self.heap.stop()
        for hook in reversed(self.on_stop):
            try:
                await hook()
            except Exception:
                log.exception("stop hook failed")
        await self.hub.drain(errors.CLOSE_RESTART, "server restart: reconnect and resume",
                             self.settings.shutdown_batch_size, self.settings.shutdown_batch_interval_s)  # fmt: skip
        await self.signals.stop()
        await self.broker.close()

    def _deliver(self, channel: str, item: Event | Volatile) -> None:
        if isinstance(item, Volatile) and not self.signals.filter(channel, item):
            return
        self.hub.deliver(channel, item)

    async def ready(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self.redis.ping(), timeout=1.0))
        except Exception:
            return False

    # ---- connections ------------------------------------------------------------------------
    def new_connection_id(self) -> str:
        return uuid.uuid4().hex[:16]

    def channels_for(self, identity: Identity, venue: str) -> tuple[str, ...]:
        channels = (*self.festival.channels_for(venue), room_channel(venue))
        if identity.is_host:
            channels = (*channels, host_channel(identity.sub))
        return channels

    def venue_or_404(self, venue: str | None) -> str:
        if venue is None or venue not in self.festival.venues:
            raise errors.not_found(f"unknown venue {venue!r}")
        return venue

    async def join(
        self, conn: Connection, venue: str, since: dict[str, tuple[str, int]] | None, request_id: Any = None
    ) -> None:
        """Subscribe ``conn`` to the venue (1+N) and send its snapshot, or resume it exactly.

        Recovery is all-or-nothing: when every channel's missed events are still in
        history (same epoch, not trimmed, at most replay_max), the client gets
        ``recovered: true`` and exactly those events; otherwise a fresh snapshot with
        ``recovered: false``.  Never a partial replay.
        """
        self.venue_or_404(venue)
        channels = self.channels_for(conn.identity, venue)
        venue_channels = self.festival.channels_for(venue)
        conn.venue = venue
        await self.hub.begin_join(conn, channels)
        snaps: list[Snapshot] = list(await asyncio.gather(*(self.broker.snapshot(c) for c in venue_channels)))
        replays: dict[str, list[Event]] = {}
        recovered = False
        if since is not None and all(c in since for c in venue_channels):
            results = await asyncio.gather(
                *(self.broker.history(c, since[c][0], since[c][1], self.settings.replay_max) for c in venue_channels)
            )
            if all(r is not None for r in results):
                recovered = True
                replays = {c: r for c, r in zip(venue_channels, results, strict=True) if r is not None}
        if since is not None:
            if recovered:
                self.stats.recovery_replayed += 1
            else:
                self.stats.recovery_fresh += 1
        if conn.closed:
            return
        message: dict[str, Any] = {
            "type": "snapshot",
            "venue": venue,
            "recovered": recovered,
            "channels": {c: {"epoch": s.epoch, "offset": s.offset} for c, s in zip(venue_channels, snaps, strict=True)},
            "counters": self.counters(venue),
            "server_time": now_ms(),
        }
        if request_id is not None:
            message["id"] = request_id
        if recovered:
            # "channels" is always the position right before the next event frame: after a
            # replay, the client's own position (the missed events follow this frame)
            for c in venue_channels:
                message["channels"][c] = {"epoch": since[c][0], "offset": since[c][1]}  # type: ignore[index]
        else:
            message["state"] = {c: present_state(s.state) for c, s in zip(venue_channels, snaps, strict=True)}
        first = conn.codec.frame(message)
        if recovered:
            # the missed events of all channels, each channel in offset order, merged by publish time
            missed = sorted((e for c in venue_channels for e in replays[c]), key=Event.publish_ts)
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
        out: dict[str, Any] = {}
        for v in self.festival.channels_for(venue):
            entry = self.signals.counters(v)
            for source in self.counter_sources:
                entry.update(source(v))
            out[v] = entry
        return out

    # ---- publishing -------------------------------------------------------------------------
    async def publish(self, venue: str, kind: str, data: Any, state: tuple[StateOp, ...] = ()) -> tuple[str, int]:
        return await self.broker.publish(venue, kind, data, state)

    async def venue_snapshot(self, venue: str) -> dict[str, Any]:
        self.venue_or_404(venue)
        channels = self.festival.channels_for(venue)
        snaps = await asyncio.gather(*(self.broker.snapshot(c) for c in channels))
        return {
            "venue": venue,
            "channels": {c: {"epoch": s.epoch, "offset": s.offset} for c, s in zip(channels, snaps, strict=True)},
            "state": {c: present_state(s.state) for c, s in zip(channels, snaps, strict=True)},
            "counters": self.counters(venue),
            "server_time": now_ms(),
        }

    async def signal(self, sender: Identity, to: str, data: dict[str, Any]) -> None:
        """Relay a co-host signalling message (SDP/ICE ...) from one host to another."""
        if not sender.is_host:
            raise errors.forbidden("only hosts exchange co-host signals")
        if to not in self.festival.hosts:
            raise errors.not_found(f"unknown host {to!r}")
        if len(orjson.dumps(data)) > self.settings.max_frame_bytes:
            raise errors.LivehubError(errors.TOO_LARGE, "signal data too large")
        message = {"type": "signal", "from": sender.sub, "data": data, "ts": now_ms()}
        await self.broker.publish_volatile(host_channel(to), "~s" + uuid.uuid4().hex[:12], message)

    def is_main_host(self, identity: Identity) -> bool:
        return identity.is_host and self.festival.venues.get(identity.venue or "", None) is not None and (
            self.festival.venues[identity.venue or ""].kind == MAIN
        )

    def may_drive(self, identity: Identity, venue: str) -> bool:
        """A host drives its own venue; the main venue's host may drive every venue."""
        return identity.is_host and (identity.venue == venue or self.is_main_host(identity))
