"""Memory per idle viewer: server RSS with N idle viewers, livehub next to the reference server.

    python -m loadtests.memory [--viewers 0,5000,10000] [--workers 1|2] [--servers livehub,reference]
                               [--config config/small.toml] [--clients 2] [--settle 3] [--json-out FILE]

For each server, in the same run and with the same clients: start it (livehub on a Redis of its
own, as ``loadtests/_targets.py`` starts it for the other benchmarks; the reference is
``loadtests/reference_server.py``), warm it up with a few viewers that connect and leave, then
for each viewer count (ascending; the viewers are added, never reconnected) open the missing
viewers from ``--clients`` client processes (raw asyncio sockets doing the handshake by hand,
loadtests/_wsclient.py), wait until every livehub viewer has its ``welcome`` and its venue's
``snapshot`` (the viewers are spread over the festival's venues, each with a token of its own),
let the server settle ``--settle`` seconds and read its memory from /proc: VmRSS and Pss
(smaps_rollup), summed over the worker processes for ``--workers 2`` (uvicorn's supervisor is
reported apart, it holds no viewer).  KiB per viewer is ``(RSS(N) - RSS(0)) / N``; the ratio is
livehub's KiB per viewer over the reference's, measured side by side (the machine is shared).

With ``--workers 2`` the viewers' ``welcome`` frames name the node (worker) that holds them:
the run fails unless every worker holds some.  The whole run is bounded by ``--timeout``;
every process it starts is stopped by PID.  docs/performance.md ("Memory per idle viewer")
has the method and the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import sys
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
import uvloop

from loadtests._targets import (
    REPO,
    ClientProcess,
    LivehubTarget,
    ReferenceTarget,
    descendants,
    proc_comm,
)
from loadtests._wsclient import (
    CONNECT_ERRORS,
    JSON_FRAME_MARKER,
    Stats,
    Viewer,
    open_with_retries,
    raise_nofile_limit,
)

WARMUP_VIEWERS = 50  # connected and closed before the 0-viewer reading: code paths loaded, caches filled


# --- reading a process's memory --------------------------------------------------------------------------


def proc_memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (/proc/<pid>/status) and Pss (/proc/<pid>/smaps_rollup) of one process, in KiB (0: gone)."""
    out = {"rss": 0, "pss": 0}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss"] = int(line.split()[1])
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["pss"] = int(line.split()[1])
    return out


# --- the servers ------------------------------------------------------------------------------------------


class MemoryLivehubTarget(LivehubTarget):
    """``livehub serve --workers N`` whose viewers are spread over the festival's venues, a token each."""

    def __init__(self, *, workers: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workers = workers
        self.venues = festival_venues(self.options.get("livehub_config", "config/small.toml"))
        self.minted = 0

    def command(self) -> tuple[list[str], dict[str, str]]:
        cmd, env = super().command()
        cmd[cmd.index("--workers") + 1] = str(self.workers)
        return cmd, env

    def ready(self) -> bool:
        return super().ready() and len(self.worker_pids()) == self.workers

    def worker_pids(self) -> list[int]:
        """The processes that serve viewers: the server itself with one worker, else uvicorn's workers."""
        if self.proc is None:
            return []
        if self.workers == 1:
            return [self.proc.pid]
        return [p for p in descendants(self.proc.pid) if is_worker(p)]

    def viewer_paths(self, n: int) -> list[str]:
        from livehub.domain.tokens import mint

        paths = []
        for _ in range(n):
            i = self.minted
            self.minted += 1
            venue = self.venues[i % len(self.venues)]
            paths.append(f"/ws?venue={venue}&token={mint(self.secret, sub=f'u{i}')}")
        return paths


def is_worker(pid: int) -> bool:
    """A uvicorn worker among the server's descendants (not Redis, not multiprocessing's resource tracker)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return not proc_comm(pid).startswith("redis-server") and b"resource_tracker" not in cmdline


class MemoryReferenceTarget(ReferenceTarget):
    workers = 1

    def worker_pids(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None else []


def festival_venues(config: str) -> list[str]:
    from livehub.config import load_festival

    return list(load_festival(str(REPO / config)).venues)


# --- one client process -------------------------------------------------------------------------------------


class IdleViewer(Viewer):
    """A viewer that decodes the frames of its join (welcome, snapshot, ...) and then stays idle,
    answering the server's pings."""

    __slots__ = ("node", "snapshots")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.node = ""
        self.snapshots = 0

    def _sample(self, payload: bytes) -> None:
        try:
            msg = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "welcome":
            self.node = str(msg.get("node", ""))
        elif kind == "snapshot":
            self.snapshots += 1


class IdleClient:
    def __init__(self, host: str, port: int, subprotocol: str | None, concurrency: int) -> None:
        self.host, self.port, self.subprotocol = host, port, subprotocol
        self.concurrency = concurrency
        self.st = Stats()
        self.viewers: list[IdleViewer] = []
        self.errors: list[str] = []

    async def connect(self, paths: list[str]) -> dict[str, Any]:
        sem = asyncio.Semaphore(self.concurrency)

        def make(request: bytes, accept: bytes, ready: asyncio.Future[None]) -> IdleViewer:
            return IdleViewer(self.st, request, accept, self.subprotocol, JSON_FRAME_MARKER, orjson.loads, ready)

        async def one(path: str) -> None:
            async with sem:
                try:
                    viewer = await open_with_retries(self.host, self.port, path, self.subprotocol, 3, make)
                except CONNECT_ERRORS as exc:
                    self.st.failed += 1
                    if len(self.errors) < 5:
                        self.errors.append(f"{type(exc).__name__}: {exc}")
                    return
                self.viewers.append(viewer)

        t0 = time.monotonic()
        await asyncio.gather(*(one(p) for p in paths))
        return {"secs": time.monotonic() - t0, **self.status()}

    def status(self) -> dict[str, Any]:
        live = [v for v in self.viewers if v.open]
        return {
            "opened": self.st.opened,
            "failed": self.st.failed,
            "open": len(live),
            "closed": self.st.closed,
            "with_snapshot": sum(1 for v in live if v.snapshots),
            "nodes": dict(Counter(v.node for v in live)),
            "errors": self.errors,
        }

    def close(self) -> None:
        for v in self.viewers:
            v.close()
        self.viewers.clear()


def client_main(spec: dict[str, Any], conn: Connection) -> None:
    """One client process: ``("connect", paths)``, ``("status",)``, ``("close",)``; one reply each."""
    raise_nofile_limit()
    uvloop.run(_client_loop(spec, conn))


async def _client_loop(spec: dict[str, Any], conn: Connection) -> None:
    client = IdleClient(spec["host"], spec["port"], spec["subprotocol"], spec["concurrency"])
    loop = asyncio.get_running_loop()
    while True:
        try:
            cmd = await loop.run_in_executor(None, conn.recv)
        except (EOFError, OSError):
            cmd = ("close",)
        if cmd[0] == "connect":
            conn.send(await client.connect(cmd[1]))
        elif cmd[0] == "status":
            conn.send(client.status())
        else:
            client.close()
            await asyncio.sleep(0.2)
            with contextlib.suppress(OSError):
                conn.send({"closed": True})
            return


# --- one server's run ----------------------------------------------------------------------------------------


class ServerRun:
    def __init__(self, args: argparse.Namespace, target: MemoryLivehubTarget | MemoryReferenceTarget) -> None:
        self.args = args
        self.target = target
        self.clients: list[ClientProcess] = []
        self.rows: list[dict[str, Any]] = []
        self.checks: list[str] = []

    async def run(self, counts: list[int]) -> None:
        t = self.target
        await asyncio.to_thread(t.start, 90.0)
        ctx = multiprocessing.get_context("spawn")
        spec = {"host": t.host, "port": t.port, "subprotocol": t.subprotocol, "concurrency": self.args.concurrency}
        self.clients = [ClientProcess(ctx, client_main, spec) for _ in range(self.args.clients)]
        warm = ClientProcess(ctx, client_main, spec)
        try:
            await self._open(warm, WARMUP_VIEWERS)
        finally:
            await warm.close()
        await asyncio.sleep(self.args.settle)
        base = self.read()
        held = 0
        for n in counts:
            if n > held:
                await self.add(n - held)
                held = n
            await asyncio.sleep(self.args.settle)
            status = await self.status()
            mem = self.read()
            row = {"viewers": n, **mem, "status": status}
            row["kib_per_viewer"] = (mem["rss"] - base["rss"]) / n if n else None
            row["pss_kib_per_viewer"] = (mem["pss"] - base["pss"]) / n if n else None
            self.check(n, status)
            self.rows.append(row)

    async def _open(self, client: ClientProcess, n: int) -> dict[str, Any]:
        paths = self.target.viewer_paths(n)
        reply: dict[str, Any] = await client.call("connect", paths, wait=max(60.0, n / 50))
        return reply

    async def add(self, n: int) -> None:
        shares = [n // len(self.clients) + (1 if i < n % len(self.clients) else 0) for i in range(len(self.clients))]
        await asyncio.gather(*(self._open(c, k) for c, k in zip(self.clients, shares, strict=True) if k))
        if isinstance(self.target, MemoryLivehubTarget):  # wait until every viewer has its snapshot
            deadline = time.monotonic() + max(30.0, n / 200)
            while time.monotonic() < deadline:
                s = await self.status()
                if s["with_snapshot"] >= s["open"]:
                    break
                await asyncio.sleep(0.5)

    async def status(self) -> dict[str, Any]:
        total: dict[str, Any] = {"opened": 0, "failed": 0, "open": 0, "closed": 0, "with_snapshot": 0, "errors": []}
        nodes: Counter[str] = Counter()
        for reply in await asyncio.gather(*(c.call("status") for c in self.clients)):
            for key in ("opened", "failed", "open", "closed", "with_snapshot"):
                total[key] += reply[key]
            total["errors"] += reply["errors"]
            nodes.update(reply["nodes"])
        total["nodes"] = dict(nodes)
        return total

    def read(self) -> dict[str, Any]:
        t = self.target
        per = [proc_memory_kib(pid) for pid in t.worker_pids()]
        out: dict[str, Any] = {
            "rss": sum(m["rss"] for m in per),
            "pss": sum(m["pss"] for m in per),
            "per_worker_rss": [m["rss"] for m in per],
        }
        if t.workers > 1 and t.proc is not None:
            out["supervisor_rss"] = proc_memory_kib(t.proc.pid)["rss"]
        return out

    def check(self, n: int, status: dict[str, Any]) -> None:
        name = self.target.name
        if status["open"] != n:
            self.checks.append(f"{name}: {status['open']} of {n} viewers open ({status['failed']} failed)")
        if isinstance(self.target, MemoryLivehubTarget) and n:
            if status["with_snapshot"] != status["open"]:
                self.checks.append(f"{name}: {status['with_snapshot']} of {status['open']} viewers got a snapshot")
            if self.target.workers > 1:
                nodes = status["nodes"]
                if len(nodes) < self.target.workers or min(nodes.values()) == 0:
                    self.checks.append(f"{name}: viewers not held by every worker: {nodes}")

    async def stop(self) -> None:
        await asyncio.to_thread(self.target.stop)  # the server first: the clients' ports are not left in TIME_WAIT
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)
        self.clients.clear()


# --- output ----------------------------------------------------------------------------------------------------


def fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def report(runs: list[ServerRun]) -> str:
    ref = next((r for r in runs if r.target.name == "reference"), None)
    ref_rows = {row["viewers"]: row for row in ref.rows} if ref is not None else {}
    lines = [
        f"{'server':<10} {'workers':>7} {'viewers':>8} {'RSS MiB':>9} {'Pss MiB':>9} "
        f"{'KiB/viewer':>11} {'Pss KiB/v':>10} {'ratio':>6}"
    ]
    for run in runs:
        for row in run.rows:
            ref_row = ref_rows.get(row["viewers"])
            ratio = None
            if ref_row is not None and row["kib_per_viewer"] and ref_row["kib_per_viewer"]:
                ratio = row["kib_per_viewer"] / ref_row["kib_per_viewer"]
            lines.append(
                f"{run.target.name:<10} {run.target.workers:>7} {row['viewers']:>8} {row['rss'] / 1024:>9.1f} "
                f"{row['pss'] / 1024:>9.1f} {fmt(row['kib_per_viewer']):>11} {fmt(row['pss_kib_per_viewer']):>10} "
                f"{fmt(ratio, '.2f'):>6}"
            )
            if run.target.workers > 1 and row["viewers"]:
                lines.append(f"{'':<10} per worker RSS KiB {row['per_worker_rss']}, viewers per node "
                             f"{row['status']['nodes']}, supervisor RSS KiB {row.get('supervisor_rss')}")  # fmt: skip
    for run in runs:
        lines += [f"CHECK FAILED: {c}" for c in run.checks]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadtests.memory", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--viewers", default="0,5000,10000", help="comma-separated viewer counts, ascending")
    p.add_argument("--workers", type=int, default=1, choices=[1, 2], help="livehub serve --workers")
    p.add_argument("--servers", default="livehub,reference")
    p.add_argument("--config", default="config/small.toml", help="livehub's festival (its venues get the viewers)")
    p.add_argument("--clients", type=int, default=0, help="client processes (0: one per 5,000 viewers)")
    p.add_argument("--concurrency", type=int, default=100, help="handshakes in flight per client process")
    p.add_argument("--settle", type=float, default=3.0, help="seconds idle before each reading")
    p.add_argument("--timeout", type=float, default=900.0, help="the whole run, in seconds")
    p.add_argument("--livehub-exe", default=None)
    p.add_argument("--json-out", default=None)
    args = p.parse_args(argv)
    args.counts = sorted({int(x) for x in args.viewers.split(",") if x.strip()})
    if args.clients <= 0:
        args.clients = max(1, math.ceil(max(args.counts, default=0) / 5000))
    return args


async def amain(args: argparse.Namespace) -> list[ServerRun]:
    runs: list[ServerRun] = []
    for name in [s.strip() for s in args.servers.split(",") if s.strip()]:
        options = {"livehub_config": args.config, "livehub_exe": args.livehub_exe}
        common: dict[str, Any] = {"host": "127.0.0.1", "server_core": None, "aux_core": None, "codec": "json",
                                  "options": options}  # fmt: skip
        target: MemoryLivehubTarget | MemoryReferenceTarget
        if name == "livehub":
            target = MemoryLivehubTarget(workers=args.workers, **common)
        elif name == "reference":
            target = MemoryReferenceTarget(**common)
        else:
            raise SystemExit(f"unknown server {name!r} (livehub, reference)")
        run = ServerRun(args, target)
        runs.append(run)
        try:
            await run.run(args.counts)
        finally:
            await run.stop()
        print(report([run]), file=sys.stderr, flush=True)
    return runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_nofile_limit()
    runs: list[ServerRun] = []

    async def bounded() -> None:
        nonlocal runs
        task = asyncio.ensure_future(amain(args))
        try:
            runs = await asyncio.wait_for(task, args.timeout)
        except TimeoutError:
            print(f"memory bench: not done within --timeout {args.timeout}s", file=sys.stderr)

    uvloop.run(bounded())
    if not runs:
        return 1
    text = report(runs)
    print(f"# python -m loadtests.memory {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, {os.cpu_count()} cores")
    print(text)
    if args.json_out:
        data = [{"server": r.target.name, "workers": r.target.workers, "rows": r.rows, "checks": r.checks}
                for r in runs]  # fmt: skip
        Path(args.json_out).write_text(json.dumps(data, indent=2))
    return 1 if any(r.checks for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
