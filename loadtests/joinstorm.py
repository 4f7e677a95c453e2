"""Join storm: how fast one node takes in a crowd (docs/performance.md, "Join storm").

    python -m loadtests.joinstorm [--viewers 5000] [--rounds 3] [--window 256] [--publish-rate 4]

Each round starts the reference server (loadtests/reference_server.py) and ``livehub serve``
(config/small.toml, its own Redis), both through loadtests/_targets.py, and opens ``--viewers``
websockets to each as fast as the client can (at most ``--window`` handshakes in flight):

* reference: a viewer has joined when its upgrade is accepted (the reference sends nothing; with
  ``--reference-publishes`` it broadcasts the same events as livehub's host meanwhile);
* livehub: a viewer has joined when its ``snapshot`` arrived (``/ws?venue=<v>``, anonymous, most
  viewers on the main venue, the rest spread over the brand venues, as a festival would be).
  Meanwhile a host publishes ``--publish-rate`` events per second on the main venue, and every
  viewer must get its snapshot and then every later event of each of its channels exactly once
  (offsets checked: no event before the snapshot, no gap, no duplicate, and at the end each
  viewer at the channel's last offset).

It prints, per target, joins/s (joined viewers / time from the first connect to the last join),
failed handshakes (refused, reset, not 101, closed before joining), the server CPU per join
(utime+stime of the server's processes from /proc, Redis apart), then the ratio livehub /
reference; the median over rounds.  The server is pinned to core 0, this client and livehub's
Redis to core 1 (``--no-pin``: nothing pinned).  Every process it starts is stopped by PID; each storm is
bounded by ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import uvloop

from loadtests._targets import CLK_TCK, LivehubTarget, ReferenceTarget, Target, proc_cpu_ticks, stop_pid
from loadtests._wsclient import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    check_handshake_response,
    handshake_request,
    masked_frame,
    raise_nofile_limit,
)

BRANDS = ("b1", "b2", "b3")  # config/small.toml's brand venues
MAIN_SHARE = 0.7  # of the viewers on the main venue; the rest spread evenly over the brands
MAX_HANDSHAKE_BYTES = 16_384


@dataclass
class Storm:
    """What one storm measured, and the protocol errors the viewers saw."""

    opened_at: float = 0.0
    joined: list[float] = field(default_factory=list)  # monotonic time of each join
    failed: int = 0
    closed_after_join: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    events: int = 0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


class JoinViewer(asyncio.Protocol):
    """One viewer: the upgrade by hand, then every frame parsed; with ``snapshot`` set, joined when
    the snapshot arrives and each event's offset checked against the channel's last one."""

    def __init__(self, storm: Storm, request: bytes, accept: bytes, subprotocol: str | None,
                 snapshot: bool, done: asyncio.Future[bool]) -> None:  # fmt: skip
        self.storm = storm
        self.request = request
        self.accept = accept
        self.subprotocol = subprotocol
        self.want_snapshot = snapshot
        self.done = done
        self.tr: asyncio.Transport | None = None
        self.upgraded = False
        self.joined = False
        self.buf = b""
        self.last: dict[str, tuple[str, int]] = {}  # channel -> (epoch, offset) of the last frame

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.tr = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.joined:
            self.storm.closed_after_join += 1
        self._finish(False)

    def _finish(self, ok: bool) -> None:
        if not self.done.done():
            self.done.set_result(ok)

    def _join(self) -> None:
        self.joined = True
        self.storm.joined.append(time.monotonic())
        self._finish(True)

    def close(self) -> None:
        if self.tr is not None:
            self.tr.close()

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HANDSHAKE_BYTES:
                    self.storm.error("handshake too long")
                    self.close()
                self.buf = buf
                return
            problem = check_handshake_response(buf[:end], self.accept, self.subprotocol)
            if problem is not None:
                self.storm.error(problem[:60])
                self.close()
                return
            self.upgraded = True
            buf = buf[end + 4 :]
            if not self.want_snapshot:
                self._join()
        pos, n = 0, len(buf)
        while n - pos >= 2:
            length = buf[pos + 1] & 127
            start = pos + 2
            if length == 126:
                if n - pos < 4:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            if start + length > n:
                break
            opcode = buf[pos] & 15
            payload = buf[start : start + length]
            pos = start + length
            if opcode in (OP_TEXT, OP_BINARY):
                self._message(payload)
            elif opcode == OP_PING:
                self.tr.write(masked_frame(OP_PONG, payload))  # type: ignore[union-attr]
            elif opcode == OP_CLOSE:
                self.tr.write(masked_frame(OP_CLOSE, payload[:2]))  # type: ignore[union-attr]
                self.close()
                return
        self.buf = buf[pos:]

    def _message(self, payload: bytes) -> None:
        if not self.want_snapshot:
            self.storm.events += 1  # the reference's broadcasts: counted, nothing to check
            return
        msg = orjson.loads(payload)
        kind = msg.get("type")
        if kind == "snapshot":
            if self.joined:
                self.storm.error("second snapshot")
            for ch, pos in msg["channels"].items():
                self.last[ch] = (pos["epoch"], pos["offset"])
            self._join()
        elif kind == "event":
            self.storm.events += 1
            ch, offset = msg["ch"], msg["offset"]
            last = self.last.get(ch)
            if last is None:
                self.storm.error("event before the snapshot")
            elif msg.get("epoch", last[0]) != last[0]:
                self.storm.error("epoch changed")
            elif offset <= last[1]:
                self.storm.error("duplicate event")
            elif offset > last[1] + 1:
                self.storm.error("gap")
            self.last[ch] = (last[0] if last else "", offset)
        elif kind == "error":
            self.storm.error(f"error frame {msg.get('code')}")


def venue_paths(n: int) -> list[str]:
    """Most viewers on the main venue, the rest over the brand venues, interleaved."""
    paths = []
    for i in range(n):
        slot = i % 10
        venue = "main" if slot < MAIN_SHARE * 10 else BRANDS[(i // 10 + slot) % len(BRANDS)]
        paths.append(f"/ws?venue={venue}")
    return paths


async def storm(target: Target, paths: list[str], window: int, snapshot: bool, timeout: float,
                viewers: list[JoinViewer]) -> Storm:  # fmt: skip
    """Open every path (at most ``window`` not yet joined); return when all joined or failed."""
    loop = asyncio.get_running_loop()
    result = Storm()
    slots = asyncio.Semaphore(window)
    host, port, subprotocol = target.host, target.port, target.subprotocol

    async def one(path: str) -> None:
        request, accept = handshake_request(host, port, path, subprotocol)
        done: asyncio.Future[bool] = loop.create_future()
        viewer = JoinViewer(result, request, accept, subprotocol, snapshot, done)
        viewers.append(viewer)
        try:
            await loop.create_connection(lambda: viewer, host, port)
            ok = await asyncio.wait_for(done, timeout)
        except (OSError, TimeoutError):
            ok = False
        if not ok:
            result.failed += 1
            viewer.close()
        slots.release()

    deadline = loop.time() + timeout
    result.opened_at = time.monotonic()
    tasks = []
    for path in paths:
        await slots.acquire()
        if loop.time() > deadline:
            slots.release()
            break
        tasks.append(asyncio.ensure_future(one(path)))
    await asyncio.gather(*tasks)
    return result


def server_ticks(target: Target) -> tuple[int, int]:
    pids = target.cpu_pids()
    return sum(proc_cpu_ticks(p) for p in pids["server"]), sum(proc_cpu_ticks(p) for p in pids["redis"])


async def http_json(target: Target, path: str) -> Any:
    reader, writer = await asyncio.open_connection(target.host, target.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {target.host}\r\nConnection: close\r\n\r\n".encode())
    raw = await asyncio.wait_for(reader.read(), 10.0)
    writer.close()
    return orjson.loads(raw.split(b"\r\n\r\n", 1)[1])


def start_py_spy(target: Target, out: str) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the server for the storm (collapsed stacks in ``out``), or None if absent."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if target.proc is None or not Path(exe).exists():
        return None
    cmd = [exe, "record", "--pid", str(target.proc.pid), "--format", "raw", "--rate", "200", "-o", out, "--nonblocking"]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_py_spy(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None:
        proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            proc.wait(10.0)
        except subprocess.TimeoutExpired:
            stop_pid(proc.pid)


async def run_target(target: Target, n: int, window: int, publish_rate: float, timeout: float,
                     py_spy: str | None = None, reference_publishes: bool = False) -> dict[str, Any]:  # fmt: skip
    is_livehub = isinstance(target, LivehubTarget)
    paths = venue_paths(n) if is_livehub else target.viewer_paths(n)
    viewers: list[JoinViewer] = []
    publisher = target.publisher() if publish_rate > 0 and (is_livehub or reference_publishes) else None
    try:
        if publisher is not None:
            await publisher.open()
            publisher.start(publish_rate)
        spy = start_py_spy(target, py_spy) if py_spy and is_livehub else None
        if spy is not None:
            await asyncio.sleep(1.0)  # attached
        cpu0 = server_ticks(target)
        client0 = os.times()
        try:
            result = await storm(target, paths, window, is_livehub, timeout, viewers)
        finally:
            cpu1 = server_ticks(target)
            client1 = os.times()
            stop_py_spy(spy)
        if publisher is not None:
            await asyncio.sleep(0.5)  # a few events after the last join
            await publisher.stop()
        checked = 0
        closed_after_join = result.closed_after_join  # (before the viewers are closed below)
        if is_livehub:
            await asyncio.sleep(1.0)  # the last events reach everyone
            final = (await http_json(target, "/api/venues/main"))["channels"]["main"]["offset"]
            for v in viewers:
                if v.joined and not v.tr.is_closing():  # type: ignore[union-attr]
                    checked += 1
                    if v.last.get("main", ("", -1))[1] != final:
                        result.error("not at the last offset")
    finally:
        for v in viewers:
            v.close()
        if publisher is not None:
            await publisher.aclose()
    joined = result.joined
    span = (max(joined) - result.opened_at) if joined else float("nan")
    per_second: dict[int, int] = {}
    for t in joined:
        per_second[int(t - result.opened_at)] = per_second.get(int(t - result.opened_at), 0) + 1
    return {
        "joined": len(joined), "failed": result.failed, "closed_after_join": closed_after_join,
        "joins_per_s": len(joined) / span if joined else 0.0, "seconds": span,
        "cpu_ms_per_join": (cpu1[0] - cpu0[0]) * 1000 / CLK_TCK / max(1, len(joined)),
        "redis_cpu_ms_per_join": (cpu1[1] - cpu0[1]) * 1000 / CLK_TCK / max(1, len(joined)),
        "client_cpu": (client1.user + client1.system - client0.user - client0.system) / span if joined else 0.0,
        "events": result.events, "checked": checked, "errors": result.errors,
        "per_second": [per_second.get(s, 0) for s in range(int(span) + 1)] if joined else [],
    }  # fmt: skip


async def main_async(args: argparse.Namespace) -> int:
    rows: dict[str, list[dict[str, Any]]] = {"reference": [], "livehub": []}
    options = {"livehub_config": args.config, "venue": "main"}
    for round_no in range(args.rounds):
        for cls in (ReferenceTarget, LivehubTarget):
            server_core, aux_core = (None, None) if args.no_pin else (0, 1)
            target = cls(host="127.0.0.1", server_core=server_core, aux_core=aux_core, codec="json", options=options)
            try:
                target.start()
                await asyncio.sleep(1.0)  # the node's startup work (GC freeze, first jobs) done
                spy = f"{args.py_spy}.{round_no + 1}" if args.py_spy else None
                row = await run_target(target, args.viewers, args.window, args.publish_rate, args.timeout, spy,
                                       args.reference_publishes)  # fmt: skip
            finally:
                target.stop()
            rows[target.name].append(row)
            print(f"round {round_no + 1} {target.name:9}: {row['joins_per_s']:7.0f} joins/s  "
                  f"{row['joined']} joined, {row['failed']} failed, {row['closed_after_join']} closed after, "
                  f"server {row['cpu_ms_per_join']:.3f} ms CPU/join (redis {row['redis_cpu_ms_per_join']:.3f}), "
                  f"client {row['client_cpu']:.0%} of a core, "
                  f"{row['events']} events, {row['checked']} checked, errors {row['errors'] or 'none'}; "
                  f"per second {row['per_second']}", flush=True)  # fmt: skip
    ref = statistics.median(r["joins_per_s"] for r in rows["reference"])
    lh = statistics.median(r["joins_per_s"] for r in rows["livehub"])
    ratios = [a["joins_per_s"] / b["joins_per_s"] for a, b in zip(rows["livehub"], rows["reference"], strict=True)
              if b["joins_per_s"]]  # fmt: skip
    ratio = statistics.median(ratios) if ratios else float("nan")
    cpu = {name: statistics.median(r["cpu_ms_per_join"] for r in rows[name]) for name in rows}
    failed = {name: sum(r["failed"] for r in rows[name]) for name in rows}
    errors = sum(sum(r["errors"].values()) for r in rows["livehub"])
    print(f"median of {args.rounds}: reference {ref:.0f} accepts/s, livehub {lh:.0f} joins/s, ratio {ratio:.2f} "
          f"(per round {[round(r, 2) for r in ratios]}); server CPU/join livehub {cpu['livehub']:.3f} ms, "
          f"reference {cpu['reference']:.3f} ms; failed livehub {failed['livehub']}, reference "
          f"{failed['reference']}; livehub protocol errors {errors}")  # fmt: skip
    bad = any(r["failed"] or r["errors"] for r in rows["livehub"])
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=int, default=256, help="handshakes in flight at most")
    parser.add_argument("--publish-rate", type=float, default=4.0, help="events/s on the main venue during the storm")
    parser.add_argument("--timeout", type=float, default=60.0, help="bound of one storm, seconds")
    parser.add_argument("--config", default="config/small.toml")
    parser.add_argument("--reference-publishes", action="store_true",
                        help="the reference broadcasts the same events during its storm (default: accepts only)")
    parser.add_argument("--py-spy", metavar="FILE", help="record livehub with py-spy: FILE.<round>, collapsed stacks")
    parser.add_argument("--no-pin", action="store_true", help="pin nothing (default: server core 0, rest core 1)")
    args = parser.parse_args(argv)
    raise_nofile_limit()
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})  # the client (this process) and Redis on core 1, the server on core 0
    return uvloop.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
