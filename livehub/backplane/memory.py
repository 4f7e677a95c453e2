"""The in-process backplane: :class:`MemoryBroker`, one process and no Redis (unit tests, embedding).

It keeps the semantics of :class:`livehub.backplane.redis_broker.RedisBroker` (positions,
history, latest-value state, subscriptions); both pass tests/backplane/test_broker_contract.py.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any

import orjson

from livehub.backplane.broker import Deliver, Position, Reconnected, Snapshot, StateOp, new_epoch
from livehub.protocol.events import Event, Volatile, event_body


class _MemoryChannel:
    def __init__(self, history_size: int) -> None:
        self.epoch = new_epoch()
        self.offset = 0
        self.history: deque[Event] = deque(maxlen=history_size)
        self.state: dict[str, bytes] = {}


class MemoryBroker:
    """Single-process broker with the same semantics as RedisBroker."""

    def __init__(self, history_size: int = 1000) -> None:
        self.history_size = history_size
        self._channels: dict[str, _MemoryChannel] = {}
        self._subscribed: set[str] = set()
        self._deliver: Deliver | None = None

    def _channel(self, name: str) -> _MemoryChannel:
        ch = self._channels.get(name)
        if ch is None:
            ch = self._channels[name] = _MemoryChannel(self.history_size)
        return ch

    async def start(self, deliver: Deliver, on_reconnect: Reconnected | None = None) -> None:
        self._deliver = deliver

    async def close(self) -> None:
        self._deliver = None

    async def subscribe(self, channel: str) -> None:
        self._subscribed.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._subscribed.discard(channel)

    def _send(self, channel: str, item: Event | Volatile) -> None:
        if channel in self._subscribed and self._deliver is not None:
            asyncio.get_running_loop().call_soon(self._deliver, channel, item)

    async def publish(
        self, channel: str, kind: str, data: Any, state: tuple[StateOp, ...] = ()
    ) -> tuple[str, int]:
        ch = self._channel(channel)
        ch.offset += 1
        event = Event(channel, ch.epoch, ch.offset, event_body(kind, data))
        ch.history.append(event)
        for op in state:
            if op.value is None:
                ch.state.pop(op.field, None)
            else:
                ch.state[op.field] = orjson.dumps(op.value)
        self._send(channel, event)
        return ch.epoch, ch.offset

    async def publish_volatile(self, channel: str, key: str, message: dict[str, Any]) -> None:
        self._send(channel, Volatile(channel, key, message))

    async def snapshot(self, channel: str) -> Snapshot:
        ch = self._channel(channel)
        return Snapshot(ch.epoch, ch.offset, {k: orjson.loads(v) for k, v in ch.state.items()})

    async def positions(self, channels: Sequence[str]) -> list[Position | None]:
        out: list[Position | None] = []
        for name in channels:
            ch = self._channels.get(name)
            out.append(None if ch is None else (ch.epoch, ch.offset))
        return out

    async def history(self, channel: str, epoch: str, after: int, limit: int) -> list[Event] | None:
        ch = self._channel(channel)
        if epoch != ch.epoch or after > ch.offset:
            return None
        missing = ch.offset - after
        if missing == 0:
            return []
        if missing > limit or not ch.history or ch.history[0].offset > after + 1:
            return None
        return [e for e in ch.history if e.offset > after]

    def drop_history(self, channel: str) -> None:
        """Test hook: lose the channel's history, as a Redis flush would."""
        self._channels.pop(channel, None)
