"""One viewer's or host's websocket, as the hub sees it: where its bytes go and
what happens when it cannot keep up.

Writes are synchronous and never awaited: bytes go straight to the transport
while the kernel keeps up.  When the transport's buffer passes its high-water
mark the transport *pauses* the connection; from then on frames wait in a
bounded backlog (events, in order) and a latest-value table (volatile
updates: a newer stock/online/likes value replaces an unsent older one).  If
the backlog passes ``outbound_buffer_bytes`` the connection is closed with
4008; the client reconnects and resumes from its last offset.

The first character of a volatile update's key says what a paused connection does with it:
:data:`DROPPABLE` (comments) skips it; :data:`UNDROPPABLE` (a host's order notifications and
co-host signals: one key each, so nothing to coalesce) queues it in the backlog with the events,
in order and bounded by the same limit; any other key coalesces in the latest-value table
(which stays small: one entry per stock/online/likes key).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from livehub import errors
from livehub.domain.tokens import Identity
from livehub.hub.stats import Stats
from livehub.protocol.codec import Codec

if TYPE_CHECKING:
    from livehub.protocol.events import Event, Volatile

log = logging.getLogger("livehub.hub.connection")

DROPPABLE = "~"  # volatile keys starting with this are skipped, never queued, for a paused connection
UNDROPPABLE = "!"  # ... with this are queued in the (bounded) backlog: never dropped, never coalesced


class RawSocket(Protocol):
    """What a connection needs from the websocket transport (see livehub.web.transport)."""

    def write_raw(self, data: bytes) -> None: ...
    def close_with(self, code: int, reason: str) -> None: ...
    def bind(self, sink: Connection) -> None: ...
    def resume_frames(self) -> None: ...


class Connection:
    __slots__ = (
        "backlog", "backlog_bytes", "channels", "closed", "codec", "codec_index", "guide", "id",
        "identity", "latest", "limit", "on_close", "paused", "raw", "stats", "venue", "write",
    )  # fmt: skip

    def __init__(
        self, conn_id: str, codec: Codec, codec_index: int, identity: Identity, raw: RawSocket,
        outbound_limit: int, stats: Stats,
    ) -> None:  # fmt: skip
        self.id = conn_id
        self.codec = codec
        self.codec_index = codec_index
        self.identity = identity
        self.raw = raw
        self.write: Callable[[bytes], None] = raw.write_raw
        self.limit = outbound_limit
        self.stats = stats
        self.paused = False
        self.closed = False
        self.backlog: list[bytes] = []
        self.backlog_bytes = 0
        self.latest: dict[str, bytes] = {}
        self.venue: str | None = None
        self.channels: tuple[str, ...] = ()
        self.guide: str | None = None
        self.on_close: Callable[[Connection], None] | None = None
        raw.bind(self)

    # ---- sending (synchronous, never awaits) ----------------------------------
    def send(self, frame: bytes) -> None:
        """An ordered frame (event batch, reply, snapshot)."""
        if self.closed:
            return
        if self.paused or self.backlog:
            self._enqueue(frame)
        else:
            self.write(frame)

    def send_message(self, message: dict[str, Any]) -> None:
        self.send(self.codec.frame(message))

    def send_items(self, items: Iterable[Event | Volatile]) -> None:
        """Slow path of a broadcast to a paused connection: events queue, volatiles coalesce."""
        from livehub.protocol.events import Volatile

        for item in items:
            if isinstance(item, Volatile):
                self.send_volatile(item.key, item.frame(self.codec))
            else:
                self.send(item.frame(self.codec))

    def send_volatile(self, key: str, frame: bytes) -> None:
        if self.closed:
            return
        if self.paused:
            kind = key[:1]
            if kind == DROPPABLE:  # a comment: skipped, never queued, for a slow reader
                self.stats.dropped += 1
                return
            if kind == UNDROPPABLE:  # a host's notice: one key each, so it waits with the events
                self._enqueue(frame)
                return
            if key in self.latest:
                self.stats.coalesced += 1
            self.latest[key] = frame
        else:
            self.write(frame)

    def _enqueue(self, frame: bytes) -> None:
        self.backlog.append(frame)
        self.backlog_bytes += len(frame)
        if self.backlog_bytes > self.limit:
            self.stats.slow_closes += 1
            self.close(errors.CLOSE_SLOW, "slow consumer: reconnect and resume")

    # ---- transport callbacks -----------------------------------------------------
    def on_pause(self) -> None:
        self.paused = True

    def on_resume(self) -> None:
        self.paused = False
        while self.backlog and not self.paused and not self.closed:
            frame = self.backlog.pop(0)
            self.backlog_bytes -= len(frame)
            self.write(frame)
        if not self.paused and self.latest and not self.closed:
            latest, self.latest = self.latest, {}
            self.write(b"".join(latest.values()))

    def on_lost(self) -> None:
        if not self.closed:
            self.closed = True
            self.backlog.clear()
            self.latest.clear()
            if self.on_close is not None:
                self.on_close(self)

    def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.raw.close_with(code, reason)
        self.on_lost()
