"""The backplane: how an event published on one node reaches every node.

:class:`Broker` is the small interface the hub needs.  Two implementations
pass the same contract suite (tests/backplane/test_broker_contract.py):

* :class:`livehub.backplane.memory.MemoryBroker` - one process, no Redis (unit tests, embedding);
* :class:`livehub.backplane.redis_broker.RedisBroker` - many nodes sharing Redis: a Lua
  script assigns the offset, appends to the channel's history stream, updates
  its latest-value state and PUBLISHes, in one atomic step.

A channel's position is ``(epoch, offset)``: the offset grows by one per event;
the epoch names one unbroken history (it changes only when the history is
lost, e.g. a Redis flush), so a client's position is meaningful only with its
epoch.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from livehub.protocol.events import Event, Volatile

Deliver = Callable[[str, Event | Volatile], None]
Reconnected = Callable[[], None]  # the subscriber's connection came back: events may have been missed
Position = tuple[str, int]  # (epoch, offset) of a channel's latest event


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
    async def start(self, deliver: Deliver, on_reconnect: Reconnected | None = None) -> None: ...

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

    async def positions(self, channels: Sequence[str]) -> list[Position | None]:
        """Each channel's current (epoch, offset), read without creating anything; None for a
        channel Redis does not know (never published, or its history was lost)."""

    async def history(self, channel: str, epoch: str, after: int, limit: int) -> list[Event] | None:
        """Events after ``after`` in ``epoch``, at most ``limit``; None if not recoverable
        (other epoch, trimmed, or more than ``limit`` missing)."""
