"""livehub.web.transport's bounds against hostile peers, on a protocol object that was never connected: a
recording stand-in is its transport, client frames are built as bytes in memory (masked, as a client sends
them), nothing touches a socket and no test waits on a clock.

* what one TCP read carries is parsed one frame at a time and the rest is held, unparsed, as soon as the sink
  says its backlog is full, and handed over in order once it has room;
* nothing that follows a close in the same read reaches the sink;
* pings and pongs count against a per-connection bucket (beyond it: close 1008), and a ping is not answered
  while the peer leaves more than the high-water mark unread;
* when the peer does not answer a close in time, the socket is closed after what was written if the kernel
  took all of it (close frame included), and aborted otherwise;
* a client that breaks the protocol gets its close frame, and what it still sends is dropped unparsed for a
  bounded while before the socket is closed;
* a plain upgrade of the registered path is answered by the HTTP protocol itself (the direct handshake): the
  101 and every frame written before the flush leave in one write; any other upgrade takes uvicorn's path.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode

from livehub.protocol.handshake import accept_response
from livehub.web.transport import (
    DIRECT_WS,
    DirectUpgrade,
    LivehubHttpProtocol,
    LivehubWebSocketProtocol,
    frame_length,
)
from tests.web.test_uvicorn_internals import HANDSHAKE, RecordingTransport, open_handshake


async def _app(scope: Any, receive: Any, send: Any) -> None:  # never called: nothing connects
    raise AssertionError("the ASGI app must not run in a transport unit test")


class Transport(RecordingTransport):
    """The recording transport, with a write buffer the test sets and a closing state."""

    def __init__(self) -> None:
        super().__init__()
        self.buffered = 0
        self.closing = False

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        super().close()
        self.closing = True

    def abort(self) -> None:
        super().abort()
        self.closing = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.calls.append("write_eof")


@pytest.fixture
def fresh() -> Iterator[LivehubWebSocketProtocol]:
    """A protocol before any handshake, as uvicorn builds it."""
    loop = asyncio.new_event_loop()
    try:
        config = Config(app=_app, ws="livehub.web.transport:LivehubWebSocketProtocol", log_config=None)
        config.load()
        p = LivehubWebSocketProtocol(config=config, server_state=ServerState(), app_state={}, _loop=loop)
        p.transport = Transport()  # type: ignore[assignment]
        yield p
        p.stop_keepalive()
    finally:
        loop.close()


@pytest.fixture
def proto(fresh: LivehubWebSocketProtocol) -> LivehubWebSocketProtocol:
    """A protocol whose handshake went through uvicorn's path (websockets' parser)."""
    open_handshake(fresh)
    fresh.handshake_initiated = fresh.handshake_complete = True
    return fresh


def transport(p: LivehubWebSocketProtocol) -> Transport:
    t = p.transport
    assert isinstance(t, Transport)
    return t


def run_soon(p: LivehubWebSocketProtocol) -> None:
    """Run the callbacks the protocol scheduled with call_soon."""
    p.loop.run_until_complete(asyncio.sleep(0))


def client_frame(opcode: Opcode, payload: bytes, fin: bool = True) -> bytes:
    return Frame(opcode, payload, fin=fin).serialize(mask=True, extensions=[])


def text(i: int) -> bytes:
    return client_frame(Opcode.TEXT, b'{"type":"ping","id":%d}' % i)


class Sink:
    """A frame sink whose backlog is full after ``room`` frames, until :meth:`drain`."""

    def __init__(self, room: int) -> None:
        self.got: list[str | bytes] = []
        self.room = room

    def __call__(self, message: str | bytes) -> bool:
        self.got.append(message)
        self.room -= 1
        return self.room > 0

    def drain(self, room: int) -> None:
        self.room = room


def written_close_codes(p: LivehubWebSocketProtocol) -> list[int]:
    out = b"".join(transport(p).written)
    codes = []
    i = 0
    while i < len(out):
        n = frame_length(out, i)
        assert n is not None
        if out[i] & 0x0F == Opcode.CLOSE:
            codes.append(int.from_bytes(out[i + 2 : i + 4], "big"))
        i += n
    return codes


# ---- one read, many frames ------------------------------------------------------------------------------


def test_a_read_carrying_more_frames_than_the_sink_takes_is_held_unparsed_and_not_read_further(
    proto: LivehubWebSocketProtocol,
) -> None:
    sink = Sink(room=3)
    proto.frame_sink = sink
    frames = [text(i) for i in range(5000)]
    proto.data_received(b"".join(frames))
    assert len(sink.got) == 3, "frames were handed over after the sink said its backlog was full"
    assert "pause_reading" in transport(proto).calls
    assert proto.pending == b"".join(frames[3:]), "the rest of the read stays as bytes, from the next frame on"


def test_held_frames_reach_the_sink_in_order_once_it_has_room_again(proto: LivehubWebSocketProtocol) -> None:
    sink = Sink(room=2)
    proto.frame_sink = sink
    proto.data_received(b"".join(text(i) for i in range(7)))
    while proto.sink_paused or proto.pending:
        sink.drain(room=2)
        proto.resume_frames()
        run_soon(proto)
    assert sink.got == [f'{{"type":"ping","id":{i}}}' for i in range(7)]
    assert transport(proto).calls[-1] == "resume_reading", "reading resumes once nothing is held"


def test_nothing_after_a_close_in_the_same_read_reaches_the_sink(proto: LivehubWebSocketProtocol) -> None:
    got: list[str | bytes] = []

    def sink(message: str | bytes) -> bool:
        got.append(message)
        if len(got) == 2:
            proto.close_with(1008, "too many bad frames")
        return True

    proto.frame_sink = sink
    proto.data_received(b"".join(text(i) for i in range(1000)))
    assert len(got) == 2
    assert written_close_codes(proto) == [1008]
    if proto.close_timer is not None:
        proto.close_timer.cancel()


def test_the_peers_close_reply_held_behind_a_full_sink_is_still_read_after_our_close(
    proto: LivehubWebSocketProtocol,
) -> None:
    sink = Sink(room=1)
    proto.frame_sink = sink
    proto.data_received(text(0) + text(1) + client_frame(Opcode.CLOSE, (1000).to_bytes(2, "big")))
    assert proto.sink_paused and proto.pending
    proto.close_with(4008, "slow consumer: reconnect and resume")
    run_soon(proto)
    assert len(sink.got) == 1
    assert proto.close_timer is None and "close" in transport(proto).calls, "the close reply completes the close"


@settings(max_examples=200, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=300), min_size=1, max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
)
def test_frames_split_anywhere_across_reads_arrive_whole_and_in_order(payloads: list[bytes], cuts: list[int]) -> None:
    loop = asyncio.new_event_loop()
    try:
        config = Config(app=_app, ws="livehub.web.transport:LivehubWebSocketProtocol", log_config=None)
        config.load()
        p = LivehubWebSocketProtocol(config=config, server_state=ServerState(), app_state={}, _loop=loop)
        p.transport = Transport()  # type: ignore[assignment]
        open_handshake(p)
        p.handshake_initiated = p.handshake_complete = True
        got: list[str | bytes] = []
        p.frame_sink = lambda message: got.append(message) is None
        wire = b""
        for payload in payloads:  # each message in two fragments, to cross frame and message boundaries
            half = len(payload) // 2
            wire += client_frame(Opcode.BINARY, payload[:half], fin=False) + client_frame(Opcode.CONT, payload[half:])
        points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
        for a, b in itertools.pairwise(points):
            p.data_received(wire[a:b])
        assert got == payloads
        assert not p.pending and p.frame_left == 0
    finally:
        loop.close()


@settings(max_examples=200, deadline=None)
@given(
    messages=st.lists(
        st.tuples(
            st.sampled_from(["text", "binary"]), st.sampled_from([0, 5, 125, 126, 300, 65_535, 65_536]), st.booleans()
        ),
        min_size=1,
        max_size=8,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=200_000), max_size=8),
)
def test_whole_and_fragmented_frames_of_every_length_form_mixed_arrive_whole_and_in_order(
    messages: list[tuple[str, int, bool]], cuts: list[int]
) -> None:
    """Whole unfragmented frames take the transport's own path, fragments websockets' parser: mixed, split
    anywhere across reads, the sink gets every message, typed as sent, in order."""
    loop = asyncio.new_event_loop()
    try:
        config = Config(app=_app, ws="livehub.web.transport:LivehubWebSocketProtocol", log_config=None)
        config.load()
        p = LivehubWebSocketProtocol(config=config, server_state=ServerState(), app_state={}, _loop=loop)
        p.transport = Transport()  # type: ignore[assignment]
        open_handshake(p)
        p.handshake_initiated = p.handshake_complete = True
        got: list[str | bytes] = []
        p.frame_sink = lambda message: got.append(message) is None
        wire, sent = b"", []  # type: ignore[var-annotated]
        for i, (kind, size, fragmented) in enumerate(messages):
            # a UTF-8 body of about `size` bytes (an accented letter repeated), cut on a character boundary
            body = (f"{i}:" + "\u00e9" * size).encode()[: max(size, 3)].decode(errors="ignore").encode()
            opcode = Opcode.TEXT if kind == "text" else Opcode.BINARY
            sent.append(body.decode() if kind == "text" else body)
            if fragmented:
                half = len(body) // 2
                if kind == "text":  # split a text message on a character boundary
                    half = len(body[:half].decode(errors="ignore").encode())
                wire += client_frame(opcode, body[:half], fin=False) + client_frame(Opcode.CONT, body[half:])
            else:
                wire += client_frame(opcode, body)
        points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
        for a, b in itertools.pairwise(points):
            p.data_received(wire[a:b])
        assert got == sent
        assert not p.pending and p.frame_left == 0 and written_close_codes(p) == []
    finally:
        loop.close()


def test_a_whole_text_frame_that_is_not_utf8_still_closes_with_1007(proto: LivehubWebSocketProtocol) -> None:
    got: list[str | bytes] = []
    proto.frame_sink = lambda message: got.append(message) is None
    proto.data_received(client_frame(Opcode.TEXT, b"\xff\xfe") + text(1))
    assert got == [] and written_close_codes(proto) == [1007]


def test_a_whole_frame_over_the_size_limit_still_closes_with_1009(proto: LivehubWebSocketProtocol) -> None:
    got: list[str | bytes] = []
    proto.frame_sink = lambda message: got.append(message) is None
    limit = proto.conn.max_message_size
    assert limit is not None
    proto.data_received(client_frame(Opcode.BINARY, b"x" * (limit + 1)) + text(1))
    assert got == [] and written_close_codes(proto) == [1009]


def test_before_the_sink_is_set_invalid_utf8_closes_with_1007_and_logs_no_traceback(
    proto: LivehubWebSocketProtocol, caplog: pytest.LogCaptureFixture
) -> None:
    """Frames that come while the endpoint still reads through ASGI (during the join): valid ones are
    queued for it, invalid UTF-8 is the client's error (1007), not a server traceback."""
    proto.data_received(text(1))
    assert proto.queue.get_nowait() == {"type": "websocket.receive", "text": '{"type":"ping","id":1}'}
    proto.read_paused = False
    proto.data_received(client_frame(Opcode.TEXT, b"\xff\xfe"))
    assert proto.queue.empty() is False  # the disconnect the endpoint reads
    assert written_close_codes(proto) == [1007]
    assert not [r for r in caplog.records if r.exc_info]


def test_an_unmasked_or_reserved_bit_frame_still_closes_with_1002(proto: LivehubWebSocketProtocol) -> None:
    got: list[str | bytes] = []
    proto.frame_sink = lambda message: got.append(message) is None
    proto.data_received(Frame(Opcode.TEXT, b"hi").serialize(mask=False, extensions=[]))
    assert got == [] and written_close_codes(proto) == [1002]


def test_frame_length_reads_the_three_length_forms_and_the_mask_bit() -> None:
    assert frame_length(client_frame(Opcode.TEXT, b"x" * 5), 0) == 2 + 4 + 5
    assert frame_length(client_frame(Opcode.TEXT, b"x" * 300), 0) == 4 + 4 + 300
    assert frame_length(client_frame(Opcode.BINARY, b"x" * 70_000), 0) == 10 + 4 + 70_000
    assert frame_length(b"\x81", 0) is None and frame_length(b"\x81\xfe\x01", 0) is None


# ---- control frames -------------------------------------------------------------------------------------


def test_pings_beyond_the_control_burst_close_the_connection_with_1008(proto: LivehubWebSocketProtocol) -> None:
    burst = int(LivehubWebSocketProtocol.control_burst)
    proto.data_received(b"".join(client_frame(Opcode.PING, b"p") for _ in range(burst * 50)))
    out = b"".join(transport(proto).written)
    pongs = [i for i in range(len(out)) if out[i : i + 3] == b"\x8a\x01p"]
    assert len(pongs) == burst, f"{len(pongs)} pongs for a burst of {burst}"
    assert written_close_codes(proto) == [1008]
    assert proto.close_sent
    assert proto.queue.get_nowait()["code"] == 1008
    if proto.close_timer is not None:
        proto.close_timer.cancel()


def test_a_ping_is_not_answered_while_the_peer_leaves_more_than_the_high_water_mark_unread(
    proto: LivehubWebSocketProtocol,
) -> None:
    transport(proto).buffered = LivehubWebSocketProtocol.high_water + 1
    proto.data_received(client_frame(Opcode.PING, b"p"))
    assert transport(proto).written == []
    assert proto.conn.data_to_send() == [], "the pong must not wait in the sans-I/O buffer either"
    transport(proto).buffered = 0
    proto.data_received(client_frame(Opcode.PING, b"q"))
    assert b"".join(transport(proto).written) == b"\x8a\x01q"


def test_unsolicited_pongs_count_against_the_control_bucket_too(proto: LivehubWebSocketProtocol) -> None:
    burst = int(LivehubWebSocketProtocol.control_burst)
    proto.data_received(b"".join(client_frame(Opcode.PONG, b"") for _ in range(burst + 1)))
    assert written_close_codes(proto) == [1008]
    if proto.close_timer is not None:
        proto.close_timer.cancel()


# ---- the end of a close ---------------------------------------------------------------------------------


def test_a_close_unanswered_in_time_ends_in_a_graceful_close_when_everything_was_written(
    proto: LivehubWebSocketProtocol,
) -> None:
    proto.close_with(4008, "slow consumer: reconnect and resume")
    timer = proto.close_timer
    assert timer is not None
    assert timer._callback == proto._close_grace_over  # type: ignore[attr-defined]
    timer.cancel()
    proto._close_grace_over()  # the grace is over (run now instead of waiting for it)
    assert "close" in transport(proto).calls and "abort" not in transport(proto).calls


def test_a_close_unanswered_in_time_aborts_when_the_peer_left_bytes_unread(proto: LivehubWebSocketProtocol) -> None:
    proto.close_with(4008, "slow consumer: reconnect and resume")
    transport(proto).buffered = 70_000
    timer = proto.close_timer
    assert timer is not None
    timer.cancel()
    proto._close_grace_over()
    assert "abort" in transport(proto).calls and "close" not in transport(proto).calls


def test_a_protocol_violation_sends_its_close_then_drains_the_input_before_closing(
    proto: LivehubWebSocketProtocol,
) -> None:
    too_big = bytes([0x82, 0xFF]) + (2**40).to_bytes(8, "big") + b"mask"  # a binary frame declaring 1 TiB
    proto.data_received(too_big + b"x" * 1000)
    assert written_close_codes(proto) == [1009]
    assert "write_eof" in transport(proto).calls and "close" not in transport(proto).calls, (
        "closing with the client's input unread resets the connection under the close frame"
    )
    proto.data_received(client_frame(Opcode.PING, b"p") * 100)  # dropped, never parsed nor answered
    assert written_close_codes(proto) == [1009] and len(transport(proto).written) == 1
    timer = proto.close_timer
    assert timer is not None and timer._callback == transport(proto).close  # type: ignore[attr-defined]
    timer.cancel()


def test_after_our_close_a_flood_is_skipped_unparsed_until_the_peers_close_reply(
    proto: LivehubWebSocketProtocol,
) -> None:
    proto.close_with(4008, "slow consumer: reconnect and resume")
    fed: list[int] = []
    receive = proto.conn.receive_data
    proto.conn.receive_data = lambda data: fed.append(len(data)) or receive(data)  # type: ignore[method-assign]
    flood = b"".join(client_frame(Opcode.PING, b"p" * 100) for _ in range(2000)) + text(1) * 500
    reply = client_frame(Opcode.CLOSE, (4008).to_bytes(2, "big"))
    wire = flood + reply
    for i in range(0, len(wire), 1000):  # frames split across reads, too
        proto.data_received(wire[i : i + 1000])
    assert sum(fed) == len(reply), "only the close reply reaches the websocket parser"
    assert proto.close_timer is None and "close" in transport(proto).calls


# ---- the hand-over: an idle connection without its ASGI app ------------------------------------------------


def run_app(p: LivehubWebSocketProtocol, app: Any) -> None:
    """Run ``app`` as uvicorn runs the ASGI app of the connection (``run_asgi``), to its end."""
    p.app = app
    p.scope = {"type": "websocket", "extensions": {}}  # type: ignore[typeddict-item]
    p.loop.run_until_complete(p.run_asgi())


def test_an_app_that_handed_the_connection_over_returns_and_the_connection_stays_open(
    proto: LivehubWebSocketProtocol,
) -> None:
    handed: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        handed.append(proto.hand_over(lambda: None, Sink(room=10)))

    run_app(proto, app)
    assert handed == [True] and "close" not in transport(proto).calls


def test_an_app_that_returns_without_handing_over_closes_the_connection(proto: LivehubWebSocketProtocol) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    run_app(proto, app)
    assert "close" in transport(proto).calls


def test_the_frames_queued_during_the_join_reach_the_session_first_and_in_order(
    proto: LivehubWebSocketProtocol,
) -> None:
    proto.queue.put_nowait({"type": "websocket.receive", "text": "came during the join"})
    proto.queue.put_nowait({"type": "websocket.receive", "bytes": b"\x81"})
    proto.read_paused = True  # as uvicorn pauses reading while it queues for the app
    sink = Sink(room=10)
    assert proto.hand_over(lambda: None, sink)
    proto.data_received(text(3))
    assert sink.got == ["came during the join", b"\x81", '{"type":"ping","id":3}']
    assert not proto.read_paused and transport(proto).calls[-1] == "resume_reading"


def test_a_connection_that_ended_during_the_join_is_not_handed_over(proto: LivehubWebSocketProtocol) -> None:
    proto.queue.put_nowait({"type": "websocket.receive", "text": "came during the join"})
    proto.queue.put_nowait({"type": "websocket.disconnect", "code": 1001})
    sink = Sink(room=10)
    assert not proto.hand_over(lambda: None, sink), "the caller cleans up"
    assert sink.got == ["came during the join"] and proto.frame_sink is None


def test_a_full_session_backlog_at_the_hand_over_keeps_the_socket_unread(proto: LivehubWebSocketProtocol) -> None:
    for i in range(3):
        proto.queue.put_nowait({"type": "websocket.receive", "text": f"frame {i}"})
    proto.read_paused = True
    sink = Sink(room=2)
    assert proto.hand_over(lambda: None, sink)
    assert proto.sink_paused and "resume_reading" not in transport(proto).calls
    sink.drain(10)
    proto.resume_frames()
    assert transport(proto).calls[-1] == "resume_reading"


def test_after_the_hand_over_frames_reach_the_sink_and_the_first_disconnect_runs_the_clean_up_once(
    proto: LivehubWebSocketProtocol,
) -> None:
    sink = Sink(room=10)
    ended: list[str] = []
    assert proto.hand_over(lambda: ended.append("end"), sink)
    proto.data_received(text(1) + text(2))
    assert sink.got == ['{"type":"ping","id":1}', '{"type":"ping","id":2}']
    proto.close_with(4008, "slow consumer: reconnect and resume")
    assert ended == [], "the clean-up runs on the next loop turn, as the endpoint's await would have"
    run_soon(proto)
    proto.connections.add(proto)  # as connection_made does
    proto.connection_lost(None)
    run_soon(proto)
    assert ended == ["end"]
    if proto.close_timer is not None:
        proto.close_timer.cancel()


def test_a_handed_over_connection_keeps_nothing_only_the_app_needed(proto: LivehubWebSocketProtocol) -> None:
    proto.scope = {"type": "websocket", "extensions": {}}  # type: ignore[typeddict-item]
    proto.request = proto.response = object()  # type: ignore[assignment]
    assert proto.hand_over(lambda: None, Sink(room=10))
    assert not isinstance(proto.queue, asyncio.Queue), "uvicorn's receive queue (~3 KiB) is dropped"
    assert not isinstance(proto.writable, asyncio.Event), "... and the send gate (~0.8 KiB)"
    assert not any(hasattr(proto, name) for name in ("scope", "request", "response")), "... and the handshake's"
    proto.pause_writing()  # flow control and the loss still work on what replaced them
    proto.resume_writing()
    proto.connections.add(proto)  # as connection_made does
    proto.connection_lost(None)


# ---- the direct handshake ----------------------------------------------------------------------------------

RESPONSE = accept_response(b"dGhlIHNhbXBsZSBub25jZQ==", None)


class Bound:
    """What a Connection is to the protocol it binds to: where its writes go, told of the loss."""

    def __init__(self) -> None:
        self.write: Any = None
        self.lost = False

    def on_lost(self) -> None:
        self.lost = True


def test_a_directly_opened_connection_parses_frames_from_its_first_byte(fresh: LivehubWebSocketProtocol) -> None:
    fresh.open_direct(RESPONSE)
    sink = Sink(room=10)
    fresh.frame_sink = sink
    fresh.data_received(text(1) + client_frame(Opcode.PING, b"p") + text(2))
    assert sink.got == ['{"type":"ping","id":1}', '{"type":"ping","id":2}']


def test_the_101_and_every_frame_written_before_the_flush_leave_in_one_write(fresh: LivehubWebSocketProtocol) -> None:
    fresh.open_direct(RESPONSE)
    conn = Bound()
    fresh.bind(conn)  # type: ignore[arg-type]
    conn.write(b"welcome")
    conn.write(b"snapshot")
    assert transport(fresh).written == [], "nothing leaves before the flush"
    fresh.flush()
    assert transport(fresh).written == [RESPONSE + b"welcome" + b"snapshot"]
    conn.write(b"event")
    assert transport(fresh).written[-1] == b"event" and conn.write == fresh.write_raw, "straight to the transport"
    assert fresh.ping_timer is not None, "the keepalive pings start with the flush"
    fresh.flush()
    assert len(transport(fresh).written) == 2, "a second flush writes nothing"


def test_a_refusal_before_the_flush_leaves_behind_the_101_in_the_same_write(fresh: LivehubWebSocketProtocol) -> None:
    fresh.open_direct(RESPONSE)
    fresh.send_frame(b"refusal")
    fresh.close_with(4004, "unknown venue")
    (written,) = transport(fresh).written
    assert written.startswith(RESPONSE + b"refusal")
    close = written[len(RESPONSE + b"refusal") :]
    assert close[0] == 0x88 and int.from_bytes(close[2:4], "big") == 4004, "the close frame, last"
    assert fresh.ping_timer is None, "no keepalive for a refused connection"
    if fresh.close_timer is not None:
        fresh.close_timer.cancel()


def test_a_connection_lost_before_the_flush_writes_nothing(fresh: LivehubWebSocketProtocol) -> None:
    fresh.open_direct(RESPONSE)
    fresh.connections.add(fresh)
    fresh.connection_lost(None)
    fresh.flush()
    assert transport(fresh).written == []


class HttpTransport(Transport):
    """The recording transport as the HTTP protocol sees it: it can swap its protocol."""

    def __init__(self) -> None:
        super().__init__()
        self.protocol: Any = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


async def _refusing_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "websocket.close"})  # uvicorn answers the handshake with 403


@pytest.fixture
def upgrades() -> Iterator[list[tuple[LivehubWebSocketProtocol, DirectUpgrade]]]:
    """The upgrades a direct handler got."""
    yield []


def http_protocol(app_state: dict[str, Any], deflate: bool = False) -> tuple[LivehubHttpProtocol, HttpTransport]:
    config = Config(app=_refusing_app, http="livehub.web.transport:LivehubHttpProtocol",
                    ws="livehub.web.transport:LivehubWebSocketProtocol", ws_per_message_deflate=deflate,
                    log_config=None, lifespan="off")  # fmt: skip
    config.load()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # uvicorn builds the websocket protocol on the current loop
    p = LivehubHttpProtocol(config=config, server_state=ServerState(), app_state=app_state, _loop=loop)
    t = HttpTransport()
    t.protocol = p
    p.connection_made(t)  # type: ignore[arg-type]
    return p, t


def run_upgrade(app_state: dict[str, Any], request: bytes, deflate: bool = False) -> HttpTransport:
    p, t = http_protocol(app_state, deflate)
    try:
        p.data_received(request)
        for _ in range(5):  # uvicorn's path runs the ASGI app in a task
            p.loop.run_until_complete(asyncio.sleep(0))
    finally:
        p._disarm_head_timer()
        if isinstance(t.protocol, LivehubWebSocketProtocol):
            t.protocol.stop_keepalive()
            if t.protocol.close_timer is not None:
                t.protocol.close_timer.cancel()
        p.loop.close()
        asyncio.set_event_loop(None)
    return t


def direct_state(got: list[tuple[LivehubWebSocketProtocol, DirectUpgrade]]) -> dict[str, Any]:
    def handler(proto: LivehubWebSocketProtocol, request: DirectUpgrade) -> None:
        got.append((proto, request))

    return {DIRECT_WS: (b"/ws", handler)}


def test_a_plain_upgrade_of_the_registered_path_is_handed_to_its_handler_with_the_parsed_request(
    upgrades: list[tuple[LivehubWebSocketProtocol, DirectUpgrade]],
) -> None:
    request = HANDSHAKE.replace(b"GET /ws ", b"GET /ws?venue=main&token=t ").replace(
        b"\r\n\r\n", b"\r\nSec-WebSocket-Protocol: livehub.msgpack.v1, other\r\n\r\n"
    )
    t = run_upgrade(direct_state(upgrades), request)
    ((proto, got),) = upgrades
    assert t.protocol is proto, "the transport reads into the websocket protocol from now on"
    assert got.query == b"venue=main&token=t" and got.client == ("127.0.0.1", 50000)
    assert got.upgrade.key == b"dGhlIHNhbXBsZSBub25jZQ=="
    assert got.upgrade.subprotocols == ("livehub.msgpack.v1", "other")
    assert (b"host", b"localhost") in got.headers
    assert t.written == [], "the handler answers (the 101 is corked until its flush)"


@pytest.mark.parametrize(
    ("why", "request_bytes", "deflate"),
    [
        ("another path", HANDSHAKE.replace(b"GET /ws ", b"GET /other "), False),
        ("an unsupported version", HANDSHAKE.replace(b"Version: 13", b"Version: 12"), False),
        ("permessage-deflate configured", HANDSHAKE, True),
    ],
)
def test_any_other_upgrade_takes_uvicorns_path_and_websockets_handshake(
    upgrades: list[tuple[LivehubWebSocketProtocol, DirectUpgrade]],
    why: str,
    request_bytes: bytes,
    deflate: bool,
) -> None:
    t = run_upgrade(direct_state(upgrades), request_bytes, deflate)
    assert upgrades == [], why
    answer = b"".join(t.written)
    assert answer.startswith(b"HTTP/1.1 400" if b"Version: 12" in request_bytes else b"HTTP/1.1 403"), answer[:80]


def test_without_a_registered_handler_every_upgrade_takes_uvicorns_path() -> None:
    t = run_upgrade({}, HANDSHAKE)
    assert b"".join(t.written).startswith(b"HTTP/1.1 403")
