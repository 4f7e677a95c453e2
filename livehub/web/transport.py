"""uvicorn's HTTP and sans-I/O websocket protocols, opened up for pre-framed writes and bounded
against hostile peers.

uvicorn accepts an HTTP protocol class (``http=...``) and a websocket protocol class (``ws=...``).

:class:`LivehubHttpProtocol` (a subclass of uvicorn's ``httptools`` implementation) bounds what a
peer can hold before its request is even routed: the request line and headers of one request
(``http_max_header_bytes``: beyond, HTTP 431 and the connection is closed) and the time they take
to arrive (``http_header_timeout_s``, from the connection's first byte or its last answered
request: beyond, HTTP 408 and closed; a peer that sends nothing at all is closed without an answer).  uvicorn's
own httptools protocol bounds neither.

:class:`LivehubWebSocketProtocol` (a subclass of uvicorn's ``websockets-sansio`` implementation):

* puts itself in the ASGI scope as ``scope["extensions"]["livehub.raw"]``, so
  the websocket endpoint can write complete, pre-encoded frames straight to
  the transport (the same ``bytes`` for every subscriber; no ASGI message, no
  per-subscriber framing, no await);
* forwards the transport's flow control (``pause_writing``/``resume_writing``)
  and ``connection_lost`` to the bound :class:`livehub.hub.connection.Connection`;
* closes a connection with an application code without waiting on the app
  (:meth:`close_with`); if the peer does not finish the closing handshake within
  ``ws_close_grace_s`` the socket is closed after what was written (when all of it,
  close frame included, reached the kernel) or aborted (when it did not: a peer
  that stopped reading must not hold memory);
* hands each complete client message straight to ``frame_sink`` (the
  connection's ``livehub.web.session.Session.feed``) once the endpoint has set one,
  instead of the ASGI receive queue: no queue, no future, no wake-up of the
  endpoint's await chain and no pause/resume of the socket per message.
* reads a whole, unfragmented, masked text or binary frame itself (unmask, decode, hand to the sink:
  :meth:`_data_frame`) when websockets' parser is between messages, as it always is at a frame
  boundary here; everything else (control frames, fragments, reserved bits, frames over the size
  limit, invalid UTF-8) goes through websockets' parser, which answers each violation as before.
  websockets' generator-based parser was a tenth of the worker at the flash-sale peak;
* parses what one read carried one websocket frame at a time and stops as soon as
  the sink says its backlog is full (or uvicorn paused reading for its ASGI queue):
  the rest of the read stays unparsed (:attr:`pending`, at most one read; the socket
  is not read meanwhile) until :meth:`resume_frames`.  Thousands of frames in one TCP
  read therefore never get past the inbound backlog, and nothing is answered once the
  connection is closed (after our close, frames are skipped by their headers alone, unparsed,
  until the peer's close frame);
* answers a protocol violation (1002, 1007, 1009) with its close frame, then drops the client's input for
  a bounded while (``LINGER_S`` / ``LINGER_BYTES``) before closing, so that the close frame is not
  destroyed by the reset a close with unread input causes;
* bounds control frames: pings and pongs count against a per-connection bucket
  (``ws_control_rate`` / ``ws_control_burst``: beyond, close 1008), and a ping is not
  answered while the peer leaves more than ``transport_high_water`` bytes unread
  (RFC 6455 5.5.3 lets an endpoint answer only the latest ping), so a ping flood
  can grow neither the write buffer nor the work done per read.
* lets the endpoint *hand the connection over* once it joined (:meth:`hand_over`): the ASGI
  app returns, its task and its await chain (the starlette stack, the ``WebSocket``, uvicorn's
  receive queue and send gate, the handshake's request, response and scope) are freed, and the
  connection lives on as this protocol, its ``Connection`` and its ``Session`` alone; the first
  disconnect uvicorn would have queued for the app runs the endpoint's clean-up instead
  (docs/performance.md, "Memory per idle viewer": most of an idle viewer's memory was that
  parked await chain).

* answers a plain upgrade itself (:meth:`LivehubHttpProtocol.handle_websocket_upgrade`): when the app
  registered a direct handler for the path (:data:`DIRECT_WS` in the lifespan state), a valid version-13
  upgrade is answered from the headers httptools parsed (livehub.protocol.handshake), with no second
  parse by websockets, no ASGI scope and no ASGI app: the handler gets the protocol (:meth:`open_direct`)
  and the request (:class:`DirectUpgrade`).  The 101 is *corked*: it waits with every frame written
  meanwhile (welcome, snapshot) until :meth:`flush`, which writes them all at once, one kernel write for
  the whole join (docs/architecture.md, "The websocket upgrade").  Any other upgrade (another path, a
  faulty or unusual handshake) takes uvicorn's path and websockets' handshake, as before.

The closing handshake stays uvicorn's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets import http11
from websockets.protocol import State

try:  # websockets' C unmasking, as websockets.frames itself imports it
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - a build without the C extension
    from websockets.utils import apply_mask

from livehub import errors
from livehub.domain.ratelimit import TokenBucket
from livehub.protocol.handshake import Upgrade, plain_upgrade

if TYPE_CHECKING:
    from livehub.hub.connection import Connection
    from livehub.settings import Settings

RAW_EXTENSION = "livehub.raw"
DIRECT_WS = "livehub.direct_ws"  # lifespan state: (path, handler) of the upgrades the transport answers itself
LINGER_S = 2.0  # a refused HTTP request's or a failed websocket's input is drained for at most this long ...
LINGER_BYTES = 1 << 20  # ... and this many bytes, then the connection is closed


def configure(settings: Settings) -> None:
    """Apply the transport's settings to the protocol classes uvicorn instantiates (once per worker)."""
    LivehubWebSocketProtocol.high_water = settings.transport_high_water
    LivehubWebSocketProtocol.shutdown_batch = settings.shutdown_batch_size
    LivehubWebSocketProtocol.shutdown_interval_s = settings.shutdown_batch_interval_s
    LivehubWebSocketProtocol.control_rate = settings.ws_control_rate
    LivehubWebSocketProtocol.control_burst = settings.ws_control_burst
    LivehubWebSocketProtocol.close_grace_s = settings.ws_close_grace_s
    LivehubHttpProtocol.max_header_bytes = settings.http_max_header_bytes
    LivehubHttpProtocol.header_timeout_s = settings.http_header_timeout_s


def frame_length(data: bytes, pos: int) -> int | None:
    """The length (header included) of the websocket frame starting at ``data[pos]``, or None while
    its header is incomplete (RFC 6455 section 5.2)."""
    avail = len(data) - pos
    if avail < 2:
        return None
    second = data[pos + 1]
    size = second & 0x7F
    head = 2
    if size == 126:
        if avail < 4:
            return None
        size = int.from_bytes(data[pos + 2 : pos + 4], "big")
        head = 4
    elif size == 127:
        if avail < 10:
            return None
        size = int.from_bytes(data[pos + 2 : pos + 10], "big")
        head = 10
    if second & 0x80:
        head += 4
    return head + size


class _HandedOver:
    """uvicorn's ASGI receive queue once the endpoint handed the connection over: nothing is kept (no app
    reads it any more); the first ``websocket.disconnect`` put in it runs the endpoint's clean-up on the
    next loop turn, as the endpoint's own ``await receive()`` would have."""

    __slots__ = ("loop", "on_end")

    def __init__(self, loop: asyncio.AbstractEventLoop, on_end: Callable[[], None]) -> None:
        self.loop = loop
        self.on_end: Callable[[], None] | None = on_end

    def put_nowait(self, message: dict[str, Any]) -> None:
        if message.get("type") == "websocket.disconnect" and self.on_end is not None:
            on_end, self.on_end = self.on_end, None
            self.loop.call_soon(on_end)

    def empty(self) -> bool:
        return True

    def qsize(self) -> int:
        return 0


class _NoSends:
    """uvicorn's ``writable`` Event (the gate of the app's ``send``) once no app can send any more."""

    __slots__ = ()

    def set(self) -> None:
        pass

    def clear(self) -> None:
        pass

    def is_set(self) -> bool:
        return True


_NO_SENDS = _NoSends()


class DirectUpgrade:
    """An upgrade the HTTP protocol answered itself: what the direct handler reads of the request."""

    __slots__ = ("client", "headers", "query", "upgrade")

    def __init__(self, query: bytes, headers: list[tuple[bytes, bytes]], client: tuple[str, int] | None,
                 upgrade: Upgrade) -> None:  # fmt: skip
        self.query = query
        self.headers = headers  # names lower-case, as uvicorn's scope has them
        self.client = client
        self.upgrade = upgrade


DirectHandler = Callable[["LivehubWebSocketProtocol", DirectUpgrade], None]


class LivehubWebSocketProtocol(WebSocketsSansIOProtocol):
    sink: Connection | None = None
    corked: list[bytes] | None = None  # written while the direct handshake's answer waits (see open_direct)
    frame_sink: Callable[[str | bytes], bool] | None = None
    sink_paused = False
    pending = b""  # the unparsed rest of a read, kept while frames are held (see the module docstring)
    frame_left = 0  # bytes of a frame whose start was already handed to the parser
    skip_left = 0  # bytes of a frame being skipped unparsed (after our close)
    control: TokenBucket | None = None
    dropped: int | None = None  # bytes dropped since the client broke the protocol (None: it did not)
    high_water: ClassVar[int] = 65_536
    shutdown_batch: ClassVar[int] = 500
    shutdown_interval_s: ClassVar[float] = 0.05
    control_rate: ClassVar[float] = 10.0
    control_burst: ClassVar[float] = 20.0
    close_grace_s: ClassVar[float] = 5.0
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
        if self.corked is not None:  # its frames wait behind the 101 until flush()
            sink.write = self.corked.append
        if self.disconnected:
            sink.on_lost()

    def write_raw(self, data: bytes) -> None:
        if not self.close_sent:
            self.transport.write(data)

    # ---- the direct handshake (see the module docstring) ---------------------------------------
    def open_direct(self, response: bytes) -> None:
        """The HTTP protocol answered the handshake (``response``, the 101): the connection is open, the
        sans-I/O parser reads frames from the next byte, and writes are corked until :meth:`flush`."""
        conn = self.conn
        conn.state = State.OPEN
        conn.parser = conn.parse()  # open: no HTTP request to read first
        next(conn.parser)
        self.handshake_initiated = self.handshake_complete = True
        self.corked = [response]

    def send_frame(self, data: bytes) -> None:
        """A frame of the endpoint's own (a refusal), behind what is corked."""
        if self.corked is not None:
            self.corked.append(data)
        else:
            self.write_raw(data)

    def flush(self) -> None:
        """Write what was corked (the 101 and the frames after it) in one write; from now on writes go
        straight to the transport, and the keepalive pings start."""
        if self.corked is None:
            return
        data = self._uncork()
        if not self.transport.is_closing():
            self.transport.write(data)
            if not self.close_sent:
                self.start_keepalive()

    def _uncork(self, last: bytes = b"") -> bytes:
        corked = self.corked or []
        self.corked = None
        if self.sink is not None:
            self.sink.write = self.write_raw
        corked.append(last)
        return b"".join(corked)

    def _write(self, data: bytes) -> None:
        """The transport's own frames (close, pong): after what is corked, if anything is, in the same write."""
        self.transport.write(self._uncork(data) if self.corked is not None else data)

    def send_receive_event_to_app(self) -> None:
        """A whole message: to the sink, or (before the endpoint set one) to uvicorn's ASGI queue, as
        uvicorn does; invalid UTF-8 in a text message closes with 1007 either way (uvicorn's own path
        logs a traceback for it: a client's bad input is not the server's error)."""
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
        feed = self.frame_sink
        if feed is None:  # the endpoint reads it with ws.receive()
            event = {"type": "websocket.receive", "text" if isinstance(message, str) else "bytes": message}
            self.queue.put_nowait(cast(Any, event))
            if not self.read_paused:
                self.read_paused = True
                self.transport.pause_reading()
            return
        if not feed(message) and not self.sink_paused:
            self.sink_paused = True
            self.transport.pause_reading()

    def resume_frames(self) -> None:
        """The sink has room again: parse what was held, then read the socket again."""
        if self.sink_paused:
            self.sink_paused = False
            if self.pending:
                self.loop.call_soon(self._release_pending)
            elif not self.read_paused and not self.transport.is_closing():
                self.transport.resume_reading()

    def hand_over(self, on_end: Callable[[], None], feed: Callable[[str | bytes], bool]) -> bool:
        """The endpoint joined: the frames that came meanwhile (in the receive queue) go to ``feed`` in order,
        and every later one as it is parsed; the connection stays open after the ASGI app (if any) returns,
        ``on_end`` runs (once) when it ends, and what only the app needed is dropped.  True; False when the
        connection already ended (the caller cleans up)."""
        queue = self.queue
        while not queue.empty():
            message: Any = queue.get_nowait()
            if message["type"] != "websocket.receive":
                return False
            text = message.get("text")
            if not feed(text if text is not None else message.get("bytes") or b""):
                self.sink_paused = True  # reading is paused already (uvicorn's read_paused)
        if self.disconnected:
            return False
        self.frame_sink = feed
        self.queue = cast(Any, _HandedOver(self.loop, on_end))
        self.writable = cast(Any, _NO_SENDS)
        for name in ("scope", "request", "response"):  # the handshake's: read only until the accept
            self.__dict__.pop(name, None)
        if self.read_paused:  # uvicorn paused reading while it queued for the app
            self.read_paused = False
            if not self.sink_paused and not self.transport.is_closing():
                if self.pending:
                    self.loop.call_soon(self._release_pending)
                else:
                    self.transport.resume_reading()
        return True

    @property
    def handed_over(self) -> bool:
        return isinstance(self.queue, _HandedOver)

    async def run_asgi(self) -> None:
        """uvicorn's ``run_asgi``, except that an app that handed the connection over leaves it open."""
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
        if self.close_timer is None and not self.handed_over:
            self.transport.close()

    def close_with(self, code: int, reason: str) -> None:
        if self.close_sent or self.transport.is_closing():
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        try:
            self.conn.send_close(code, reason)
            self._write(b"".join(self.conn.data_to_send()))
        except Exception:  # the sans-I/O state machine may already be closing
            pass
        self.close_sent = True
        if self.read_paused or self.sink_paused:  # read the peer's close reply, whoever paused reading
            self.read_paused = self.sink_paused = False
            if self.pending:
                self.loop.call_soon(self._release_pending)
            else:
                self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_grace_s, self._close_grace_over)

    def _close_grace_over(self) -> None:
        """The peer did not answer our close in time: close after what was written if the kernel has
        all of it (a reader that resumes later still gets the close frame), else drop it all."""
        self.close_timer = None
        if self.transport.is_closing():
            return
        if self.transport.get_write_buffer_size() == 0:
            self.transport.close()
        else:
            self.transport.abort()

    # ---- reading: one frame at a time, holding the rest while the sink is full ----------------
    def _holding(self) -> bool:
        return (self.sink_paused or self.read_paused) and not self.close_sent

    def handle_parser_exception(self) -> None:
        """The client broke the protocol (1002, 1007, 1009 ...): send the close frame, then read and drop what
        it still sends for a bounded while before closing (:meth:`_drop`).  Closing at once with its input
        unread would reset the connection, and the reset can destroy the close frame before it is read."""
        closing = self.conn.close_sent
        code, reason = (closing.code, closing.reason) if closing is not None else (errors.CLOSE_INTERNAL, "")
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self._write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.dropped = 0
        self.pending, self.frame_left, self.skip_left = b"", 0, 0
        if self.read_paused or self.sink_paused:
            self.read_paused = self.sink_paused = False
            self.transport.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        if self.close_timer is not None:
            self.close_timer.cancel()
        self.close_timer = self.loop.call_later(LINGER_S, self.transport.close)

    def _drop(self, data: bytes) -> None:
        assert self.dropped is not None
        self.dropped += len(data)
        if self.dropped > LINGER_BYTES:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.dropped is not None:  # failed: the input is no longer parsed
            self._drop(data)
            return
        if not self.handshake_initiated:  # the HTTP request uvicorn replays on upgrade
            super().data_received(data)
            if not self.handshake_initiated and self.conn.handshake_exc is not None:
                self.transport.write(b"".join(self.conn.data_to_send()))  # websockets' 4xx answer, if any
                self.transport.close()
            return
        if self.pending:
            data, self.pending = self.pending + data, b""
        self._parse(data)

    def _parse(self, data: bytes) -> None:
        pos, size = 0, len(data)
        if self.skip_left:
            pos = min(self.skip_left, size)
            self.skip_left -= pos
        elif self.frame_left:
            pos = min(self.frame_left, size)
            self.frame_left -= pos
            self._receive(data if pos == size else data[:pos])
        while pos < size:
            if self.transport.is_closing():
                return
            if self._holding():
                self.pending = data[pos:]
                return
            length = frame_length(data, pos)
            if length is None:  # a header split across reads: wait for the rest of it
                self.pending = data[pos:]
                return
            end = pos + length
            if self.close_sent and data[pos] & 0x0F != 0x8:
                # closing: only the peer's close frame matters; the rest is skipped unparsed (cheap, so a
                # flood sent after the close costs next to nothing until the grace ends)
                if end > size:
                    self.skip_left = end - size
                pos = end
                continue
            if end > size:
                self.frame_left = end - size
                end = size
            elif self._data_frame(data, pos, end):
                pos = end
                continue
            self._receive(data if pos == 0 and end == size else data[pos:end])
            pos = end

    def _data_frame(self, data: bytes, pos: int, end: int) -> bool:
        """Hand the complete frame ``data[pos:end]`` to the sink without websockets' parser, if it is a
        final, masked text or binary frame with no reserved bit set, within the size limit, outside a
        fragmented message, on an open connection whose sink is set; False (nothing done) otherwise."""
        feed = self.frame_sink
        first = data[pos]
        if feed is None or (first != 0x81 and first != 0x82):
            return False
        conn = self.conn
        if conn.current_size is not None or conn.state is not State.OPEN or self.frames:
            return False
        size = data[pos + 1] ^ 0x80  # the mask bit, which a client must set
        head = pos + 2
        if size > 125:
            if size == 126:
                size, head = int.from_bytes(data[head : head + 2], "big"), head + 2
            elif size == 127:
                size, head = int.from_bytes(data[head : head + 8], "big"), head + 8
            else:  # unmasked: websockets' parser answers it (1002)
                return False
        limit, fragment_limit = conn.max_message_size, conn.max_fragment_size
        if (limit is not None and size > limit) or (fragment_limit is not None and size > fragment_limit):
            return False
        payload = apply_mask(data[head + 4 : end], data[head : head + 4])
        if first == 0x81:
            try:
                message: str | bytes = payload.decode()
            except UnicodeDecodeError:  # websockets' parser closes with 1007
                return False
        else:
            message = payload
        if not feed(message) and not self.sink_paused:
            self.sink_paused = True
            self.transport.pause_reading()
        return True

    def _receive(self, chunk: bytes) -> None:
        if self.dropped is not None:
            self._drop(chunk)
            return
        self.conn.receive_data(chunk)
        if self.conn.parser_exc is not None:
            self.handle_parser_exception()
            return
        self.handle_events()

    def _release_pending(self) -> None:
        if self.transport.is_closing() or self._holding():
            return
        data, self.pending = self.pending, b""
        self._parse(data)
        if not self._holding() and not self.transport.is_closing():
            self.transport.resume_reading()

    async def receive(self) -> Any:
        message = await super().receive()
        if self.pending and not self._holding():  # uvicorn resumed reading: parse what was held first
            self.loop.call_soon(self._release_pending)
        return message

    # ---- control frames -----------------------------------------------------------------------
    def _control_allowed(self) -> bool:
        bucket = self.control
        if bucket is None:
            bucket = self.control = TokenBucket(self.control_rate, self.control_burst, time.monotonic())
        if bucket.take(time.monotonic()):
            return True
        self.fail_policy("too many ping/pong frames")
        return False

    def fail_policy(self, reason: str) -> None:
        """Close with 1008 from the transport, telling the bound connection (if any)."""
        if self.sink is not None:
            self.sink.close(errors.CLOSE_POLICY, reason)
        else:
            self.close_with(errors.CLOSE_POLICY, reason)

    def handle_ping(self) -> None:
        pong = self.conn.data_to_send()  # taken in any case: the sans-I/O buffer must not grow either
        if self.close_sent or not self._control_allowed():
            return
        if self.transport.get_write_buffer_size() > self.high_water:
            return  # the peer is not reading: no answer (it gets one to a later ping once it reads)
        self._write(b"".join(pong))

    def handle_pong(self, event: Any) -> None:
        if self.close_sent or not self._control_allowed():
            return
        super().handle_pong(event)

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
        self.pending = b""
        self.corked = None
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
    while queue:
        batch = queue[: LivehubWebSocketProtocol.shutdown_batch]
        del queue[: len(batch)]
        for proto in batch:
            proto.stop_keepalive()
            proto.close_with(errors.CLOSE_RESTART, "server restart: reconnect and resume")
        if queue:
            await asyncio.sleep(LivehubWebSocketProtocol.shutdown_interval_s)


class LivehubHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the request head bounded in size and in time."""

    max_header_bytes: ClassVar[int] = 16_384
    header_timeout_s: ClassVar[float] = 10.0
    head_bytes = 0
    in_head = True  # waiting for a request's line and headers
    head_timer: asyncio.TimerHandle | None = None
    lingering: int | None = None  # bytes dropped since the connection was refused (None: not refused)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def _disarm_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timeout(self) -> None:
        self.head_timer = None
        if self.in_head and not self.transport.is_closing() and self.transport.get_protocol() is self:
            if self.head_bytes:
                self._refuse(408, "request headers not received in time")
            else:  # nothing sent (an idle keep-alive or preconnected socket): close without an answer to misread
                self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` and close, lingering: the answer and a FIN go out first, then what the peer still
        sends is read and dropped for at most LINGER_S / LINGER_BYTES (closing with unread input would reset
        the connection and could destroy the answer before the peer reads it)."""
        body = message.encode("ascii")
        phrase = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        head = b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n" % (
            status, phrase, len(body))  # fmt: skip
        self.transport.write(head + b"connection: close\r\n\r\n" + body)
        self.linger()

    def linger(self) -> None:
        """Close after what was written, reading and dropping the peer's input meanwhile (bounded)."""
        self._disarm_head_timer()
        if self.lingering is not None or self.transport.is_closing():
            return
        self.lingering = 0
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self.transport.resume_reading()  # uvicorn's flow control may have paused it under a large body
        self.loop.call_later(LINGER_S, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if self.lingering is not None:  # answered and closing: drop what still comes, for a bounded while
            self.lingering += len(data)
            if self.lingering > LINGER_BYTES:
                self.transport.close()
            return
        if not self.in_head:
            super().data_received(data)
            return
        self._arm_head_timer()  # a keep-alive connection's next request starts its own clock
        room = self.max_header_bytes - self.head_bytes
        if len(data) <= room:
            self.head_bytes += len(data)
            super().data_received(data)
            return
        head, rest = data[:room], data[room:]
        self.head_bytes += len(head)
        super().data_received(head)
        if self.transport.is_closing():
            return
        upgraded = self.transport.get_protocol()
        if upgraded is not self:  # the head ended inside this read and the connection is a websocket now
            if isinstance(upgraded, asyncio.Protocol):
                upgraded.data_received(rest)
        elif self.in_head and self.head_bytes:  # still the same request's head, and it is full
            self._refuse(431, f"request line and headers larger than {self.max_header_bytes} bytes")
        else:  # its body, or the next pipelined request (bounded in turn)
            self.data_received(rest)

    def handle_websocket_upgrade(self) -> None:
        """A plain upgrade to the path the app registered (:data:`DIRECT_WS`) is answered here, from the
        headers already parsed: the websocket protocol is opened directly and handed to the app's handler.
        Any other upgrade goes to uvicorn, which replays the request to websockets' handshake."""
        direct = self.app_state.get(DIRECT_WS)
        protocol_class: Any = self.ws_protocol_class
        ours = isinstance(protocol_class, type) and issubclass(protocol_class, LivehubWebSocketProtocol)
        if direct is not None and ours and not self.config.ws_per_message_deflate and not self.root_path:
            path, handler = direct
            url = httptools.parse_url(self.url)
            upgrade = plain_upgrade(self.scope["method"], self.scope["http_version"], self.url, self.headers,
                                    max_headers=http11.MAX_NUM_HEADERS, max_line=http11.MAX_LINE_LENGTH)  # fmt: skip
            if url.path == path and upgrade is not None:
                self._upgrade_directly(handler, url.query or b"", upgrade)
                return
        super().handle_websocket_upgrade()

    def _upgrade_directly(self, handler: DirectHandler, query: bytes, upgrade: Upgrade) -> None:
        self.connections.discard(self)
        protocol_class: Any = self.ws_protocol_class
        protocol: LivehubWebSocketProtocol = protocol_class(
            config=self.config, server_state=self.server_state, app_state=self.app_state)  # fmt: skip
        protocol.connection_made(self.transport)
        self.transport.set_protocol(protocol)
        if self.logger.isEnabledFor(logging.INFO):  # uvicorn's accept line (livehub: at --log-level DEBUG, redacted)
            client = f"{self.client[0]}:{self.client[1]}" if self.client else ""
            self.logger.info('%s - "WebSocket %s" [accepted]', client, self.url.decode("latin-1"))
        handler(protocol, DirectUpgrade(query, self.headers, self.client, upgrade))

    def on_headers_complete(self) -> None:
        self.in_head = False
        self._disarm_head_timer()
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle is not before and _has_body(self.headers):
            cycle.transport = _EarlyAnswerCloses(self, cycle)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.in_head = True
        self.head_bytes = 0

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False


class _EarlyAnswerCloses:
    """The transport as the response cycle of a request with a body sees it: an answer that starts before the
    body was read in full (413 for a body over the cap, 401 before reading it ...) says ``connection: close``
    and ends in a lingering close (:meth:`LivehubHttpProtocol.linger`): the unread rest of the body must not
    be parsed as the next request, and closing with it unread would reset the connection under the answer."""

    def __init__(self, proto: LivehubHttpProtocol, cycle: Any) -> None:
        self._proto = proto
        self._transport = proto.transport
        self._cycle = cycle
        self._early = False
        self._head_seen = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def write(self, data: bytes) -> None:
        if not self._head_seen and not data.startswith(b"HTTP/1.1 100 "):
            self._head_seen = True
            if self._cycle.more_body:  # the request's body is still arriving
                self._early = True
                self._cycle.keep_alive = False
                if b"\r\nconnection: close\r\n" not in data.lower():
                    data = data[:-2] + b"connection: close\r\n\r\n"
        self._transport.write(data)

    def close(self) -> None:
        if self._early:
            self._proto.linger()
        else:
            self._transport.close()
