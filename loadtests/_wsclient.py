"""A lean websocket viewer client for the fan-out benchmark.

The ``websockets`` client costs far more per received frame than a server
spends sending it, so a benchmark driven by it measures the clients.  This
client is a bare :class:`asyncio.Protocol` on uvloop:

* the HTTP upgrade is done by hand (random ``Sec-WebSocket-Key``, the accept
  hash checked, optional ``Sec-WebSocket-Protocol`` that the server must echo);
* :class:`Viewer` parses server frames (unmasked) exactly and incrementally:
  2/4/10-byte headers, many frames per read, frames split across reads, pings
  answered with masked pongs, a close frame with a masked close.  Sampled
  viewers use it: they decode each data frame (orjson / msgpack) and record
  ``time.time() - data["t0"]`` for event frames (the publisher's
  ``time.time()`` travels inside the event's data);
* :class:`ScanningViewer`, for the viewers that only count, never walks frames:
  per read it counts occurrences of the event marker (``"type":"event"``, or its
  msgpack encoding) and of the frame marker (``{"type":"``) in the byte stream
  with ``bytes.count`` (C speed, no per-frame Python), carrying the last bytes of
  a read over to the next so that a marker split across reads is counted once.
  Server pings (``0x89`` + a length of 0..8 bytes, which is what websockets-based
  servers send) are found the same way and answered.  On this machine a Python
  loop costs ~3 µs per frame, as much as the kernel work of a delivery: the scan
  is what lets a single core of clients keep up with a server core.

:func:`worker_main` runs a share of the viewers in one process pinned to one
core and answers the harness's commands over a :mod:`multiprocessing` pipe.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import resource
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Protocol, TypeVar

import msgpack
import orjson
import uvloop

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
JSON_EVENT_MARKER = b'"type":"event"'
MSGPACK_EVENT_MARKER = b"\xa4type\xa5event"  # fixstr "type" then fixstr "event"
JSON_FRAME_MARKER = b'{"type":"'  # every livehub (and reference) JSON frame starts so
MSGPACK_FRAME_MARKER = b"\xa4type"  # ... and every msgpack frame has this (first) key
PING_RE = re.compile(rb"\x89[\x00-\x08]")  # a server ping frame with a 0..8-byte payload
PING_MAX_FRAME = 10
KEEP = max(len(JSON_EVENT_MARKER), len(MSGPACK_EVENT_MARKER), len(JSON_FRAME_MARKER), PING_MAX_FRAME) - 1
MARKER_WINDOW = 64  # the marker must start within the first bytes of the payload
MAX_HANDSHAKE_BYTES = 16_384

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1_048_576
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (FIN set, masked); control frames and small test messages only."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65_536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    if n:
        reps = mask * (n // 4 + 1)
        body = (int.from_bytes(payload, "big") ^ int.from_bytes(reps[:n], "big")).to_bytes(n, "big")
    else:
        body = b""
    return header + mask + body


def handshake_request(host: str, port: int, path: str, subprotocol: str | None) -> tuple[bytes, bytes]:
    """The upgrade request and the ``Sec-WebSocket-Accept`` value the server must answer with."""
    key = base64.b64encode(os.urandom(16))
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key.decode()}",
        "Sec-WebSocket-Version: 13",
    ]
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), accept


class Opening(Protocol):
    """A client protocol being connected: it resolves its ``ready`` future once upgraded."""

    def close(self) -> None: ...


P = TypeVar("P", bound=Opening)

CONNECT_ERRORS = (OSError, ConnectionError, TimeoutError)


async def open_with_retries(
    host: str, port: int, path: str, subprotocol: str | None, attempts: int,
    make: Callable[[bytes, bytes, asyncio.Future[None]], P],
) -> P:  # fmt: skip
    """Connect and upgrade one client (``make(request, accept, ready)`` builds its protocol), trying
    ``attempts`` times with a growing pause; the last failure (one of ``CONNECT_ERRORS``) is raised."""
    loop = asyncio.get_running_loop()
    for attempt in range(attempts):
        request, accept = handshake_request(host, port, path, subprotocol)
        ready: asyncio.Future[None] = loop.create_future()
        proto = make(request, accept, ready)
        try:
            await loop.create_connection(lambda p=proto: p, host, port)  # type: ignore[misc]
            await asyncio.wait_for(ready, 30.0)
        except CONNECT_ERRORS:
            proto.close()
            if attempt + 1 == attempts:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
            continue
        return proto
    raise ValueError("attempts must be at least 1")


def check_handshake_response(head: bytes, accept: bytes, subprotocol: str | None) -> str | None:
    """None if ``head`` (status line and headers) accepts the upgrade, else the reason it does not."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or parts[1] != "101":
        return f"upgrade refused: {lines[0]!r}"
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("sec-websocket-accept", "").encode() != accept:
        return "bad Sec-WebSocket-Accept"
    if subprotocol and headers.get("sec-websocket-protocol") != subprotocol:
        return f"subprotocol {subprotocol!r} not accepted (got {headers.get('sec-websocket-protocol')!r})"
    return None


class Stats:
    """Counters shared by the viewers of one process."""

    __slots__ = ("closed", "events", "failed", "frames", "latencies", "nbytes", "opened", "pongs", "reads")

    def __init__(self) -> None:
        self.events = 0  # event frames received
        self.frames = 0  # data frames received (events and welcome, snapshot, online, ...)
        self.pongs = 0
        self.nbytes = 0
        self.reads = 0  # data_received calls after the handshake
        self.opened = 0
        self.failed = 0
        self.closed = 0  # connections lost after the handshake
        self.latencies = array("d")  # seconds, sampled connections only


class Viewer(asyncio.Protocol):
    """One viewer connection that walks every frame; decodes data frames when ``decode`` is given."""

    __slots__ = (
        "accept",
        "decode",
        "error",
        "marker",
        "open",
        "ready",
        "request",
        "rest",
        "skip",
        "st",
        "subprotocol",
        "tr",
    )

    def __init__(
        self,
        st: Stats,
        request: bytes,
        accept: bytes,
        subprotocol: str | None,
        marker: bytes,
        decode: Callable[[bytes], Any] | None,
        ready: asyncio.Future[None],
    ) -> None:
        self.st = st
        self.request = request
        self.accept = accept
        self.subprotocol = subprotocol
        self.marker = marker
        self.decode = decode
        self.ready = ready
        self.tr: asyncio.Transport | None = None
        self.open = False
        self.rest = b""  # an incomplete frame (or handshake) kept for the next read
        self.skip = 0  # bytes of an already counted frame still to arrive and be dropped
        self.error: str | None = None

    # asyncio.Protocol -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.tr = transport  # type: ignore[assignment]  # uvloop's transports don't subclass asyncio's
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.open:
            self.open = False
            self.st.closed += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(self.error or f"closed during handshake: {exc}"))

    def data_received(self, data: bytes) -> None:
        if not self.open:
            self._handshake(data)
            return
        st = self.st
        st.reads += 1
        st.nbytes += len(data)
        if self.skip:
            if len(data) <= self.skip:
                self.skip -= len(data)
                return
            data = data[self.skip :]
            self.skip = 0
        if self.rest:
            data = self.rest + data
            self.rest = b""
        n = len(data)
        pos = 0
        events = 0
        other = 0
        marker = self.marker
        while n - pos >= 2:
            length = data[pos + 1] & 127
            if length < 126:
                start = pos + 2
            elif length == 126:
                if n - pos < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                start = pos + 4
            else:
                if n - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            opcode = data[pos] & 15
            if end > n:
                # Incomplete frame: count it now and skip the rest by length when that is possible.
                if (opcode == OP_TEXT or opcode == OP_BINARY) and self.decode is None and n - start >= MARKER_WINDOW:
                    if data.find(marker, start, start + MARKER_WINDOW) >= 0:
                        events += 1
                    else:
                        other += 1
                    self.skip = end - n
                    pos = n
                break
            if opcode == OP_TEXT or opcode == OP_BINARY:
                if data.find(marker, start, end if length < MARKER_WINDOW else start + MARKER_WINDOW) >= 0:
                    events += 1
                    if self.decode is not None:
                        self._sample(data[start:end])
                else:
                    other += 1
            elif opcode == OP_PING:
                self.tr.write(masked_frame(OP_PONG, data[start:end]))  # type: ignore[union-attr]
                st.pongs += 1
            elif opcode == OP_CLOSE:
                self.tr.write(masked_frame(OP_CLOSE, data[start : start + 2]))  # type: ignore[union-attr]
                self.tr.close()  # type: ignore[union-attr]
                pos = n
                break
            pos = end
        if pos < n:
            self.rest = data[pos:]
        st.events += events
        st.frames += events + other

    # internals ----------------------------------------------------------------------------------------
    def _sample(self, payload: bytes) -> None:
        try:
            msg = self.decode(payload)  # type: ignore[misc]
            t0 = msg["data"]["t0"]
        except Exception:
            return
        self.st.latencies.append(time.time() - t0)

    def _handshake(self, data: bytes) -> None:
        buf = self.rest + data
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            if len(buf) > MAX_HANDSHAKE_BYTES:
                self._fail("handshake response too long")
            else:
                self.rest = buf
            return
        self.rest = b""
        error = check_handshake_response(buf[:head_end], self.accept, self.subprotocol)
        if error is not None:
            self._fail(error)
            return
        self.open = True
        self.st.opened += 1
        if not self.ready.done():
            self.ready.set_result(None)
        tail = buf[head_end + 4 :]
        if tail:
            self.data_received(tail)

    def _fail(self, error: str) -> None:
        self.error = error
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(error))
        if self.tr is not None:
            self.tr.close()

    def close(self) -> None:
        if self.tr is not None and not self.tr.is_closing():
            if self.open:
                self.open = False
                with contextlib.suppress(Exception):
                    self.tr.write(masked_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
            self.tr.close()


class ScanningViewer(Viewer):
    """A viewer that counts event frames by scanning the byte stream for markers (see module docstring).

    Exact as long as the markers occur only where a frame starts, which holds for JSON (a ``"`` inside a
    string is escaped) unless an event object is nested in another frame; control frames other than pings
    are not looked for (a close ends the TCP connection anyway).
    """

    __slots__ = ("frame_marker",)

    def __init__(self, *args: Any, frame_marker: bytes, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frame_marker = frame_marker
        # ``rest`` holds the last KEEP bytes seen: long enough for any marker or ping split across reads.

    def data_received(self, data: bytes) -> None:
        if not self.open:
            self._handshake(data)
            return
        st = self.st
        st.reads += 1
        st.nbytes += len(data)
        tail = self.rest
        buf = tail + data
        # Occurrences entirely inside ``tail`` were counted with the previous read.
        st.events += buf.count(self.marker) - tail.count(self.marker)
        st.frames += buf.count(self.frame_marker) - tail.count(self.frame_marker)
        if b"\x89" in buf and PING_RE.search(buf) is not None:
            self._pings(buf, len(tail))
        self.rest = buf[-KEEP:]

    def _pings(self, buf: bytes, skip: int) -> None:
        for m in PING_RE.finditer(buf):
            start = m.start() + 2
            end = start + buf[m.start() + 1]
            if end <= skip or end > len(buf):
                continue  # already answered with the previous read, or the payload is still to come
            self.tr.write(masked_frame(OP_PONG, buf[start:end]))  # type: ignore[union-attr]
            self.st.pongs += 1


# --- one client process ----------------------------------------------------------------------------------


@dataclass
class WorkerSpec:
    """What one client process connects: ``paths[i]`` is the request target of its i-th viewer."""

    host: str
    port: int
    paths: list[str]
    subprotocol: str | None
    codec: str  # "json" or "msgpack": picks the event marker and the sample decoder
    sampled: list[bool]  # per viewer: decode frames and record latencies
    core: int | None = None  # pin this process to that core
    concurrency: int = 50  # handshakes in flight at once
    attempts: int = 3
    # > 0: the process sleeps that long between two turns of its event loop, so that frames pile up in
    # the kernel and one read returns several (counting-only processes); 0: read as soon as data arrives
    read_interval: float = 0.0
    count_mode: str = "scan"  # viewers that do not sample: "scan" (ScanningViewer) or "exact" (Viewer)
    extra: dict[str, Any] = field(default_factory=dict)


def marker_for(codec: str) -> bytes:
    return MSGPACK_EVENT_MARKER if codec == "msgpack" else JSON_EVENT_MARKER


def decoder_for(codec: str) -> Callable[[bytes], Any]:
    if codec == "msgpack":
        return lambda b: msgpack.unpackb(b, raw=False)
    return orjson.loads


def process_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def run_delay_seconds() -> float:
    """Time this process's threads spent runnable but waiting for a CPU (/proc/self/schedstat)."""
    try:
        with open("/proc/self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class ClientWorker:
    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.st = Stats()
        self.viewers: list[Viewer] = []
        self.errors: list[str] = []

    async def _connect_one(self, i: int, sem: asyncio.Semaphore) -> None:
        spec = self.spec
        marker = marker_for(spec.codec)
        frame_marker = MSGPACK_FRAME_MARKER if spec.codec == "msgpack" else JSON_FRAME_MARKER
        decode = decoder_for(spec.codec) if spec.sampled[i] else None

        def make(request: bytes, accept: bytes, ready: asyncio.Future[None]) -> Viewer:
            if decode is None and spec.count_mode == "scan":
                return ScanningViewer(
                    self.st, request, accept, spec.subprotocol, marker, None, ready, frame_marker=frame_marker
                )
            return Viewer(self.st, request, accept, spec.subprotocol, marker, decode, ready)

        async with sem:
            try:
                viewer = await open_with_retries(spec.host, spec.port, spec.paths[i], spec.subprotocol,
                                                 spec.attempts, make)  # fmt: skip
            except CONNECT_ERRORS as exc:
                self.st.failed += 1
                if len(self.errors) < 5:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                return
            self.viewers.append(viewer)

    async def connect(self) -> dict[str, Any]:
        t0 = time.monotonic()
        sem = asyncio.Semaphore(self.spec.concurrency)
        await asyncio.gather(*(self._connect_one(i, sem) for i in range(len(self.spec.paths))))
        return {
            "opened": self.st.opened,
            "failed": self.st.failed,
            "errors": self.errors,
            "secs": time.monotonic() - t0,
        }

    def mark(self, take_latencies: bool, t: float) -> dict[str, Any]:
        """Counters as of ``t``: the start of the last event-loop turn that read sockets."""
        st = self.st
        snap: dict[str, Any] = {
            "t": t,
            "cpu": process_cpu_seconds(),
            "run_delay": run_delay_seconds(),
            "viewers": len(self.viewers),
            "sampled": sum(1 for v in self.viewers if v.decode is not None),
            "events": st.events,
            "other": st.frames - st.events,
            "pongs": st.pongs,
            "nbytes": st.nbytes,
            "reads": st.reads,
            "open": st.opened - st.closed,
            "closed": st.closed,
            "lat": b"",
        }
        if take_latencies:
            snap["lat"] = st.latencies.tobytes()
            st.latencies = array("d")
        return snap

    def close(self) -> None:
        for v in self.viewers:
            v.close()


def worker_main(spec: WorkerSpec, conn: Connection) -> None:
    """Entry point of one client process: pin, raise the fd limit, then serve the harness's commands.

    Commands (tuples sent over ``conn``): ``("connect",)``, ``("mark", take_latencies)``,
    ``("close",)``; each gets exactly one reply.
    """
    if spec.core is not None:
        os.sched_setaffinity(0, {spec.core})
    raise_nofile_limit()
    uvloop.run(_worker_loop(spec, conn))


async def _worker_loop(spec: WorkerSpec, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    worker = ClientWorker(spec)
    commands: asyncio.Queue[tuple[tuple[Any, ...], float]] = asyncio.Queue()
    fd = conn.fileno()
    batching = False
    poll_t = 0.0  # when batching: when the current loop turn's I/O poll started

    def readable() -> None:
        # Runs in the I/O phase of a loop turn: the counters, when the command is handled (no I/O poll
        # in between), are those as of the start of this turn's poll.
        os.set_blocking(fd, True)  # the event loop made it non-blocking; a message is read whole
        t = poll_t if batching else time.monotonic()
        try:
            commands.put_nowait((conn.recv(), t))
        except (EOFError, OSError):
            loop.remove_reader(fd)
            commands.put_nowait((("close",), t))

    def reply(obj: Any) -> None:
        os.set_blocking(fd, True)
        conn.send(obj)

    async def batch_reads() -> None:
        # A blocking sleep, then one loop turn whose poll reads every socket that became readable
        # meanwhile: frames pile up in the kernel, one read returns several of them.
        nonlocal poll_t, batching
        batching = True
        while True:
            time.sleep(spec.read_interval)  # noqa: ASYNC251 - blocking on purpose, see above
            poll_t = time.monotonic()
            await asyncio.sleep(0)

    loop.add_reader(fd, readable)
    batcher: asyncio.Task[None] | None = None
    while True:
        cmd, t = await commands.get()
        if cmd[0] == "connect":
            reply(await worker.connect())
            if spec.read_interval > 0:
                batcher = loop.create_task(batch_reads())
        elif cmd[0] == "mark":
            reply(worker.mark(bool(cmd[1]), t))
        elif cmd[0] == "close":
            if batcher is not None:
                batcher.cancel()
            worker.close()
            await asyncio.sleep(0.2)
            with contextlib.suppress(OSError):
                reply({"closed": True})
            loop.remove_reader(fd)
            return


# --- self-check ------------------------------------------------------------------------------------------


def selftest(seed: int = 1, streams: int = 20) -> None:
    """Feed random frame streams, cut at random places, to both viewer kinds; their counts must agree.

    ``python -m loadtests._wsclient`` runs it (a few seconds).
    """
    import random

    class FakeTransport:
        def __init__(self) -> None:
            self.out: list[bytes] = []

        def write(self, data: bytes) -> None:
            self.out.append(data)

        def close(self) -> None:
            pass

        def is_closing(self) -> bool:
            return False

    def frame(opcode: int, payload: bytes) -> bytes:
        n = len(payload)
        if n < 126:
            return bytes((0x80 | opcode, n)) + payload
        if n < 65_536:
            return bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big") + payload
        return bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big") + payload

    rng = random.Random(seed)
    loop = asyncio.new_event_loop()
    try:
        for codec in ("json", "msgpack"):
            encode: Callable[[Any], bytes] = msgpack.packb if codec == "msgpack" else orjson.dumps
            opcode = OP_BINARY if codec == "msgpack" else OP_TEXT
            for _ in range(streams):
                parts, events, pings = [], 0, 0
                for i in range(300):
                    r = rng.random()
                    if r < 0.7:
                        data = {"t0": time.time(), "seq": i, "pad": "x" * rng.randint(0, 300)}
                        msg = {"type": "event", "ch": "main", "epoch": "e1", "offset": i, "kind": "bench",
                               "data": data, "ts": 1}  # fmt: skip
                        parts.append(frame(opcode, encode(msg)))
                        events += 1
                    elif r < 0.9:
                        blob = "y" * rng.choice([0, 5, 137, 300, 70_000])
                        parts.append(frame(opcode, encode({"type": "online", "count": i, "blob": blob})))
                    else:
                        parts.append(frame(OP_PING, os.urandom(rng.choice([0, 4, 8]))))
                        pings += 1
                stream = b"".join(parts)
                got = []
                for kind in ("exact", "scan"):
                    st = Stats()
                    ready: asyncio.Future[None] = loop.create_future()
                    marker = marker_for(codec)
                    viewer: Viewer
                    if kind == "exact":
                        viewer = Viewer(st, b"", b"", None, marker, decoder_for(codec), ready)
                    else:
                        fm = MSGPACK_FRAME_MARKER if codec == "msgpack" else JSON_FRAME_MARKER
                        viewer = ScanningViewer(st, b"", b"", None, marker, None, ready, frame_marker=fm)
                    viewer.open = True
                    viewer.tr = FakeTransport()  # type: ignore[assignment]
                    pos = 0
                    while pos < len(stream):
                        step = rng.choice([1, 2, 3, 7, 50, 200, 1000, 5000])
                        viewer.data_received(stream[pos : pos + step])
                        pos += step
                    got.append((st.events, st.frames, st.pongs, len(st.latencies)))
                (ex_events, ex_frames, ex_pongs, lat), (sc_events, sc_frames, sc_pongs, _) = got
                assert ex_events == sc_events == events == lat, (codec, events, got)
                assert ex_frames == sc_frames, (codec, got)
                assert ex_pongs == pings, (codec, pings, got)
                # The scan may answer a ping look-alike inside a binary payload: a harmless unsolicited pong.
                assert pings <= sc_pongs <= pings + 3, (codec, pings, got)
    finally:
        loop.close()
    print(f"ok: {2 * streams} random streams counted alike by the exact and the scanning viewers")


if __name__ == "__main__":
    selftest()
