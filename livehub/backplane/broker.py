"""The backplane: how an event published on one node reaches every node.

:class:`Broker` is the small interface the hub needs.  Two implementations
pass the same contract suite (tests/backplane/test_broker_contract.py):

* :class:`MemoryBroker` - one process, no Redis (unit tests, embedding);
* :class:`livehub.backplane.redis_broker.RedisBroker` - many nodes sharing Redis: a Lua
  script assigns the offset, appends to the channel's history stream, updates
  its latest-value state and PUBLISHes, in one atomic step.

A channel's position is ``(epoch, offset)``: the offset grows by one per event;
the epoch names one unbroken history (it changes only when the history is
lost, e.g. a Redis flush), so a client's position is meaningful only with its
epoch.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from livehub.protocol.events import Event, Volatile, event_body

Deliver = Callable[[str, Event | Volatile], None]


@dataclass(frozen=True, slots=True)
class StateOp:
    """Change one field of a channel's latest-value state with an event: value None deletes."""

    field: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    epoch: str
    offset: int
    state: dict[str, Any] = field(default_factory=dict)


def new_epoch() -> str:
    return secrets.token_hex(4)


class Broker(Protocol):
    async def start(self, deliver: Deliver) -> None: ...

    async def close(self) -> None: ...

    async def subscribe(self, channel: str) -> None:
        """Return once every later publish on ``channel`` will reach ``deliver``."""

    async def unsubscribe(self, channel: str) -> None: ...

    async def publish(
        self, channel: str, kind: str, data: Any, state: tuple[StateOp, ...] = ()
    ) -> tuple[str, int]:
        """Publish an event (with history); return its (epoch, offset)."""

    async def publish_volatile(self, channel: str, key: str, message: dict[str, Any]) -> None:
        """Publish a latest-value update (no offset, no history) to every node."""

    async def snapshot(self, channel: str) -> Snapshot:
        """The channel's position and state, read atomically (creates the epoch if new)."""

    async def history(self, channel: str, epoch: str, after: int, limit: int) -> list[Event] | None:
        """Events after ``after`` in ``epoch``, at most ``limit``; None if not recoverable
        (other epoch, trimmed, or more than ``limit`` missing)."""


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

    async def start(self, deliver: Deliver) -> None:
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
