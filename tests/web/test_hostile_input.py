"""Hostile input against one real ``livehub serve`` over real sockets on 127.0.0.1: every bad-input class of
docs/operations.md ("Hostile input"), fuzzed with hypothesis where the input has a shape (fewer examples than
the pure decoder fuzzing, no deadline), hand-built where it is about bytes on the wire (slowloris, oversized
heads, ping floods, a client that never reads).

Throughout, a healthy viewer joined to ``main`` on the same node receives what a host publishes there every
few milliseconds (a thread of its own, see :class:`Watch`); the last tests check that it got every event with
contiguous offsets, that no answer was a 5xx or an ``internal`` error, and that the server's log (its stdout and
stderr) holds no traceback.  Each test tallies the inputs it tried (tests/fuzzing.py).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import math
import os
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.sync.client import ClientConnection, connect

from livehub import errors
from livehub.client import Client
from livehub.web.transport import frame_length
from tests.conftest import HUB_ENV, LivehubProcess, host_token, http_json, running, viewer_token
from tests.fuzzing import report, tried, wire

HEADER_TIMEOUT_S = 1.0
CLOSE_GRACE_S = 1.0
MAX_FRAME = 8192
WS_MAX = 65_536
SERVER_ERRORS = {errors.BAD_FRAME, errors.UNKNOWN_TYPE, errors.TOO_LARGE, errors.BAD_REQUEST, errors.RATE_LIMITED,
                 errors.NOT_FOUND, errors.FORBIDDEN, errors.UNAVAILABLE, errors.UNAUTHORIZED}  # fmt: skip
FUZZ_CLOSES = {1002, 1007, 1008, 1009}  # protocol error, invalid UTF-8, policy, too big (docs/protocol.md)
KEEPALIVE_CLOSE = 1011  # a peer that answers no ping within ws_ping_timeout_s
CODEC_SUBPROTOCOL = {"json": "livehub.json.v1", "msgpack": "livehub.msgpack.v1"}


# ---- the server and the healthy viewer that watches it ------------------------------------------


class Watch:
    """A healthy viewer of ``main`` and a host publishing to it, in a thread with its own event loop."""

    def __init__(self, server: LivehubProcess) -> None:
        self.server = server
        self.run = "watch-" + uuid.uuid4().hex[:8]
        self.published = 0
        self.received: list[int] = []
        self.gaps: list[str] = []
        self.close_code: int | None = None
        self.statuses: list[int] = []
        self.failure: BaseException | None = None
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._thread, daemon=True)

    def start(self) -> Watch:
        self.thread.start()
        assert self.ready.wait(30), "the healthy viewer did not connect"
        if self.failure is not None:
            raise self.failure
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(60)

    def _thread(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by the test that checks the watch
            self.failure = exc
            self.ready.set()

    def _publish(self, marker: int) -> None:
        status, _ = http_json("POST", f"{self.server.http}/api/venues/main/events",
                              {"kind": "watch", "data": {"run": self.run, "marker": marker}},
                              host_token("host-main", "main"))  # fmt: skip
        self.statuses.append(status)
        assert status == 200, status

    async def _main(self) -> None:
        client = await Client.connect(self.server.ws, viewer_token("healthy-" + uuid.uuid4().hex[:6]), venue="main")
        await client.wait_for("snapshot")
        reader = asyncio.create_task(self._read(client))
        self.ready.set()
        try:
            while not self.stopping.is_set():
                await asyncio.to_thread(self._publish, self.published)
                self.published += 1
                await asyncio.sleep(0.02)
            await asyncio.to_thread(self._publish, -1)  # the last one: everything before it must have arrived
            await asyncio.wait_for(reader, 30)
        finally:
            reader.cancel()
            self.gaps = list(client.gaps)
            self.close_code = client.close_code
            await client.close()

    async def _read(self, client: Client) -> None:
        while True:
            frame = await client.next(30)
            data = frame.get("data")
            if frame.get("type") == "event" and isinstance(data, dict) and data.get("run") == self.run:
                if data["marker"] == -1:
                    return
                self.received.append(data["marker"])


@dataclass
class Hostile:
    server: LivehubProcess
    watch: Watch
    statuses: list[int] = field(default_factory=list)
    error_codes: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def hostile(redis_url: str, request: pytest.FixtureRequest) -> Iterator[Hostile]:
    env = {**HUB_ENV, "LIVEHUB_HTTP_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
           "LIVEHUB_WS_CLOSE_GRACE_S": str(CLOSE_GRACE_S), "LIVEHUB_WS_PING_INTERVAL_S": "3",
           "LIVEHUB_WS_PING_TIMEOUT_S": "3"}  # fmt: skip
    with running(redis_url, "ho" + uuid.uuid4().hex[:8], env) as server:
        watch = Watch(server).start()
        try:
            yield Hostile(server, watch)
        finally:
            watch.stop()
            report("websocket", request)


# ---- clients --------------------------------------------------------------------------------------


def ws_url(server: LivehubProcess, token: str | None = None) -> str:
    return f"{server.ws}/ws?token={token or viewer_token('fz-' + uuid.uuid4().hex[:8])}"


def encode(codec: str, msg: Any) -> str | bytes:
    if codec == "json":
        return orjson.dumps(msg).decode()
    return msgpack.packb(msg, use_bin_type=True)  # type: ignore[no-any-return]


def decode(codec: str, raw: str | bytes) -> dict[str, Any]:
    out = orjson.loads(raw) if codec == "json" else msgpack.unpackb(raw, raw=False)
    assert isinstance(out, dict), out
    return out


@dataclass
class Outcome:
    errors: list[str]
    close: int | None  # None: still open, it answered the final ping


def exchange(h: Hostile, payloads: list[Any], codec: str = "json") -> Outcome:
    """Send ``payloads`` (str: a text frame, bytes: a binary frame, a list: one message in fragments) on a fresh
    connection, then a ping; what came back until the ping's answer or the close."""
    codes: list[str] = []
    with connect(ws_url(h.server), subprotocols=[CODEC_SUBPROTOCOL[codec]], compression=None,  # type: ignore[list-item]
                 max_size=2**22, open_timeout=10, close_timeout=2) as ws:  # fmt: skip
        assert decode(codec, ws.recv(10))["type"] == "welcome"
        try:
            for payload in payloads:
                ws.send(iter(payload) if isinstance(payload, list) else payload)
            ws.send(encode(codec, {"type": "ping", "id": "probe-end"}))
            while True:
                frame = decode(codec, ws.recv(15))
                if frame.get("type") == "error":
                    codes.append(frame["code"])
                    h.error_codes.add(frame["code"])
                elif frame.get("type") == "reply" and frame.get("id") == "probe-end":
                    return Outcome(codes, None)
        except ConnectionClosed:
            return Outcome(codes, closed_code(ws))


def closed_code(ws: ClientConnection) -> int | None:
    rcvd = ws.protocol.close_rcvd
    return rcvd.code if rcvd is not None else 1006


def documented(outcome: Outcome) -> None:
    assert set(outcome.errors) <= SERVER_ERRORS, outcome.errors
    assert outcome.close is None or outcome.close in FUZZ_CLOSES, outcome.close


class Raw:
    """A websocket over a plain socket: hand-built (masked) client frames, server frames parsed as they come."""

    def __init__(self, server: LivehubProcess, token: str | None = None, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket()
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(15)
        self.sock.connect(("127.0.0.1", server.port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /ws?token={token or viewer_token('raw-' + uuid.uuid4().hex[:6])} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            assert chunk, "closed during the handshake"
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    @staticmethod
    def frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
        data = Frame(Opcode(opcode), payload, fin=fin).serialize(mask=True, extensions=[])
        return bytes([data[0] | rsv]) + data[1:] if rsv else data

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:  # the server closed first: what it sent is still readable
            pass

    def frames_until_closed(self) -> list[tuple[int, bytes]]:
        """Every server frame until the connection ends (EOF, reset or a close frame and then EOF)."""
        out: list[tuple[int, bytes]] = []
        while True:
            n = frame_length(self.buf, 0)
            while n is not None and n <= len(self.buf):
                head = 2 + {126: 2, 127: 8}.get(self.buf[1] & 0x7F, 0)
                out.append((self.buf[0] & 0x0F, self.buf[head:n]))
                self.buf = self.buf[n:]
                if out[-1][0] == Opcode.CLOSE:
                    return out
                n = frame_length(self.buf, 0)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return out
            if not chunk:
                return out
            self.buf += chunk

    def close_code(self, frames: list[tuple[int, bytes]]) -> int | None:
        closes = [int.from_bytes(p[:2], "big") for op, p in frames if op == Opcode.CLOSE and len(p) >= 2]
        return closes[-1] if closes else None

    def close(self) -> None:
        self.sock.close()


def rss_kib(server: LivehubProcess) -> int:
    assert server.process is not None
    with open(f"/proc/{server.process.pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def http_raw(server: LivehubProcess, data: bytes, chunk: int = 65536, timeout: float = 15) -> bytes:
    """Send ``data`` in chunks of ``chunk`` bytes and return what the server answered before closing."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        try:
            for i in range(0, len(data), chunk):
                sock.sendall(data[i : i + chunk])
        except OSError:
            pass
        out = b""
        try:
            while True:
                got = sock.recv(65536)
                if not got:
                    return out
                out += got
        except ConnectionResetError:
            return out


# ---- strategies -----------------------------------------------------------------------------------

FIELDS = ("id", "venue", "since", "n", "text", "to", "data", "sale", "qty", "loc", "pickup_store", "coupon")
TYPES = ("ping", "join", "leave", "like", "comment", "signal", "buy", "coupon.grab")
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1),
              st.floats(allow_nan=False), st.text(max_size=30)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15,
)  # fmt: skip
messages = st.fixed_dictionaries({"type": st.sampled_from(TYPES) | st.text(max_size=20)},
                                 optional={name: values for name in FIELDS})  # fmt: skip


def number_text(n: int | float) -> str:
    if isinstance(n, float) and math.isnan(n):
        return "NaN"
    if isinstance(n, float) and math.isinf(n):
        return "Infinity" if n > 0 else "-Infinity"
    return repr(n)


# ---- message-level fuzzing over real websockets ---------------------------------------------------


@wire(40)
@given(payloads=st.lists(st.binary(max_size=600), min_size=1, max_size=4), codec=st.sampled_from(["json", "msgpack"]))
def test_random_bytes_in_binary_frames_get_documented_answers(
    hostile: Hostile, payloads: list[bytes], codec: str
) -> None:
    tried("random bytes (binary frames)", len(payloads))
    documented(exchange(hostile, list(payloads), codec))


@wire(40)
@given(payloads=st.lists(st.text(st.characters(exclude_categories=["Cs"]), max_size=600), min_size=1, max_size=4))
def test_random_text_frames_get_documented_answers(hostile: Hostile, payloads: list[str]) -> None:
    tried("random text / invalid JSON (text frames)", len(payloads))
    documented(exchange(hostile, payloads))


@wire(40)
@given(msgs=st.lists(messages, min_size=1, max_size=4), codec=st.sampled_from(["json", "msgpack"]))
def test_messages_with_wrong_types_and_values_get_documented_answers(
    hostile: Hostile, msgs: list[dict[str, Any]], codec: str
) -> None:
    tried("wrong types / values per field, unknown ops", len(msgs))
    payloads: list[Any] = []
    for msg in msgs:
        try:
            payloads.append(encode(codec, msg))
        except (orjson.JSONEncodeError, TypeError, UnicodeEncodeError):
            continue
    documented(exchange(hostile, payloads, codec))


@wire(30)
@given(depth=st.integers(min_value=1, max_value=3000), kind=st.sampled_from(["[", '{"a":']))
def test_deeply_nested_values_get_documented_answers(hostile: Hostile, depth: int, kind: str) -> None:
    tried("deep nesting")
    close = "]" if kind == "[" else "}"
    payload = '{"type":"signal","id":1,"to":"host-main","data":{"x":' + kind * depth + "1" + close * depth + "}}"
    documented(exchange(hostile, [payload]))


@wire(30)
@given(n=st.integers(min_value=-(2**80), max_value=2**80) | st.floats(allow_nan=True, allow_infinity=True),
       name=st.sampled_from(["id", "n", "qty", "loc"]),
       mtype=st.sampled_from(["like", "buy", "ping", "join"]))  # fmt: skip
def test_huge_negative_and_non_finite_numbers_get_documented_answers(
    hostile: Hostile, n: int | float, name: str, mtype: str
) -> None:
    tried("huge / negative / NaN / Infinity numbers")
    t = number_text(n)
    value = f"[{t},{t}]" if name == "loc" else t
    documented(exchange(hostile, [f'{{"type":"{mtype}","sale":"s1","{name}":{value}}}']))


@wire(20)
@given(size=st.integers(min_value=MAX_FRAME + 1, max_value=WS_MAX * 2), codec=st.sampled_from(["json", "msgpack"]))
def test_oversized_frames_are_too_large_or_close_1009(hostile: Hostile, size: int, codec: str) -> None:
    tried("oversized frames")
    outcome = exchange(hostile, [encode(codec, {"type": "comment", "id": "big", "text": "x" * size})], codec)
    documented(outcome)
    if size + 40 <= WS_MAX:
        assert outcome.close is None and outcome.errors == [errors.TOO_LARGE], outcome
    elif size > WS_MAX:
        assert outcome.close == 1009, outcome


@wire(30)
@given(parts=st.integers(min_value=2, max_value=300), codec=st.sampled_from(["json", "msgpack"]))
def test_a_message_in_many_fragments_is_handled_as_one(hostile: Hostile, parts: int, codec: str) -> None:
    tried("fragmented frames")
    whole = encode(codec, {"type": "ping", "id": "fragmented"})
    step = max(1, math.ceil(len(whole) / parts))
    fragments = [whole[i : i + step] for i in range(0, len(whole), step)]
    outcome = exchange(hostile, [fragments], codec)
    assert outcome == Outcome([], None), outcome


@wire(20)
@given(bad=st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"]),
       prefix=st.text(max_size=20))  # fmt: skip
def test_a_text_frame_with_invalid_utf8_closes_with_1007(hostile: Hostile, bad: bytes, prefix: str) -> None:
    tried("invalid UTF-8 (text frames)")
    raw = Raw(hostile.server)
    try:
        raw.send(Raw.frame(Opcode.TEXT, prefix.encode("utf-8", "replace") + bad))
        assert raw.close_code(raw.frames_until_closed()) == 1007
    finally:
        raw.close()


@wire(40)
@given(junk=st.binary(min_size=1, max_size=300))
def test_malformed_frame_bytes_end_in_a_documented_close_or_none(hostile: Hostile, junk: bytes) -> None:
    """Random bytes where frames are expected (unmasked, reserved bits, unknown opcodes, absurd lengths...);
    then end of stream: the server closes with a documented code or, mid-frame at end of stream, without one."""
    tried("malformed frame bytes")
    raw = Raw(hostile.server)
    try:
        raw.send(junk)
        raw.sock.shutdown(socket.SHUT_WR)
        frames = raw.frames_until_closed()
        code = raw.close_code(frames)
        assert code is None or code in FUZZ_CLOSES, code
    finally:
        raw.close()


@wire(20)
@given(case=st.sampled_from(["rsv", "opcode3", "big-ping", "fragmented-ping", "unmasked", "cont-first"]))
def test_protocol_violations_close_with_1002(hostile: Hostile, case: str) -> None:
    tried("protocol violations")
    raw = Raw(hostile.server)
    try:
        bad = {
            "rsv": Raw.frame(Opcode.TEXT, b"{}", rsv=0x40),
            "opcode3": bytes([0x83, 0x80]) + os.urandom(4),
            "big-ping": bytes([0x89, 0xFE, 0x00, 0x80]) + os.urandom(4) + bytes(128),
            "fragmented-ping": bytes([0x09, 0x81, 0, 0, 0, 0]) + b"x",  # no FIN bit (mask of zeros)
            "unmasked": bytes([0x81, 0x02]) + b"{}",
            "cont-first": Raw.frame(Opcode.CONT, b"{}"),
        }[case]
        raw.send(bad)
        assert raw.close_code(raw.frames_until_closed()) == 1002
    finally:
        raw.close()


# ---- floods and stalls on the wire -------------------------------------------------------------------


def test_a_ping_flood_is_closed_with_1008_and_does_not_grow_the_node(hostile: Hostile) -> None:
    """Four connections (one of them with a bad token, refused before anything else) send 8 MiB of pings each
    and read nothing: each is closed with 1008 (or refused with 4001) and the node's memory stays put."""
    ping = Raw.frame(Opcode.PING, b"p" * 125)
    flood = ping * (8 * 2**20 // len(ping))
    before = rss_kib(hostile.server)
    raws = [Raw(hostile.server, rcvbuf=4096) for _ in range(3)] + [Raw(hostile.server, token="bad", rcvbuf=4096)]
    try:
        threads = [threading.Thread(target=r.send, args=(flood,)) for r in raws]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        grown = rss_kib(hostile.server) - before
        codes = [r.close_code(r.frames_until_closed()) for r in raws]
        tried("ping floods (connections)", len(raws))
        tried("ping floods (ping frames)", len(raws) * (len(flood) // len(ping)))
    finally:
        for r in raws:
            r.close()
    assert codes[:3] == [1008, 1008, 1008] and codes[3] == 4001, codes
    assert grown < 16 * 1024, f"the node grew by {grown} KiB under 32 MiB of unread pings"


def test_a_slowloris_handshake_is_answered_408_and_closed_while_viewers_still_connect(hostile: Hostile) -> None:
    """Sixty connections trickle a websocket upgrade a few bytes at a time: each is answered 408 and closed once
    ``http_header_timeout_s`` passes (one that sends nothing is closed without an answer), and a viewer connects
    meanwhile."""
    token = viewer_token("slow")
    request = (f"GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nX-Padding: " + "a" * 200).encode()  # fmt: skip
    socks = [socket.create_connection(("127.0.0.1", hostile.server.port), timeout=15) for _ in range(60)]
    idle = socket.create_connection(("127.0.0.1", hostile.server.port), timeout=15)
    try:
        answers: dict[int, bytes] = {}
        for i in itertools.count():
            part = request[i * 4 : i * 4 + 4]
            for n, s in enumerate(socks):
                if n in answers:
                    continue
                try:
                    s.setblocking(False)
                    answers[n] = s.recv(4096)  # answered (or closed: b"")
                    continue
                except BlockingIOError:
                    pass
                except OSError:
                    answers[n] = b"reset"
                    continue
                finally:
                    s.setblocking(True)
                if part:
                    try:
                        s.sendall(part)
                    except OSError:
                        answers[n] = b"reset"
            if len(answers) == len(socks) or i > 2000:
                break
            if i == 5:  # the head is still arriving: a real viewer connects all the same
                exchange_ok = exchange(hostile, [])
                assert exchange_ok == Outcome([], None)
            time.sleep(0.02)
        tried("slowloris handshakes (connections)", len(socks) + 1)
        assert len(answers) == len(socks), f"{len(socks) - len(answers)} trickling connections were never closed"
        assert all(a.startswith(b"HTTP/1.1 408") for a in answers.values()), set(answers.values())
        assert idle.recv(4096) == b"", "a connection that sent nothing is closed without an answer"
    finally:
        for s in [*socks, idle]:
            s.close()


@wire(15)
@given(size=st.integers(min_value=20_000, max_value=4_000_000), chunk=st.sampled_from([100, 4096, 65536]),
       upgrade=st.booleans())  # fmt: skip
def test_an_oversized_request_head_is_answered_431_and_closed(
    hostile: Hostile, size: int, chunk: int, upgrade: bool
) -> None:
    tried("oversized headers")
    path = f"/ws?token={viewer_token('big')}" if upgrade else "/healthz"
    extra = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" if upgrade else ""
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}".encode()
    lines = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 1000) for i in range(size // 1000 + 1))
    answer = http_raw(hostile.server, head + lines + b"\r\n", chunk=min(chunk, 65536) if size < 200_000 else 65536)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    assert b"connection: close" in answer.lower()


def test_an_upgrade_the_websocket_layer_refuses_is_answered_and_closed(hostile: Hostile) -> None:
    """Within ``http_max_header_bytes`` but past what the websocket layer parses (more than 128 headers): its
    own refusal (431) reaches the client and the connection ends, instead of hanging unanswered."""
    tried("oversized headers")
    many = b"".join(b"X-%d: v\r\n" % i for i in range(200))
    token = viewer_token("h").encode()
    head = (b"GET /ws?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" % token)  # fmt: skip
    answer = http_raw(hostile.server, head + many + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_a_request_head_within_the_bound_is_served(hostile: Hostile) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: " + b"v" * 12_000 + b"\r\nConnection: close\r\n\r\n"
    assert http_raw(hostile.server, head).startswith(b"HTTP/1.1 200")


@wire(10)
@given(declared=st.integers(min_value=70_000, max_value=10**9), sent=st.integers(min_value=0, max_value=300_000),
       chunked=st.booleans())  # fmt: skip
def test_a_body_over_the_cap_is_answered_413_with_connection_close_and_the_connection_ends(
    hostile: Hostile, declared: int, sent: int, chunked: bool
) -> None:
    tried("oversized request bodies")
    if chunked:
        head = b"POST /api/auth/host HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        body = b"".join(b"%x\r\n%s\r\n" % (8192, b"x" * 8192) for _ in range(sent // 8192 + 9))
    else:
        head = b"POST /api/auth/host HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % declared
        body = b"x" * min(sent, declared)
    answer = http_raw(hostile.server, head + body)  # returns once the server ends the connection
    hostile.statuses.append(int(answer[9:12]))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"\r\nconnection: close\r\n" in answer.lower().split(b"\r\n\r\n")[0] + b"\r\n"


def test_a_request_with_a_body_within_the_cap_keeps_its_connection(hostile: Hostile) -> None:
    body = b"{}"
    one = b"POST /api/auth/guest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n" + body
    with socket.create_connection(("127.0.0.1", hostile.server.port), timeout=15) as sock:
        sock.sendall(one)
        first = one_response(sock)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        second = one_response(sock)
    assert b"connection: close" not in first.lower() and second.startswith(b"HTTP/1.1 200"), (first, second)


def one_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_client_that_never_reads_is_closed_as_slow_and_the_node_goes_on(hostile: Hostile) -> None:
    """A viewer of b3 that stops reading while a host publishes there until the node counts a slow close: its
    connection ends (a 4008 close frame when its socket drained within the grace, else a reset), and the healthy
    viewer of main is unaffected (checked at the end)."""
    stalled = Raw(hostile.server, rcvbuf=4096)
    try:
        stalled.send(Raw.frame(Opcode.TEXT, b'{"type":"join","venue":"b3"}'))
        before, pad = slow_closes(hostile.server), "p" * 12_000
        for i in range(2000):
            body = {"kind": "bulk", "data": {"marker": i, "pad": pad}}
            status, _ = http_json(
                "POST", f"{hostile.server.http}/api/venues/b3/events", body, host_token("host-b3", "b3")
            )
            hostile.statuses.append(status)
            if i % 50 == 49 and slow_closes(hostile.server) > before:
                break
        assert slow_closes(hostile.server) > before, "the stalled reader was never closed as slow"
        tried("clients that never read")
        frames = stalled.frames_until_closed()  # reads only now
        assert stalled.close_code(frames) in (None, 4008)
    finally:
        stalled.close()


def slow_closes(server: LivehubProcess) -> float:
    with urllib.request.urlopen(server.http + "/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("livehub_slow_closes_total")
    )


# ---- what must hold after all of it -------------------------------------------------------------------


def test_the_healthy_viewer_received_every_event_in_order_throughout(hostile: Hostile) -> None:
    watch = hostile.watch
    watch.stop()
    assert watch.failure is None, repr(watch.failure)
    assert watch.published > 0
    assert watch.received == list(range(watch.published)), (len(watch.received), watch.published)
    assert watch.gaps == []
    assert watch.close_code is None, "the healthy viewer was closed"
    tried("events published to the healthy viewer", watch.published)


def test_no_5xx_no_internal_error_and_no_traceback_in_the_servers_log(hostile: Hostile) -> None:
    assert all(s < 500 for s in hostile.statuses + hostile.watch.statuses), sorted(set(hostile.statuses))
    assert errors.INTERNAL not in hostile.error_codes, hostile.error_codes
    assert hostile.server.log_path is not None
    log = hostile.server.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]
    assert " ERROR " not in log, [line for line in log.splitlines() if " ERROR " in line][:20]
