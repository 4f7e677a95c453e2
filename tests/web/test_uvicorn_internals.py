"""The uvicorn and websockets internals that ``livehub.web.transport`` builds on, pinned.

``LivehubWebSocketProtocol`` subclasses uvicorn's private ``WebSocketsSansIOProtocol``
and reads and writes its state; uvicorn does not promise any of it between releases
(hence the ``uvicorn`` range in pyproject.toml).  These tests fail naming the piece
that moved, instead of a websocket session misbehaving somewhere in the suite.  They
only introspect and call methods on a protocol object that was never connected: a
recording stand-in is its transport, nothing touches a socket.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.websockets import websockets_sansio_impl
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from livehub.web.transport import LivehubWebSocketProtocol


async def _app(scope: Any, receive: Any, send: Any) -> None:  # never called: nothing connects
    raise AssertionError("the ASGI app must not run in an introspection test")


class RecordingTransport:
    """What the protocol does to its transport, recorded; no socket behind it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def pause_reading(self) -> None:
        self.calls.append("pause_reading")

    def resume_reading(self) -> None:
        self.calls.append("resume_reading")

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        self.calls.append("close")

    def abort(self) -> None:
        self.calls.append("abort")

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.calls.append(f"set_write_buffer_limits({high})")


@pytest.fixture
def proto() -> Iterator[LivehubWebSocketProtocol]:
    """A livehub protocol built the way uvicorn builds one, with a recording transport."""
    loop = asyncio.new_event_loop()
    try:
        config = Config(app=_app, ws="livehub.web.transport:LivehubWebSocketProtocol", log_config=None)
        config.load()
        assert config.ws_protocol_class is LivehubWebSocketProtocol
        p = LivehubWebSocketProtocol(config=config, server_state=ServerState(), app_state={}, _loop=loop)
        p.transport = RecordingTransport()  # type: ignore[assignment]
        yield p
    finally:
        loop.close()


HANDSHAKE = (
    b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def open_handshake(proto: LivehubWebSocketProtocol) -> None:
    """Run the opening handshake through the sans-I/O connection, as uvicorn does, from bytes in memory."""
    proto.conn.receive_data(HANDSHAKE)
    (request,) = proto.conn.events_received()
    proto.conn.send_response(proto.conn.accept(request))  # type: ignore[arg-type]
    proto.conn.data_to_send()


def params(func: Any) -> list[str]:
    return list(inspect.signature(func).parameters)


# ---- the class livehub subclasses ---------------------------------------------------------------------------


def test_livehub_protocol_subclasses_uvicorns_sans_io_websocket_protocol() -> None:
    assert issubclass(LivehubWebSocketProtocol, WebSocketsSansIOProtocol), "WebSocketsSansIOProtocol"
    assert issubclass(WebSocketsSansIOProtocol, asyncio.Protocol), "WebSocketsSansIOProtocol is an asyncio.Protocol"
    assert websockets_sansio_impl.ServerProtocol is ServerProtocol, "sans-I/O impl runs on websockets.ServerProtocol"


def test_uvicorn_builds_the_ws_protocol_from_an_import_string_with_its_documented_arguments() -> None:
    # cli.py passes ws="livehub.web.transport:LivehubWebSocketProtocol"; uvicorn calls it with these keywords.
    assert params(WebSocketsSansIOProtocol.__init__)[:5] == ["self", "config", "server_state", "app_state", "_loop"]
    assert "ws" in inspect.signature(uvicorn.run).parameters, "uvicorn.run(ws=...)"


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("handle_connect", ["self", "event"]),
        ("handle_text", ["self", "event"]),
        ("handle_bytes", ["self", "event"]),
        ("handle_cont", ["self", "event"]),
        ("handle_close", ["self", "event"]),
        ("send_receive_event_to_app", ["self"]),
        ("handle_parser_exception", ["self"]),
        ("pause_writing", ["self"]),
        ("resume_writing", ["self"]),
        ("connection_lost", ["self", "exc"]),
        ("shutdown", ["self"]),
        ("stop_keepalive", ["self"]),
        ("run_asgi", ["self"]),
    ],
)
def test_base_class_methods_livehub_overrides_or_calls_keep_their_parameters(method: str, expected: list[str]) -> None:
    func = getattr(WebSocketsSansIOProtocol, method, None)
    assert func is not None, f"WebSocketsSansIOProtocol.{method} is gone"
    assert callable(func), f"WebSocketsSansIOProtocol.{method} is no longer a method"
    assert params(func) == expected, f"WebSocketsSansIOProtocol.{method}{inspect.signature(func)}"


# ---- the instance state livehub reads and writes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("attr", "kind"),
    [
        ("close_sent", bool),
        ("disconnected", bool),
        ("read_paused", bool),
        ("frames", list),
        ("curr_msg_data_type", str),
        ("queue", asyncio.Queue),
        ("conn", ServerProtocol),
        ("loop", asyncio.AbstractEventLoop),
    ],
)
def test_a_new_protocol_has_the_state_livehub_uses(proto: LivehubWebSocketProtocol, attr: str, kind: type) -> None:
    assert hasattr(proto, attr), f"WebSocketsSansIOProtocol instances no longer have .{attr}"
    assert isinstance(getattr(proto, attr), kind), f".{attr} is {type(getattr(proto, attr)).__name__}, not {kind}"


def test_a_new_protocol_starts_open_and_reading(proto: LivehubWebSocketProtocol) -> None:
    assert (proto.close_sent, proto.disconnected, proto.read_paused, proto.frames) == (False, False, False, [])
    assert hasattr(proto, "close_timer"), ".close_timer (livehub sets it; handle_close cancels it)"
    assert proto.close_timer is None


def test_websockets_server_protocol_has_the_message_state_the_transports_own_frame_path_reads() -> None:
    """LivehubWebSocketProtocol._data_frame reads these (websockets 16 renamed cur_size / max_size to them)."""
    conn = ServerProtocol(max_size=1000)
    assert conn.current_size is None  # between messages
    assert (conn.max_message_size, conn.max_fragment_size) == (1000, None)
    assert conn.state is State.CONNECTING


def test_websockets_server_protocol_closes_and_hands_out_bytes_as_livehub_calls_it() -> None:
    assert params(ServerProtocol.send_close)[:3] == ["self", "code", "reason"], "ServerProtocol.send_close(code, ...)"
    assert params(ServerProtocol.data_to_send) == ["self"], "ServerProtocol.data_to_send()"


# ---- behaviour livehub's overrides depend on ----------------------------------------------------------------


def test_a_final_text_frame_reaches_send_receive_event_to_app_as_frames_of_type_text(
    proto: LivehubWebSocketProtocol,
) -> None:
    got: list[str | bytes] = []
    proto.frame_sink = lambda message: got.append(message) is None
    proto.handle_text(Frame(Opcode.TEXT, b'{"a":', fin=False))
    assert proto.frames == [b'{"a":'] and proto.curr_msg_data_type == "text"
    proto.handle_cont(Frame(Opcode.CONT, b"1}", fin=True))
    assert got == ['{"a":1}'] and proto.frames == []


def test_a_final_binary_frame_reaches_send_receive_event_to_app_as_bytes(proto: LivehubWebSocketProtocol) -> None:
    got: list[str | bytes] = []
    proto.frame_sink = lambda message: got.append(message) is None
    proto.handle_bytes(Frame(Opcode.BINARY, b"\x81\xa1a\x01", fin=True))
    assert got == [b"\x81\xa1a\x01"] and proto.curr_msg_data_type == "bytes"


def test_without_a_sink_messages_go_to_uvicorns_asgi_queue(proto: LivehubWebSocketProtocol) -> None:
    proto.handle_text(Frame(Opcode.TEXT, b"hi", fin=True))
    assert proto.queue.get_nowait() == {"type": "websocket.receive", "text": "hi"}
    assert proto.read_paused, "uvicorn pauses reading until the app takes the message (livehub resumes on that)"


def test_close_with_sends_a_close_frame_through_the_sans_io_connection(proto: LivehubWebSocketProtocol) -> None:
    open_handshake(proto)
    proto.close_with(1008, "too slow")
    assert proto.close_sent
    assert proto.queue.get_nowait() == {"type": "websocket.disconnect", "code": 1008, "reason": "too slow"}
    frame = b"".join(proto.transport.written)  # type: ignore[attr-defined]
    assert frame[0] == 0x88 and frame[2:4] == (1008).to_bytes(2, "big") and frame.endswith(b"too slow")
    assert proto.close_timer is not None
    proto.close_timer.cancel()


def test_the_peers_close_reply_cancels_livehubs_grace_timer_and_closes(proto: LivehubWebSocketProtocol) -> None:
    open_handshake(proto)
    proto.close_with(1008, "too slow")
    timer = proto.close_timer
    assert timer is not None
    proto.handle_close(Frame(Opcode.CLOSE, b"\x03\xf0"))
    assert timer.cancelled(), "handle_close no longer cancels close_timer: every slow consumer would be aborted"
    assert proto.close_timer is None and "close" in proto.transport.calls  # type: ignore[attr-defined]


# ---- what the hostile-input bounds build on (livehub.web.transport) ------------------------------------------


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("data_received", ["self", "data"]),
        ("handle_ping", ["self"]),
        ("handle_pong", ["self", "event"]),
        ("receive", ["self"]),
    ],
)
def test_websocket_methods_the_bounds_override_keep_their_parameters(method: str, expected: list[str]) -> None:
    func = getattr(WebSocketsSansIOProtocol, method, None)
    assert func is not None and params(func) == expected, f"WebSocketsSansIOProtocol.{method}"


def test_a_new_protocol_has_the_handshake_state_the_bounds_read(proto: LivehubWebSocketProtocol) -> None:
    assert proto.handshake_initiated is False, ".handshake_initiated (set by handle_connect)"
    assert proto.conn.handshake_exc is None, "ServerProtocol.handshake_exc"
    assert proto.conn.parser_exc is None, "ServerProtocol.parser_exc"


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("connection_made", ["self", "transport"]),
        ("connection_lost", ["self", "exc"]),
        ("data_received", ["self", "data"]),
        ("on_headers_complete", ["self"]),
        ("on_message_complete", ["self"]),
    ],
)
def test_httptools_protocol_methods_livehub_overrides_keep_their_parameters(method: str, expected: list[str]) -> None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    func = getattr(HttpToolsProtocol, method, None)
    assert func is not None and params(func) == expected, f"HttpToolsProtocol.{method}"


def test_the_httptools_response_cycle_has_the_state_livehub_reads_and_writes() -> None:
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

    source = inspect.getsource(RequestResponseCycle)
    for attr in ("self.transport = transport", "self.more_body = True", "self.keep_alive = keep_alive",
                 "self.transport.close()"):  # fmt: skip
        assert attr in source, f"RequestResponseCycle: {attr!r}"
