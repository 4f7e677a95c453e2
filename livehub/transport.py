"""uvicorn's sans-I/O websocket protocol, opened up for pre-framed writes.

uvicorn accepts a websocket protocol class (``ws=...``).  This subclass of its
``websockets-sansio`` implementation does three things:

* puts itself in the ASGI scope as ``scope["extensions"]["livehub.raw"]``, so
  the websocket endpoint can write complete, pre-encoded frames straight to
  the transport (the same ``bytes`` for every subscriber; no ASGI message, no
  per-subscriber framing, no await);
* forwards the transport's flow control (``pause_writing``/``resume_writing``)
  and ``connection_lost`` to the bound :class:`livehub.connection.Connection`;
* closes a connection with an application code without waiting on the app
  (:meth:`close_with`), aborting the socket if the peer does not finish the
  closing handshake in time (a slow consumer must not hold memory).

Inbound frames, pings, the handshake and the closing handshake stay uvicorn's.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

if TYPE_CHECKING:
    from livehub.connection import Connection

RAW_EXTENSION = "livehub.raw"
CLOSE_GRACE_S = 2.0


class LivehubWebSocketProtocol(WebSocketsSansIOProtocol):
    sink: Connection | None = None
    high_water: ClassVar[int] = 65_536
    shutdown_batch: ClassVar[int] = 500
    shutdown_interval_s: ClassVar[float] = 0.05
    _draining: ClassVar[list[LivehubWebSocketProtocol]] = []

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][RAW_EXTENSION] = self

    # ---- used by livehub.connection.Connection ------------------------------------------
    def bind(self, sink: Connection) -> None:
        self.sink = sink
        self.transport.set_write_buffer_limits(high=self.high_water)
        if self.disconnected:
            sink.on_lost()

    def write_raw(self, data: bytes) -> None:
        if not self.close_sent:
            self.transport.write(data)

    def close_with(self, code: int, reason: str) -> None:
        if self.close_sent or self.transport.is_closing():
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        try:
            self.conn.send_close(code, reason)
            self.transport.write(b"".join(self.conn.data_to_send()))
        except Exception:  # the sans-I/O state machine may already be closing
            pass
        self.close_sent = True
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(CLOSE_GRACE_S, self.transport.abort)

    # ---- flow control and loss --------------------------------------------------------------
    def pause_writing(self) -> None:
        super().pause_writing()
        if self.sink is not None:
            self.sink.on_pause()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.sink is not None:
            self.sink.on_resume()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.sink is not None:
            self.sink.on_lost()

    # ---- graceful shutdown ------------------------------------------------------------------
    def shutdown(self) -> None:
        """uvicorn asks every connection to shut down at once; livehub viewers are closed
        with 1012 in batches instead, so that they do not all reconnect in the same instant."""
        if self.sink is None or self.close_sent:
            super().shutdown()
            return
        queue = LivehubWebSocketProtocol._draining
        queue.append(self)
        if len(queue) == 1:
            self.loop.create_task(_drain(queue))


async def _drain(queue: list[LivehubWebSocketProtocol]) -> None:
    from livehub.errors import CLOSE_RESTART

    while queue:
        batch = queue[: LivehubWebSocketProtocol.shutdown_batch]
        del queue[: len(batch)]
        for proto in batch:
            proto.stop_keepalive()
            proto.close_with(CLOSE_RESTART, "server restart: reconnect and resume")
        if queue:
            await asyncio.sleep(LivehubWebSocketProtocol.shutdown_interval_s)
