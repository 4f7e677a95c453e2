"""The Redis backplane: one pub/sub connection per node, one subscription per
channel per node (never per viewer), history in a stream per channel.

The pub/sub connection is taken once, when the broker starts (never from a pool that the
node's other commands could have exhausted), and every SUBSCRIBE/UNSUBSCRIBE goes over it one
at a time: redis-py's ``PubSub`` takes its connection lazily on the first command, and
concurrent first subscribes each took their own, all but the last one unread, so their
confirmations never arrived (joins timed out in ``subscribe`` under a crowd).  After the
connection is lost the reader reconnects (redis-py resubscribes every channel) and calls
``on_reconnect`` so the hub checks each channel's position (events published meanwhile were
never delivered).

Publishing runs ``publish.lua``: offset, history entry, state change and
PUBLISH in one atomic step, so every node sees each channel's events in
offset order, and what a client resumes from is exactly what was published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from livehub.backplane.broker import Deliver, Position, Reconnected, Snapshot, StateOp, new_epoch
from livehub.protocol.events import EnvelopeError, Event, decode_envelope, encode_volatile_envelope, event_body
from livehub.store.keys import Keys
from livehub.store.scripts import Scripts

log = logging.getLogger("livehub.backplane.redis_broker")


class RedisBroker:
    def __init__(
        self, redis: Redis, keys: Keys, *, history_size: int = 2000, ttl_s: int = 86_400,
        subscribe_timeout_s: float = 5.0, pubsub_redis: Redis | None = None, health_check_s: float = 0.0,
        pong_timeout_s: float = 5.0,
    ) -> None:  # fmt: skip
        self.redis = redis
        self.pubsub_redis = pubsub_redis or redis
        self.subscribe_timeout_s = subscribe_timeout_s
        self.health_check_s = health_check_s  # silent this long: PING; no PONG in pong_timeout_s: lost
        self.pong_timeout_s = pong_timeout_s
        self.keys = keys
        self.scripts = Scripts(redis)
        self.history_size = history_size
        self.ttl_s = ttl_s
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._deliver: Deliver | None = None
        self._confirm: dict[str, asyncio.Future[None]] = {}
        self._prefix = keys.pubsub_pattern_prefix()
        self._closing = False
        self._lock = asyncio.Lock()  # one pub/sub command at a time on the one connection
        self._on_reconnect: Reconnected | None = None
        self.reconnects = 0

    async def start(self, deliver: Deliver, on_reconnect: Reconnected | None = None) -> None:
        self._deliver = deliver
        self._on_reconnect = on_reconnect
        self._pubsub = self.pubsub_redis.pubsub()
        await self._pubsub.connect()  # type: ignore[no-untyped-call]  # the node's one pub/sub connection, now
        self._reader = asyncio.create_task(self._read_loop(), name="livehub-pubsub-reader")

    async def close(self) -> None:
        self._closing = True
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    # ---- subscriptions ---------------------------------------------------------------------
    async def subscribe(self, channel: str) -> None:
        assert self._pubsub is not None, "start() first"
        name = self.keys.pubsub(channel)
        loop = asyncio.get_running_loop()
        confirmed = self._confirm.get(name)
        if confirmed is None:
            confirmed = self._confirm[name] = loop.create_future()
        async with asyncio.timeout(self.subscribe_timeout_s):
            async with self._lock:
                await self._pubsub.subscribe(name)
            await asyncio.shield(confirmed)

    async def unsubscribe(self, channel: str) -> None:
        if self._pubsub is None:
            return
        name = self.keys.pubsub(channel)
        self._confirm.pop(name, None)  # a later subscribe waits for its own confirmation
        try:
            async with asyncio.timeout(self.subscribe_timeout_s), self._lock:
                await self._pubsub.unsubscribe(name)
        except (RedisError, OSError, TimeoutError):
            log.warning("unsubscribe from %s failed; the reader will resubscribe on reconnect", channel)

    async def _read_loop(self) -> None:
        assert self._pubsub is not None
        pubsub = self._pubsub
        loop = asyncio.get_running_loop()
        backoff = 0.05
        lost = False
        last_seen = loop.time()
        ping_sent: float | None = None
        while not self._closing:
            try:
                if self.health_check_s and not lost and pubsub.subscribed:
                    ping_sent = await self._check_alive(pubsub, last_seen, ping_sent, loop.time())
                msg = await pubsub.get_message(timeout=1.0)
                backoff = 0.05
            except (RedisError, OSError, TimeoutError) as exc:
                if not lost:
                    log.warning("pub/sub connection lost (%r); reconnecting", exc)
                lost = True
                ping_sent = None
                if pubsub.connection is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.connection.disconnect()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            if lost:  # read again: reconnected, and redis-py resubscribed every channel
                lost = False
                self.reconnects += 1
                log.info("pub/sub connection back; checking channel positions")
                if self._on_reconnect is not None:
                    self._on_reconnect()
                last_seen = loop.time()
            if msg is None:
                continue
            last_seen = loop.time()
            kind = msg["type"]
            raw_channel = msg["channel"]
            name = raw_channel.decode() if isinstance(raw_channel, bytes) else str(raw_channel)
            if kind == "message":
                self._on_message(name, msg["data"])
            elif kind == "pong":
                ping_sent = None
            elif kind == "subscribe":
                fut = self._confirm.get(name)
                if fut is not None and not fut.done():
                    fut.set_result(None)

    async def _check_alive(self, pubsub: PubSub, last_seen: float, ping_sent: float | None, now: float) -> float | None:
        """A connection silent for ``health_check_s`` gets a PING; no PONG within ``pong_timeout_s``
        means it is dead (a stalled Redis, a partition without a reset): raise, and the reader
        reconnects (and the hub checks its channels' positions) as soon as Redis answers again."""
        if ping_sent is not None:
            if now - ping_sent > self.pong_timeout_s:
                raise TimeoutError(f"no PONG on the pub/sub connection within {self.pong_timeout_s} s")
            return ping_sent
        if now - last_seen < self.health_check_s:
            return None
        async with asyncio.timeout(self.pong_timeout_s), self._lock:
            await pubsub.ping()
        return now

    def _on_message(self, name: str, data: bytes) -> None:
        if self._deliver is None or not name.startswith(self._prefix):
            return
        channel = name[len(self._prefix) :]
        try:
            item = decode_envelope(channel, data)
        except EnvelopeError:
            log.warning("dropping malformed backplane message on %s", channel)
            return
        self._deliver(channel, item)

    # ---- publishing --------------------------------------------------------------------------
    async def publish(
        self, channel: str, kind: str, data: Any, state: tuple[StateOp, ...] = ()
    ) -> tuple[str, int]:
        k = self.keys
        args: list[Any] = [k.pubsub(channel), event_body(kind, data), self.history_size, self.ttl_s,
                           new_epoch(), len(state)]  # fmt: skip
        for op in state:
            args.append(op.field)
            args.append(b"" if op.value is None else orjson.dumps(op.value))
        epoch, offset = await self.scripts.run(
            "publish", [k.channel_meta(channel), k.channel_history(channel), k.channel_state(channel)], args
        )
        return (epoch.decode() if isinstance(epoch, bytes) else str(epoch)), int(offset)

    async def publish_volatile(self, channel: str, key: str, message: dict[str, Any]) -> None:
        await self.redis.publish(self.keys.pubsub(channel), encode_volatile_envelope(key, message))

    # ---- reading -------------------------------------------------------------------------------
    async def snapshot(self, channel: str) -> Snapshot:
        k = self.keys
        out = await self.scripts.run(
            "snapshot",
            [k.channel_meta(channel), k.channel_history(channel), k.channel_state(channel)],
            [new_epoch(), self.ttl_s],
        )
        epoch = out[0].decode() if isinstance(out[0], bytes) else str(out[0])
        state = {
            (f.decode() if isinstance(f, bytes) else str(f)): orjson.loads(v)
            for f, v in zip(out[2::2], out[3::2], strict=True)
        }
        return Snapshot(epoch, int(out[1]), state)

    async def positions(self, channels: Sequence[str]) -> list[Position | None]:
        if not channels:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in channels:
                pipe.hmget(self.keys.channel_meta(name), "epoch", "offset")
            rows = await pipe.execute()
        return [None if epoch is None else (epoch.decode(), int(offset or 0)) for epoch, offset in rows]

    async def history(self, channel: str, epoch: str, after: int, limit: int) -> list[Event] | None:
        k = self.keys
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hmget(k.channel_meta(channel), "epoch", "offset")
            pipe.xrange(k.channel_history(channel), min=f"0-{after + 1}", max="+", count=limit + 1)
            (cur_epoch, cur_offset), entries = await pipe.execute()
        if cur_epoch is None or cur_epoch.decode() != epoch:
            return None
        current = int(cur_offset or 0)
        if after > current:
            return None
        if after == current:
            return []
        if current - after > limit or not entries:
            return None
        events = []
        for entry_id, fields in entries:
            offset = int(entry_id.split(b"-")[1])
            events.append(Event(channel, epoch, offset, fields[b"b"]))
        if events[0].offset != after + 1:
            return None  # trimmed past the client's position
        return events
