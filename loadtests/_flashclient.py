"""Buyers for the flash-sale benchmark: lean websocket clients that send ``buy`` frames.

Like the fan-out harness's viewers (``loadtests._wsclient``), each buyer is a
bare :class:`asyncio.Protocol` on uvloop with a hand-made upgrade; unlike them,
a buyer also *sends*: masked text frames
``{"type":"buy","id":"<unique>","sale":"<sale>","qty":1}``, and matches each
``reply`` (or ``error``) to its request by ``id`` to count the answer by status
and record its latency (``time.monotonic()`` at the reply minus the send time).

Every server frame is walked exactly (2/4/10-byte headers, many frames per read,
frames split across reads).  Only replies and errors are decoded (orjson); the
other frames (``welcome``, ``snapshot``, ``stock``, ``online``, events) are
counted by their ``type`` read from the first bytes, without decoding.

Three ways to drive the buyers of one process (commands of :func:`worker_main`):

* ``closed``: every buyer keeps ``window`` buys outstanding, sending the next as
  soon as one is answered; optionally at most ``budget`` buys per buyer (the
  sell-out rush: each buyer tries ``budget`` times, one after another);
* ``open``: a fixed rate for the whole process on an absolute schedule (buy k at
  ``start + k / rate``), round-robin over the buyers; the latency of an open-loop
  buy is measured from its *scheduled* time, so that a late client cannot hide
  queueing (no coordinated omission), and the lateness itself is reported;
* ``stop``: no new buys; ``drain`` waits until every outstanding buy is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import orjson
import uvloop

from loadtests._wsclient import (
    CONNECT_ERRORS,
    MAX_HANDSHAKE_BYTES,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    check_handshake_response,
    masked_frame,
    open_with_retries,
    process_cpu_seconds,
    raise_nofile_limit,
    run_delay_seconds,
)

TYPE_PREFIX = b'{"type":"'
TYPE_AT = len(TYPE_PREFIX)


class BuyerStats:
    """Counters shared by the buyers of one process (cumulative, but for the samples)."""

    __slots__ = ("answers", "closed", "failed", "frames", "lags", "latencies", "opened", "sent", "unmatched")

    def __init__(self) -> None:
        self.sent = 0
        self.answers: dict[str, int] = {}  # "<sale>|<status>" (errors: "<sale>|error:<code>") -> count
        self.frames: dict[str, int] = {}  # type of every other frame received -> count
        self.unmatched = 0  # replies whose id no buy of ours was waiting for
        self.opened = 0
        self.failed = 0
        self.closed = 0  # connections lost after the handshake
        self.latencies = array("d")  # seconds, since the last mark
        self.lags = array("d")  # open loop: actual - scheduled send time (s), since the last mark


class Buyer(asyncio.Protocol):
    """One buyer's websocket."""

    __slots__ = ("accept", "budget", "idx", "open", "pending", "ready", "request", "rest", "seq", "tr", "worker")

    def __init__(self, worker: BuyerWorker, idx: int, request: bytes, accept: bytes, ready: asyncio.Future[None]):
        self.worker = worker
        self.idx = idx
        self.request = request
        self.accept = accept
        self.ready = ready
        self.tr: asyncio.Transport | None = None
        self.open = False
        self.rest = b""
        self.seq = 0
        self.budget = -1  # closed loop: buys this buyer may still send (-1: no limit)
        self.pending: dict[str, tuple[float, str]] = {}  # request id -> (start time, sale)

    # asyncio.Protocol -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.tr = transport  # type: ignore[assignment]  # uvloop's transports don't subclass asyncio's
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.open:
            self.open = False
            self.worker.st.closed += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed during handshake: {exc}"))

    def data_received(self, data: bytes) -> None:
        if not self.open:
            self._handshake(data)
            return
        if self.rest:
            data = self.rest + data
            self.rest = b""
        n = len(data)
        pos = 0
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
            if end > n:
                break
            opcode = data[pos] & 15
            if opcode == OP_TEXT:
                self._text(data[start:end])
            elif opcode == OP_PING:
                self.tr.write(masked_frame(OP_PONG, data[start:end]))  # type: ignore[union-attr]
            elif opcode == OP_CLOSE:
                self.tr.write(masked_frame(OP_CLOSE, data[start : start + 2]))  # type: ignore[union-attr]
                self.tr.close()  # type: ignore[union-attr]
                return
            pos = end
        if pos < n:
            self.rest = data[pos:]

    # frames -------------------------------------------------------------------------------------------
    def _text(self, payload: bytes) -> None:
        st = self.worker.st
        kind_end = payload.find(b'"', TYPE_AT, TYPE_AT + 32) if payload.startswith(TYPE_PREFIX) else -1
        kind = payload[TYPE_AT:kind_end].decode() if kind_end > 0 else "?"
        if kind != "reply" and kind != "error":
            st.frames[kind] = st.frames.get(kind, 0) + 1
            return
        msg = orjson.loads(payload)
        started = self.pending.pop(msg.get("id"), None)  # type: ignore[arg-type]
        if started is None:
            if kind == "error":
                key = f"-|error:{msg.get('code')}"
                st.answers[key] = st.answers.get(key, 0) + 1
            else:
                st.unmatched += 1
            return
        t0, sale = started
        st.latencies.append(time.monotonic() - t0)
        if kind == "reply":
            status = str((msg.get("data") or {}).get("status"))
        else:
            status = f"error:{msg.get('code')}"
        key = f"{sale}|{status}"
        st.answers[key] = st.answers.get(key, 0) + 1
        self.worker.answered(self)

    def send_buy(self, sale: str, t0: float) -> None:
        """Send one buy whose latency is measured from ``t0`` (time.monotonic())."""
        self.seq += 1
        rid = f"{self.worker.prefix}{self.idx}.{self.seq}"
        self.pending[rid] = (t0, sale)
        payload = b'{"type":"buy","id":"%s","sale":"%s","qty":1}' % (rid.encode(), sale.encode())
        self.tr.write(masked_frame(OP_TEXT, payload))  # type: ignore[union-attr]
        self.worker.st.sent += 1

    # internals ----------------------------------------------------------------------------------------
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
        error = check_handshake_response(buf[:head_end], self.accept, self.worker.spec.subprotocol)
        if error is not None:
            self._fail(error)
            return
        self.open = True
        self.worker.st.opened += 1
        if not self.ready.done():
            self.ready.set_result(None)
        tail = buf[head_end + 4 :]
        if tail:
            self.data_received(tail)

    def _fail(self, error: str) -> None:
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


# --- one client process ----------------------------------------------------------------------------------


@dataclass
class BuyerSpec:
    """What one client process connects: ``paths[i]`` is the request target of its i-th buyer."""

    host: str
    port: int
    paths: list[str]
    subprotocol: str | None
    prefix: str  # request ids are "<prefix><buyer index>.<seq>": unique in the run
    core: int | None = None  # pin this process to that core
    concurrency: int = 50  # handshakes in flight at once
    attempts: int = 3
    extra: dict[str, Any] = field(default_factory=dict)


class BuyerWorker:
    def __init__(self, spec: BuyerSpec) -> None:
        self.spec = spec
        self.prefix = spec.prefix
        self.st = BuyerStats()
        self.buyers: list[Buyer] = []
        self.errors: list[str] = []
        self.mode = "idle"  # "idle" | "closed" | "open"
        self.sale = ""
        self.window = 1
        self._open_task: asyncio.Task[None] | None = None

    # connecting ---------------------------------------------------------------------------------------
    async def _connect_one(self, i: int, sem: asyncio.Semaphore) -> None:
        spec = self.spec

        def make(request: bytes, accept: bytes, ready: asyncio.Future[None]) -> Buyer:
            return Buyer(self, i, request, accept, ready)

        async with sem:
            try:
                buyer = await open_with_retries(spec.host, spec.port, spec.paths[i], spec.subprotocol,
                                                spec.attempts, make)  # fmt: skip
            except CONNECT_ERRORS as exc:
                self.st.failed += 1
                if len(self.errors) < 5:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                return
            self.buyers.append(buyer)

    async def connect(self) -> dict[str, Any]:
        t0 = time.monotonic()
        sem = asyncio.Semaphore(self.spec.concurrency)
        await asyncio.gather(*(self._connect_one(i, sem) for i in range(len(self.spec.paths))))
        return {"opened": self.st.opened, "failed": self.st.failed, "errors": self.errors,
                "secs": time.monotonic() - t0}  # fmt: skip

    # driving ------------------------------------------------------------------------------------------
    def answered(self, buyer: Buyer) -> None:
        """A buy of ``buyer`` was answered: in the closed loop, send its next one."""
        if self.mode == "closed" and buyer.open and buyer.budget != 0 and len(buyer.pending) < self.window:
            if buyer.budget > 0:
                buyer.budget -= 1
            buyer.send_buy(self.sale, time.monotonic())

    def start_closed(self, sale: str, window: int, budget: int) -> None:
        """Every buyer keeps ``window`` buys outstanding; at most ``budget`` buys each (< 0: no limit)."""
        self.stop()
        self.mode, self.sale, self.window = "closed", sale, window
        now = time.monotonic()
        for b in self.buyers:
            b.budget = budget
            while b.open and b.budget != 0 and len(b.pending) < window:
                if b.budget > 0:
                    b.budget -= 1
                b.send_buy(sale, now)

    def start_open(self, sale: str, rate: float) -> None:
        self.stop()
        self.mode, self.sale = "open", sale
        self._open_task = asyncio.get_running_loop().create_task(self._open_loop(sale, rate))

    async def _open_loop(self, sale: str, rate: float) -> None:
        buyers = [b for b in self.buyers if b.open]
        if not buyers or rate <= 0:
            return
        st = self.st
        start = time.monotonic()
        sent = 0
        turn = 0
        while self.mode == "open":
            now = time.monotonic()
            due = int((now - start) * rate)
            while sent < due:
                scheduled = start + sent / rate
                for _ in range(len(buyers)):
                    b = buyers[turn % len(buyers)]
                    turn += 1
                    if b.open:
                        b.send_buy(sale, scheduled)
                        st.lags.append(now - scheduled)
                        break
                sent += 1
            await asyncio.sleep(0.001)

    def stop(self) -> None:
        self.mode = "idle"
        if self._open_task is not None:
            self._open_task.cancel()
            self._open_task = None

    def outstanding(self) -> int:
        return sum(len(b.pending) for b in self.buyers)

    async def drain(self, timeout: float) -> int:
        """Wait (at most ``timeout`` s) until no buy is outstanding; return how many still are."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.outstanding():
                break
            await asyncio.sleep(0.02)
        return self.outstanding()

    def mark(self, t: float) -> dict[str, Any]:
        st = self.st
        snap = {
            "t": t,
            "cpu": process_cpu_seconds(),
            "run_delay": run_delay_seconds(),
            "buyers": len(self.buyers),
            "open": st.opened - st.closed,
            "closed": st.closed,
            "sent": st.sent,
            "answers": dict(st.answers),
            "frames": dict(st.frames),
            "unmatched": st.unmatched,
            "outstanding": self.outstanding(),
            "lat": st.latencies.tobytes(),
            "lags": st.lags.tobytes(),
        }
        st.latencies = array("d")
        st.lags = array("d")
        return snap

    def close(self) -> None:
        self.stop()
        for b in self.buyers:
            b.close()


def worker_main(spec: BuyerSpec, conn: Connection) -> None:
    """Entry point of one client process: pin, raise the fd limit, then serve the harness's commands.

    Commands (tuples sent over ``conn``), each answered exactly once: ``("connect",)``,
    ``("closed", sale, window, budget)``, ``("open", sale, rate)``, ``("stop",)``, ``("drain", timeout)``,
    ``("mark",)``, ``("close",)``.
    """
    if spec.core is not None:
        os.sched_setaffinity(0, {spec.core})
    raise_nofile_limit()
    uvloop.run(_worker_loop(spec, conn))


async def _worker_loop(spec: BuyerSpec, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    worker = BuyerWorker(spec)
    commands: asyncio.Queue[tuple[tuple[Any, ...], float]] = asyncio.Queue()
    fd = conn.fileno()

    def readable() -> None:
        os.set_blocking(fd, True)  # the event loop made it non-blocking; a message is read whole
        t = time.monotonic()
        try:
            commands.put_nowait((conn.recv(), t))
        except (EOFError, OSError):
            loop.remove_reader(fd)
            commands.put_nowait((("close",), t))

    def reply(obj: Any) -> None:
        os.set_blocking(fd, True)
        conn.send(obj)

    loop.add_reader(fd, readable)
    while True:
        cmd, t = await commands.get()
        kind = cmd[0]
        if kind == "connect":
            reply(await worker.connect())
        elif kind == "closed":
            worker.start_closed(cmd[1], int(cmd[2]), int(cmd[3]))
            reply({"t": time.monotonic()})
        elif kind == "open":
            worker.start_open(cmd[1], float(cmd[2]))
            reply({"t": time.monotonic()})
        elif kind == "stop":
            worker.stop()
            reply({"t": time.monotonic(), "outstanding": worker.outstanding()})
        elif kind == "drain":
            reply({"outstanding": await worker.drain(float(cmd[1]))})
        elif kind == "mark":
            reply(worker.mark(t))
        elif kind == "close":
            worker.close()
            await asyncio.sleep(0.2)
            with contextlib.suppress(OSError):
                reply({"closed": True})
            loop.remove_reader(fd)
            return
