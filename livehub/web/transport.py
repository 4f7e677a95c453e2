"""uvicorn's sans-I/O websocket protocol, opened up for pre-framed writes.

uvicorn accepts a websocket protocol class (``ws=...``).  This subclass of its
``websockets-sansio`` implementation does three things:

* puts itself in the ASGI scope as ``scope["extensions"]["livehub.raw"]``, so
  the websocket endpoint can write complete, pre-encoded frames straight to
  the transport (the same ``bytes`` for every subscriber; no ASGI message, no
  per-subscriber framing, no await);
* forwards the transport's flow control (``pause_writing``/``resume_writing``)
  and ``connection_lost`` to the bound :class:`livehub.hub.connection.Connection`;
* closes a connection with an application code without waiting on the app
  (:meth:`close_with`), aborting the socket if the peer does not finish the
  closing handshake in time (a slow consumer must not hold memory);
* hands each complete client message straight to ``frame_sink`` (the
  connection's ``livehub.web.session.Session.feed``) once the endpoint has set one,
  instead of the ASGI receive queue: no queue, no future, no wake-up of the
  endpoint's await chain and no pause/resume of the socket per message.
  Reading stops only while the sink says its backlog is full, until
  :meth:`resume_frames`.

Pings, the handshake and the closing handshake stay uvicorn's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

if TYPE_CHECKING:
    from livehub.hub.connection import Connection

RAW_EXTENSION = "livehub.raw"
CLOSE_GRACE_S = 2.0


class LivehubWebSocketProtocol(WebSocketsSansIOProtocol):
    sink: Connection | None = None
    frame_sink: Callable[[str | bytes], bool] | None = None
    sink_paused = False
    high_water: ClassVar[int] = 65_536
    shutdown_batch: ClassVar[int] = 500
    shutdown_interval_s: ClassVar[float] = 0.05
    _draining: ClassVar[list[LivehubWebSocketProtocol]] = []

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][RAW_EXTENSION] = self

    # ---- used by livehub.hub.connection.Connection ------------------------------------------
    def bind(self, sink: Connection) -> None:
        self.sink = sink
        self.transport.set_write_buffer_limits(high=self.high_water)
        if self.disconnected:
            sink.on_lost()

    def write_raw(self, data: bytes) -> None:
        if not self.close_sent:
            self.transport.write(data)

    def send_receive_event_to_app(self) -> None:
        feed = self.frame_sink
        if feed is None:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return
        if self.curr_msg_data_type == "text":
            try:
                message: str | bytes = data.decode()
            except UnicodeDecodeError:
                self.conn.send_close(1007, "invalid UTF-8 in a text frame")
                self.handle_parser_exception()
                return
        else:
            message = data
        if not feed(message) and not self.sink_paused:
            self.sink_paused = True
            self.transport.pause_reading()

    def resume_frames(self) -> None:
        """The sink has room again: read the socket again."""
        if self.sink_paused:
            self.sink_paused = False
            if not self.read_paused and not self.transport.is_closing():
                self.transport.resume_reading()

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
        if self.read_paused or self.sink_paused:  # read the peer's close reply, whoever paused reading
            self.read_paused = self.sink_paused = False
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
