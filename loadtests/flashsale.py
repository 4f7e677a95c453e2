"""Flash-sale benchmark: buy attempts/s end to end through websockets, next to the raw ceiling of buy.lua.

    python -m loadtests.flashsale [--buyers 2000] [--duration 10] [--workers 1|2] [--rates 0.5x]
                                  [--window 2] [--json-out FILE] [--py-spy FILE]

In one run, on one Redis (a redis-server we start on a unix socket, pinned to
core 1) and one ``livehub serve`` (pinned to core 0 with ``--workers 1``):

1. **raw ceiling**: the very Lua script of a buy (livehub/lua/buy.lua) driven
   directly with hiredis-packed pipelines (``--raw-pipelines`` concurrent
   pipelines of ``--raw-batch`` EVALSHA each) from one process on core 0, for
   ``--raw-duration`` seconds: script calls/s, Redis CPU, driver CPU.  Measured
   before and again after the end-to-end phases; the reference is their mean.
2. **rush**: a sale with less stock than buyers (``--rush-stock``, per-user
   limit 1); every buyer tries ``--rush-attempts`` times, one after another: the
   opening second of a flash sale.  Every unit must be sold exactly once.
3. **peak** (closed loop): ``--buyers`` websocket buyers (lean raw-asyncio
   clients in ``--client-procs`` processes pinned to core 1) each keep
   ``--window`` buys outstanding on a sale with a large stock: completed buy
   attempts/s by status, send -> reply latency.
4. **fixed rates** (open loop): ``--rates`` (default ``0.5x``: half the peak
   just measured; plain numbers are buys/s) on an absolute schedule; p50/p99
   latency measured from each buy's scheduled send time.
5. **zero oversell**: each sale's state (``GET /api/sales/<id>``) against the
   answers the clients saw: ``available + reserved + sold == stock``,
   ``reserved + sold == ok answers``, never more ok answers than stock.

Prints a table, the ratios end to end / raw ceiling of the same run and the
goals of the "Commerce engine" issue; ``--json-out`` writes every figure.
docs/performance.md ("Flash sale") explains the method.  Every process it
starts is stopped by PID at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import multiprocessing
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import uvloop

from loadtests._flashclient import BuyerSpec, worker_main
from loadtests._flashraw import RawSpec, proc_run_delay, raw_main
from loadtests._targets import (
    CLK_TCK,
    REPO,
    ClientProcess,
    core_times,
    descendants,
    free_port,
    log_tail,
    percentile,
    pin_process,
    pinned_preexec,
    proc_cpu_ticks,
    stop_pid,
    wait_quiet,
)
from loadtests._wsclient import raise_nofile_limit

SATURATED = 0.90  # a core (or the client processes) busier than this is saturated
CLIENT_WAIT_LIMIT = 0.25  # clients waiting this share of a window for a CPU (on a full core) are saturated
LAG_LIMIT_S = 0.005  # open loop: sends later than this (p99) behind schedule are flagged
NOISY = 0.25  # CPU (in cores) used by processes outside the benchmark beyond which a result is flagged
GOAL_RATIO = 0.3  # end to end >= 0.3 x raw ceiling
GOAL_P99_MS = 50.0  # p99 buy latency at half the peak rate
SERVER_CORE, AUX_CORE = 0, 1
VENUE, SKU = "b1", "b1-sku1"  # the buyers' venue and the throughput sale's product
RUSH_SKU = "b1-sku2"
RAW_VENUE, RAW_SKU = "b2", "b2-sku1"  # no buyer watches b2: the raw driver's stock changes push no frames
BIG_STOCK = 10_000_000  # SaleSpec's maximum: never sold out within a run
THROUGHPUT_LIMIT = 1_000  # per-user limit of the throughput sales (SaleSpec's maximum)


# --- measurements ---------------------------------------------------------------------------------------


def core_busy(a: dict[int, tuple[int, int]], b: dict[int, tuple[int, int]]) -> dict[str, float]:
    return {str(c): round((b[c][0] - a[c][0]) / max(1, b[c][1] - a[c][1]), 3) for c in b if c in a}


def limited_by(redis_cpu: float, redis_wait: float, driver_cpu: float, driver_wait: float) -> str:
    """What bounds a raw-ceiling run: the process that was busy (or runnable) nearly all the time."""
    if redis_cpu >= SATURATED:
        return "redis"
    if driver_cpu >= SATURATED:
        return "driver"
    if redis_cpu + redis_wait >= SATURATED:
        return "redis, sharing its core with other processes"
    if driver_cpu + driver_wait >= SATURATED:
        return "driver, sharing its core with other processes"
    return "round trips (neither process busy)"


def ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000.0, 2)


@dataclass
class Mark:
    """Everything read at one edge of a measured window."""

    t: float
    workers: list[dict[str, Any]]
    server_ticks: int
    redis_ticks: int
    server_wait: float  # s the livehub workers' event-loop threads waited for a CPU (schedstat)
    redis_wait: float
    cores: dict[int, tuple[int, int]]
    harness_cpu: float


# --- HTTP (setup and checks only) -------------------------------------------------------------------------


def http_json(port: int, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=orjson.dumps(body) if body is not None else None, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, (orjson.loads(raw) if raw else None)
    finally:
        conn.close()


# --- processes --------------------------------------------------------------------------------------------


class Livehub:
    """``livehub serve`` on our Redis, pinned to the server core (``--workers 1``) or free (``--workers 2``)."""

    def __init__(self, args: argparse.Namespace, redis_url: str, core: int | None, tmp: Path) -> None:
        self.args = args
        self.port = free_port()
        self.secret = secrets.token_urlsafe(24)
        self.log_path = tmp / "livehub.log"
        exe = str(Path(sys.executable).parent / "livehub")
        env = dict(os.environ)
        env |= {
            "LIVEHUB_SECRET": self.secret,
            "LIVEHUB_PAYMENT_SECRET": secrets.token_urlsafe(24),  # required outside demo mode
            "LIVEHUB_REDIS_URL": redis_url,
            "LIVEHUB_INBOUND_RATE": str(args.inbound_rate),
            "LIVEHUB_INBOUND_BURST": str(args.inbound_burst),
            "LIVEHUB_ADMISSION_RATE": str(args.admission_rate),
            "LIVEHUB_ADMISSION_BURST": str(args.admission_burst),
            # every simulated buyer is on 127.0.0.1 and the rush is what is measured: no per-IP or per-identity cap
            "LIVEHUB_MAX_CONNECTIONS_PER_IP": "1000000",
            "LIVEHUB_IDENTITY_BUY_RATE": "1e9",
            "LIVEHUB_IDENTITY_BUY_BURST": "1e9",
        }
        cmd = [exe, "serve", "--config", args.livehub_config, "--host", "127.0.0.1", "--port", str(self.port),
               "--workers", str(args.workers)]  # fmt: skip
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=pinned_preexec(core),
            )  # fmt: skip
        self.seen: set[int] = set()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"livehub exited with {self.proc.returncode}:\n{log_tail(self.log_path)}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if http_json(self.port, "GET", "/readyz")[0] == 200:
                    self.pids()
                    return
            time.sleep(0.1)
        raise RuntimeError(f"livehub not ready within {timeout}s:\n{log_tail(self.log_path)}")

    def pids(self) -> list[int]:
        found = [self.proc.pid, *descendants(self.proc.pid)]
        self.seen.update(found)
        return found

    def workers(self) -> list[int]:
        """The processes that serve (with --workers 1, the uvicorn process itself)."""
        if self.args.workers == 1:
            return [self.proc.pid]
        kids = []
        for pid in descendants(self.proc.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"resource_tracker" not in cmdline:  # uvicorn's spawned workers, not multiprocessing's helper
                kids.append(pid)
        return kids or [self.proc.pid]

    def stop(self) -> None:
        children = self.seen | set(descendants(self.proc.pid))
        stop_pid(self.proc.pid, timeout=10.0)
        for pid in children - {self.proc.pid}:  # only processes that were livehub's children
            if Path(f"/proc/{pid}").exists():
                stop_pid(pid, timeout=2.0)


# --- the benchmark ----------------------------------------------------------------------------------------


@dataclass
class Sale:
    sale_id: str
    venue: str
    sku: str
    stock: int
    per_user_limit: int


class FlashBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.pin = args.workers == 1 and not args.no_pin
        self.tag = secrets.token_hex(3)
        self.tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"flashsale-{self.tag}"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.redis: Any = None  # livehub.runtime.embedded_redis.EmbeddedRedis
        self.livehub: Livehub | None = None
        self.clients: list[ClientProcess] = []
        self.ctx = multiprocessing.get_context("spawn")
        self.raw_procs: list[Any] = []
        self.spy: subprocess.Popen[bytes] | None = None
        self.spy_file = ""
        self.out: dict[str, Any] = {"warnings": [], "phases": {}, "checks": {}}
        self.sales: dict[str, Sale] = {}
        self.buyers_open = 0
        self.final_answers: list[dict[str, int]] = []

    # ---- lifecycle ------------------------------------------------------------------------------------
    def start_servers(self) -> None:
        from livehub.runtime.embedded_redis import EmbeddedRedis

        self.redis = EmbeddedRedis(maxclients=20_000)
        url = self.redis.start()
        if self.pin:
            pin_process(self.redis.pid, AUX_CORE)
        self.livehub = Livehub(self.args, url, SERVER_CORE if self.pin else None, self.tmp)
        self.livehub.wait_ready()

    def stop_all(self, keep_logs: bool = False) -> None:
        """Stop, by PID, every process this run started (whatever state it is in)."""
        if self.spy is not None and self.spy.poll() is None:
            stop_pid(self.spy.pid)
        for p in self.raw_procs:
            if p.is_alive() and p.pid is not None:
                stop_pid(p.pid, timeout=2.0)
        for c in self.clients:
            if c.proc.is_alive() and c.proc.pid is not None:
                stop_pid(c.proc.pid, timeout=2.0)
        if self.livehub is not None:
            self.livehub.stop()
        if self.redis is not None:
            self.redis.stop()
        if keep_logs and self.livehub is not None:
            print(f"livehub's log: {self.livehub.log_path}\n{log_tail(self.livehub.log_path)}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- sales ----------------------------------------------------------------------------------------
    def create_sale(self, name: str, venue: str, sku: str, stock: int, per_user_limit: int) -> Sale:
        from livehub.domain.tokens import mint

        assert self.livehub is not None
        sale = Sale(f"fs-{name}-{self.tag}", venue, sku, stock, per_user_limit)
        token = mint(self.livehub.secret, f"host-{venue}", "host", venue=venue)
        body = {"sale_id": sale.sale_id, "sku": sku, "stock": stock, "price_cents": 9900,
                "per_user_limit": per_user_limit, "starts_in_s": 0, "duration_s": 3600,
                "reservation_ttl_s": 3600}  # fmt: skip
        status, answer = http_json(self.livehub.port, "POST", f"/api/venues/{venue}/sales", token, body)
        if status != 201:
            raise RuntimeError(f"creating sale {sale.sale_id}: HTTP {status} {answer}")
        self.sales[name] = sale
        return sale

    def sale_state(self, sale: Sale) -> dict[str, Any]:
        assert self.livehub is not None
        status, answer = http_json(self.livehub.port, "GET", f"/api/sales/{sale.sale_id}")
        if status != 200:
            raise RuntimeError(f"sale {sale.sale_id}: HTTP {status} {answer}")
        return dict(answer)

    # ---- marks ----------------------------------------------------------------------------------------
    async def mark(self) -> Mark:
        assert self.livehub is not None and self.redis is not None
        pending = [c.call("mark") for c in self.clients]
        t = time.monotonic()
        server_ticks = sum(proc_cpu_ticks(p) for p in self.livehub.pids())
        redis_ticks = proc_cpu_ticks(self.redis.pid)
        server_wait = sum(proc_run_delay(p) for p in self.livehub.workers())
        redis_wait = proc_run_delay(self.redis.pid)
        cores = core_times()
        tms = os.times()
        marks = await asyncio.gather(*pending)
        return Mark(t, list(marks), server_ticks, redis_ticks, server_wait, redis_wait, cores, tms.user + tms.system)

    # ---- raw ceiling ----------------------------------------------------------------------------------
    async def raw_ceiling(self, label: str, sale: Sale) -> dict[str, Any]:
        args = self.args
        spec = RawSpec(
            redis_url=self.redis.url, redis_pid=self.redis.pid, sale_id=sale.sale_id, prefix=f"{label}.",
            warmup=args.raw_warmup, duration=args.raw_duration, pipelines=args.raw_pipelines,
            batch=args.raw_batch, core=SERVER_CORE if self.pin else None,
        )  # fmt: skip
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=raw_main, args=(spec, child), daemon=True)
        self.raw_procs.append(proc)
        server0 = sum(proc_cpu_ticks(p) for p in self.livehub.pids()) if self.livehub else 0
        t0 = time.monotonic()
        proc.start()
        child.close()
        wait = args.raw_warmup + args.raw_duration + 60.0
        ready = await asyncio.to_thread(parent.poll, wait)
        if not ready:
            raise RuntimeError(f"raw driver {label} did not finish within {wait:.0f}s")
        result: dict[str, Any] = parent.recv()
        secs = time.monotonic() - t0
        server1 = sum(proc_cpu_ticks(p) for p in self.livehub.pids()) if self.livehub else 0
        proc.join(timeout=5.0)
        parent.close()
        if "error" in result:
            raise RuntimeError(f"raw driver {label}: {result['error']}")
        result["cores"] = core_busy(result.pop("cores_first"), result.pop("cores_last"))
        result["livehub_cpu"] = round((server1 - server0) / CLK_TCK / secs, 3)  # idle, over the driver's life
        oks = result["answers_window"].get("ok", 0)
        if oks != result["calls"]:
            self.warn(f"{label}: {result['calls'] - oks} raw calls answered other than ok: {result['answers_window']}")
        redis_busy = result["redis_cpu"]
        result["limited_by"] = limited_by(redis_busy, result["redis_run_wait"], result["driver_cpu"],
                                          result["driver_run_wait"])  # fmt: skip
        result["us_redis_per_call"] = round(redis_busy * 1e6 / result["calls_per_s"], 2)
        print(
            f"  {label}: {result['calls_per_s']:,.0f} buy.lua calls/s  (Redis {redis_busy:.0%} of a core, "
            f"{result['us_redis_per_call']} µs/call, waited {result['redis_run_wait']:.0%} for a CPU; driver "
            f"{result['driver_cpu']:.0%}, waited {result['driver_run_wait']:.0%}; cores {result['cores']}; "
            f"limited by {result['limited_by']})",
            flush=True,
        )
        return result

    # ---- buyers ---------------------------------------------------------------------------------------
    async def connect_buyers(self) -> dict[str, Any]:
        from livehub.domain.tokens import mint

        args = self.args
        assert self.livehub is not None
        secret = self.livehub.secret
        venue = "" if args.no_venue else f"venue={VENUE}&"
        paths = [f"/ws?{venue}token={mint(secret, sub=f'fs-u{i}')}" for i in range(args.buyers)]
        procs = max(1, min(args.client_procs, args.buyers))
        for k in range(procs):
            spec = BuyerSpec(
                host="127.0.0.1", port=self.livehub.port, paths=paths[k::procs], subprotocol="livehub.json.v1",
                prefix=f"{self.tag}.{k}.", core=AUX_CORE if self.pin else None,
                concurrency=args.connect_concurrency,
            )  # fmt: skip
            self.clients.append(ClientProcess(self.ctx, worker_main, spec))
        t0 = time.monotonic()
        replies = await asyncio.gather(*(c.call("connect", wait=120.0) for c in self.clients))
        opened = sum(r["opened"] for r in replies)
        failed = sum(r["failed"] for r in replies)
        errors = [e for r in replies for e in r["errors"]][:5]
        self.buyers_open = opened
        info = {"buyers": args.buyers, "opened": opened, "failed": failed, "errors": errors,
                "secs": round(time.monotonic() - t0, 2), "client_procs": procs}  # fmt: skip
        print(f"  {opened}/{args.buyers} buyers connected in {info['secs']}s"
              + (f", {failed} failed: {errors}" if failed else ""), flush=True)  # fmt: skip
        if opened == 0:
            raise RuntimeError(f"no buyer could connect: {errors}")
        if failed:
            self.warn(f"{failed} buyers could not connect: {errors}")
        return info

    async def command_all(self, *cmd: Any, wait: float = 30.0) -> list[Any]:
        return list(await asyncio.gather(*(c.call(*cmd, wait=wait) for c in self.clients)))

    async def drain(self) -> int:
        left = sum(r["outstanding"] for r in await self.command_all("stop"))
        if left:
            timeout = self.args.drain_timeout
            left = sum(r["outstanding"] for r in await self.command_all("drain", timeout, wait=timeout + 10))
        return left

    def window(self, a: Mark, b: Mark, sale: Sale) -> dict[str, Any]:
        """Every figure of one measured window [a, b] for the buys of ``sale``."""
        args = self.args
        secs = b.t - a.t
        prefix = sale.sale_id + "|"
        answers: dict[str, int] = {}
        per_s = {"answered": 0.0, "completed": 0.0, "ok": 0.0, "sent": 0.0}
        for wa, wb in zip(a.workers, b.workers, strict=True):
            w_secs = max(1e-9, wb["t"] - wa["t"])  # each process's counters over its own window
            for key, n in wb["answers"].items():
                if key.startswith(prefix) or key.startswith("-|"):
                    d = n - wa["answers"].get(key, 0)
                    if d:
                        status = key.split("|", 1)[1]
                        answers[status] = answers.get(status, 0) + d
                        per_s["answered"] += d / w_secs
                        if not status.startswith("error:"):
                            per_s["completed"] += d / w_secs
                        if status == "ok":
                            per_s["ok"] += d / w_secs
            per_s["sent"] += (wb["sent"] - wa["sent"]) / w_secs
        completed = per_s["completed"]
        frames: dict[str, float] = {}
        for wa, wb in zip(a.workers, b.workers, strict=True):
            for kind, n in wb["frames"].items():
                frames[kind] = frames.get(kind, 0) + (n - wa["frames"].get(kind, 0)) / secs
        lats, lags = array("d"), array("d")
        for w in b.workers:
            lats.frombytes(w["lat"])
            lags.frombytes(w["lags"])
        lat_sorted, lag_sorted = sorted(lats), sorted(lags)
        server_cpu = (b.server_ticks - a.server_ticks) / CLK_TCK / secs
        redis_cpu = (b.redis_ticks - a.redis_ticks) / CLK_TCK / secs
        client_cpu = sum(wb["cpu"] - wa["cpu"] for wa, wb in zip(a.workers, b.workers, strict=True)) / secs
        client_wait = sum(wb["run_delay"] - wa["run_delay"] for wa, wb in zip(a.workers, b.workers, strict=True))
        harness_cpu = (b.harness_cpu - a.harness_cpu) / secs
        cores = core_busy(a.cores, b.cores)
        foreign = sum(cores.values()) - (server_cpu + redis_cpu + client_cpu + harness_cpu)
        invalid: list[str] = []
        warnings: list[str] = []
        # Client headroom: the clients must not be what limits.  Saturated = they use a whole core, or their
        # core is full and they waited for it a quarter of the time or more; lagging = the open loop's sends
        # were late (its latencies count from the scheduled time, so lateness shows as latency).
        client_core = cores.get(str(AUX_CORE), 0.0) if self.pin else max(cores.values(), default=0.0)
        if client_cpu >= SATURATED * (1 if self.pin else 2):
            invalid.append(f"client processes use {client_cpu:.0%} of a core")
        elif client_core >= SATURATED and client_wait / secs >= CLIENT_WAIT_LIMIT:
            invalid.append(f"client core {client_core:.0%} busy and the clients waited {client_wait / secs:.0%} "
                           "of the window for it")  # fmt: skip
        elif client_core >= SATURATED:
            warnings.append(f"client core {client_core:.0%} busy (shared with Redis); clients waited "
                            f"{client_wait / secs:.0%} of the window for a CPU")  # fmt: skip
        lag_p99 = percentile(lag_sorted, 99)
        if lag_p99 is not None and lag_p99 > LAG_LIMIT_S:
            warnings.append(f"open-loop sends lagged: p99 {lag_p99 * 1000:.1f} ms behind schedule")
        if foreign > NOISY:
            warnings.append(f"noisy machine: other processes used {foreign:.0%} of a core")
        closed = sum(w["closed"] for w in b.workers)
        if closed:
            warnings.append(f"{closed} buyers disconnected")
        unmatched = sum(w["unmatched"] for w in b.workers) - sum(w["unmatched"] for w in a.workers)
        if unmatched:
            warnings.append(f"{unmatched} replies matched no request")
        not_ok = {k: v for k, v in answers.items() if k != "ok"}
        if not_ok and sale.stock == BIG_STOCK:
            warnings.append(f"answers other than ok: {not_ok}")
        return {
            "window_s": round(secs, 3),
            "buyers": self.buyers_open,
            "sent_per_s": round(per_s["sent"], 1),
            "answered_per_s": round(per_s["answered"], 1),  # every answer, error frames included
            "completed_per_s": round(completed, 1),  # answers from the sale (ok, sold_out, ...): not errors
            "ok_per_s": round(per_s["ok"], 1),
            "answers": answers,
            "latency_samples": len(lat_sorted),
            "p50_ms": ms(percentile(lat_sorted, 50)),
            "p90_ms": ms(percentile(lat_sorted, 90)),
            "p99_ms": ms(percentile(lat_sorted, 99)),
            "max_ms": ms(lat_sorted[-1] if lat_sorted else None),
            "send_lag_p99_ms": ms(percentile(lag_sorted, 99)),
            "send_lag_max_ms": ms(lag_sorted[-1] if lag_sorted else None),
            "other_frames_per_s": {k: round(v, 1) for k, v in sorted(frames.items())},
            "server_cpu": round(server_cpu, 3),
            "server_us_per_buy": round(server_cpu * 1e6 / completed, 1) if completed else None,
            "server_run_wait": round((b.server_wait - a.server_wait) / secs, 3),  # s/s livehub waited for a CPU
            "redis_cpu": round(redis_cpu, 3),
            "redis_us_per_buy": round(redis_cpu * 1e6 / completed, 1) if completed else None,
            "redis_run_wait": round((b.redis_wait - a.redis_wait) / secs, 3),
            "client_cpu": round(client_cpu, 3),
            "client_run_wait": round(client_wait / secs, 3),  # s/s the client processes waited for a CPU
            "harness_cpu": round(harness_cpu, 3),
            "cores": cores,
            "foreign_load": round(foreign, 3),
            "invalid": invalid,
            "warnings": warnings,
            "window_per_buyer": args.window,
        }

    async def measured(self, sale: Sale, start: tuple[Any, ...], label: str) -> dict[str, Any]:
        args = self.args
        await self.command_all(*start)
        profile = self.start_py_spy(label)
        await asyncio.sleep(args.warmup)
        a = await self.mark()
        await asyncio.sleep(args.duration)
        b = await self.mark()
        left = await self.drain()
        result = self.window(a, b, sale)
        if left:
            result["warnings"].append(f"{left} buys still unanswered {args.drain_timeout}s after the window")
        result["unanswered_after_drain"] = left
        if profile:
            result["py_spy"] = self.finish_py_spy()
        return result

    # ---- py-spy -----------------------------------------------------------------------------------------
    def start_py_spy(self, label: str) -> bool:
        """Record the (first) livehub worker with py-spy for the phase's warm-up and window: ``FILE.<label>``."""
        if not self.args.py_spy or self.livehub is None:
            return False
        exe = Path(sys.executable).parent / "py-spy"
        target = self.livehub.workers()[0]
        seconds = max(1, int(self.args.warmup + self.args.duration - 1))
        self.spy_file = f"{self.args.py_spy}.{label.replace(':', '-')}"
        cmd = [str(exe), "record", "-r", "100", "-d", str(seconds), "-p", str(target), "-f", "raw",
               "-o", self.spy_file]  # fmt: skip
        self.spy = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=pinned_preexec(AUX_CORE if self.pin else None),
        )  # fmt: skip
        return True

    def finish_py_spy(self) -> dict[str, Any]:
        if self.spy is None:
            return {}
        try:
            self.spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stop_pid(self.spy.pid)
        self.spy = None
        return summarize_collapsed(self.spy_file)

    # ---- the run ----------------------------------------------------------------------------------------
    def warn(self, text: str) -> None:
        self.out["warnings"].append(text)
        print(f"  WARNING: {text}", flush=True)

    async def run(self) -> dict[str, Any]:
        args = self.args
        out = self.out
        out["config"] = {k: v for k, v in vars(args).items()}
        out["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg": os.getloadavg()}
        out["pinning"] = (
            f"livehub on core {SERVER_CORE}; Redis, client processes and harness on core {AUX_CORE}; "
            f"raw driver on core {SERVER_CORE} (livehub idle meanwhile)"
            if self.pin
            else "nothing pinned: livehub's workers, Redis, the clients and the raw driver share both cores"
        )
        if args.quiet_wait > 0:
            load = await wait_quiet(args.quiet_wait, 0.15)
            out["machine"]["load_before"] = round(load, 3)
            if load >= 0.15:
                self.warn(f"machine not quiet before the run: {load:.2f} cores busy")
        print(f"flash sale: {args.buyers} buyers, livehub --workers {args.workers}; {out['pinning']}", flush=True)
        self.start_servers()
        raw = self.create_sale("raw", RAW_VENUE, RAW_SKU, BIG_STOCK, THROUGHPUT_LIMIT)
        rush = self.create_sale("rush", VENUE, RUSH_SKU, args.rush_stock, 1)
        tput = self.create_sale("tput", VENUE, SKU, BIG_STOCK, THROUGHPUT_LIMIT)
        phases = out["phases"]

        print("raw ceiling (buy.lua pipelined, directly on Redis):", flush=True)
        phases["raw_before"] = await self.raw_ceiling("raw_before", raw)

        print("end to end (websocket buyers -> livehub -> Redis):", flush=True)
        out["connect"] = await self.connect_buyers()
        await asyncio.sleep(1.5)  # welcome, snapshot, first stock frames

        # Rush: less stock than buyers, each buyer tries --rush-attempts times (one after another).
        a = await self.mark()
        await self.command_all("closed", rush.sale_id, 1, args.rush_attempts)
        left = sum(r["outstanding"] for r in await self.command_all("drain", 30.0, wait=40.0))
        b = await self.mark()
        rush_result = self.window(a, b, rush)
        rush_result["unanswered_after_drain"] = left
        rush_result["stock"] = rush.stock
        rush_result["attempts_per_buyer"] = args.rush_attempts
        phases["rush"] = rush_result
        print(f"  rush: {rush.stock} units, {self.buyers_open} buyers x {args.rush_attempts} attempts: "
              f"{rush_result['answers']} in {rush_result['window_s']:.2f}s, p50 {rush_result['p50_ms']} ms, "
              f"p99 {rush_result['p99_ms']} ms", flush=True)  # fmt: skip

        peak = await self.measured(tput, ("closed", tput.sale_id, args.window, -1), "peak")
        peak["mode"] = f"closed loop, {args.window} outstanding per buyer"
        phases["peak"] = peak
        print_phase("peak", peak)
        peak_rate = peak["completed_per_s"]

        out["rates"] = []
        for token in args.rates.split(","):
            token = token.strip()
            if not token:
                continue
            rate = float(token[:-1]) * peak_rate if token.endswith("x") else float(token)
            res = await self.measured(tput, ("open", tput.sale_id, rate / len(self.clients)), f"rate:{token}")
            res["mode"] = "open loop"
            res["offered_per_s"] = round(rate, 1)
            res["rate_token"] = token
            held = res["sent_per_s"] / rate if rate else 0.0
            if held < 0.97:
                res["warnings"].append(f"clients sent {res['sent_per_s']:.0f}/s of {rate:.0f}/s offered")
            out["rates"].append(res)
            print_phase(f"rate {token} ({rate:,.0f}/s)", res)

        await self.collect_final()
        for c in self.clients:
            await c.close()
        self.clients = []
        phases["raw_after"] = await self.raw_ceiling("raw_after", raw)
        self.check(raw, rush, tput)
        self.summarize()
        out["livehub_log"] = self.livehub_log()
        out["livehub_gc"] = self.livehub_gc()
        return out

    def livehub_gc(self) -> dict[str, Any]:
        """livehub's full garbage collections so far (``/metrics``; the first is the one at start-up)."""
        assert self.livehub is not None
        conn = http.client.HTTPConnection("127.0.0.1", self.livehub.port, timeout=30)
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
        except OSError as exc:
            return {"error": repr(exc)}
        finally:
            conn.close()
        found: dict[str, Any] = {"interval_s": os.environ.get("LIVEHUB_GC_FULL_INTERVAL_S", "default")}
        for line in text.splitlines():
            for name in ("livehub_gc_full_collections_total", "livehub_gc_full_seconds_total"):
                if line.startswith(name + "{"):
                    found[name.removeprefix("livehub_gc_").removesuffix("_total")] = float(line.rsplit(" ", 1)[1])
        return found

    def livehub_log(self) -> dict[str, Any]:
        """Warnings and errors livehub logged in the run (counted per logger and message start)."""
        assert self.livehub is not None
        kinds: dict[str, int] = {}
        try:
            lines = self.livehub.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return {}
        for line in lines:
            for level in (" WARNING ", " ERROR "):
                if level in line:
                    what = re.sub(r"[0-9a-f]{6,}|\d+", "#", line.split(level, 1)[1])[:100]
                    kinds[level.strip() + " " + what] = kinds.get(level.strip() + " " + what, 0) + 1
        return {"lines": len(lines), "warnings_and_errors": sum(kinds.values()),
                "kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:10])}  # fmt: skip

    def ok_seen(self, sale: Sale) -> int:
        return sum(r.get(f"{sale.sale_id}|ok", 0) for r in self.final_answers)

    def check(self, raw: Sale, rush: Sale, tput: Sale) -> None:
        """Zero oversell: each sale's state in Redis against the answers seen."""
        checks = self.out["checks"]
        phases = self.out["phases"]
        raw_ok = sum(phases[k]["answers_total"].get("ok", 0) for k in ("raw_before", "raw_after"))
        seen = {"raw": raw_ok, "rush": self.ok_seen(rush), "tput": self.ok_seen(tput)}
        unanswered = {"raw": 0, "rush": phases["rush"]["unanswered_after_drain"],
                      "tput": phases["peak"]["unanswered_after_drain"]
                      + sum(r["unanswered_after_drain"] for r in self.out["rates"])}  # fmt: skip
        all_ok = True
        for name, sale in (("raw", raw), ("rush", rush), ("tput", tput)):
            st = self.sale_state(sale)
            taken = st["reserved"] + st["sold"]
            ok = seen[name]
            c: dict[str, Any] = {
                "sale": sale.sale_id, "stock": st["stock"], "available": st["available"], "reserved": st["reserved"],
                "sold": st["sold"], "expired": st["expired"], "ok_answers": ok, "unanswered": unanswered[name],
                "balanced": st["balanced"] and st["available"] + taken == sale.stock,
                "no_oversell": ok <= sale.stock and taken <= sale.stock and st["available"] >= 0,
                # a buy left unanswered may have taken a unit the clients never heard of
                "ok_matches_reserved": ok <= taken <= ok + unanswered[name],
            }  # fmt: skip
            if name == "rush":
                expected = min(sale.stock, self.buyers_open)  # per-user limit 1: one unit per buyer at most
                c["sold_out_exactly"] = ok == expected and st["available"] == sale.stock - expected
            c["pass"] = all(v for k, v in c.items() if isinstance(v, bool))
            all_ok = all_ok and c["pass"]
            checks[name] = c
        checks["zero_oversell"] = all_ok

    def summarize(self) -> None:
        out = self.out
        ph = out["phases"]
        r1, r2 = ph["raw_before"]["calls_per_s"], ph["raw_after"]["calls_per_s"]
        ref = (r1 + r2) / 2
        peak = ph["peak"]
        ratios: dict[str, Any] = {
            "raw_ceiling_per_s": round(ref, 1),
            "raw_spread": round(abs(r1 - r2) / ref, 3) if ref else None,
            "peak_completed_per_s": peak["completed_per_s"],
            "e2e_over_raw": round(peak["completed_per_s"] / ref, 3) if ref else None,
        }
        # Capacity per core: what one fully busy core does, from CPU time per operation (per-process CPU
        # accounting is far less disturbed by neighbours than throughput): Redis's µs per call in the raw
        # runs against livehub's µs per completed buy at the peak.
        redis_us = (ph["raw_before"]["us_redis_per_call"] + ph["raw_after"]["us_redis_per_call"]) / 2
        ratios["redis_us_per_call"] = round(redis_us, 1)
        ratios["livehub_us_per_buy"] = peak["server_us_per_buy"]
        ratios["per_core_ratio"] = round(redis_us / peak["server_us_per_buy"], 3) if peak["server_us_per_buy"] else None
        half = next((r for r in out["rates"] if r["rate_token"] == "0.5x"), None)
        if half is not None:
            ratios["half_peak_rate_per_s"] = half["offered_per_s"]
            ratios["half_peak_over_raw"] = round(half["offered_per_s"] / ref, 3) if ref else None
            ratios["half_peak_p99_ms"] = half["p99_ms"]
        out["ratios"] = ratios
        goal_ratio = ratios["e2e_over_raw"] is not None and ratios["e2e_over_raw"] >= GOAL_RATIO
        goals: dict[str, Any] = {
            "e2e_at_least_0.3x_raw": {"met": goal_ratio, "value": ratios["e2e_over_raw"], "goal": GOAL_RATIO},
            "zero_oversell": {"met": out["checks"]["zero_oversell"]},
        }
        if half is not None:
            p99 = half["p99_ms"]
            goals["p99_under_50ms_at_half_peak"] = {"met": p99 is not None and p99 < GOAL_P99_MS, "value": p99,
                                                    "goal": GOAL_P99_MS}  # fmt: skip
        out["goals"] = goals
        out["valid"] = not any(p.get("invalid") for p in [peak, *out["rates"]])

    async def collect_final(self) -> None:
        """Every answer the clients saw in the run (read before they close)."""
        self.final_answers = [m["answers"] for m in (await self.mark()).workers]


# --- output -----------------------------------------------------------------------------------------------


# Where a py-spy sample of the livehub worker goes: the first rule that matches.  A sample whose leaf is the
# event loop's own frame is time in uvloop's C code (epoll, socket reads, callback dispatch); then whole-stack
# contexts (the hub's fan-out, periodic tasks); then the innermost frame matching a leaf rule.
PROFILE_CONTEXTS = [
    ("fan-out of stock/online frames (hub flush)", ("Hub.flush", "_fan_out", "broadcast_volatile")),
    ("periodic tasks (stock poll, sweeper, signals)",
     ("push_stock", "CommerceJobs.sweep", "AudienceSignals", "_every")),
]  # fmt: skip
PROFILE_LEAVES = [
    ("redis client: connection pool (acquire/release, Condition, timeout)",
     ("BlockingConnectionPool", "ConnectionPool.", "Condition.", "timeouts.py", "Timeout.", "get_pool_name",
      "record_connection")),
    ("redis client: pack and send", ("pack_command", "Encoder.encode", "send_packed_command", "send_command")),
    ("redis client: read and parse the answer", ("read_response", "HiredisParser", "parse_response", "can_read")),
    ("redis client: the rest (execute_command, Script, retry)",
     ("redis/", "commands/core.py", "asyncio/client.py", "utils.py", "retry.py")),
    ("reply: view, encode, write", ("buy_view", "reservation_view", "send_message", "Codec.frame", "write_raw",
      "livehub/protocol/frames.py")),
    ("sale logic (Buying.buy, SaleStore.buy, results, ids)",
     ("sales.py", "sale_rules.py", "routing.py", "attribution.py", "buying.py", "admission.py")),
    ("inbound: livehub protocol parse", ("livehub/protocol/commands.py", "codec.py", "ratelimit.py")),
    ("inbound: uvicorn websocket protocol, ASGI receive",
     ("websockets_sansio_impl", "websockets/", "starlette/websockets", "websockets/frames.py", "queues.py")),
    ("livehub websocket loop (Session)", ("livehub/web/session.py", "livehub/web/endpoint.py")),
    ("starlette/uvicorn routing", ("starlette/", "uvicorn/")),
]  # fmt: skip


def profile_category(frames: list[str]) -> str:
    if frames[-1].startswith("Runner.run"):
        return "event loop itself (uvloop: epoll, socket I/O, callbacks)"
    joined = ";".join(frames)
    for name, keys in PROFILE_CONTEXTS:
        if any(k in joined for k in keys):
            return name
    for f in reversed(frames):
        for name, keys in PROFILE_LEAVES:
            if any(k in f for k in keys):
                return name
    return "other"


def summarize_collapsed(path: str, top: int = 40) -> dict[str, Any]:
    """Categories, self and inclusive shares of the busiest functions in a py-spy ``raw`` (collapsed
    stacks) file.  Functions are counted per name and file (line numbers and directories dropped), each
    at most once per sample for the inclusive share."""
    self_n: dict[str, int] = {}
    incl_n: dict[str, int] = {}
    cats: dict[str, int] = {}
    total = 0
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        raw_frames = stack.split(";")
        frames = [_function(f) for f in raw_frames]
        self_n[frames[-1]] = self_n.get(frames[-1], 0) + n
        for f in set(frames):
            incl_n[f] = incl_n.get(f, 0) + n
        cat = profile_category(raw_frames)
        cats[cat] = cats.get(cat, 0) + n
    if not total:
        return {}

    def top_of(d: dict[str, int], k: int) -> list[tuple[str, float]]:
        return [(name, round(v / total, 4)) for name, v in sorted(d.items(), key=lambda kv: -kv[1])[:k]]

    return {"file": path, "samples": total, "categories": top_of(cats, 20), "self": top_of(self_n, top),
            "inclusive": top_of(incl_n, top)}  # fmt: skip


def _function(frame: str) -> str:
    """``'f (/x/y/z.py:12)'`` -> ``'f (y/z.py)'``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({'/'.join(where.split('/')[-2:])})"


def fmt(v: Any, spec: str = "") -> str:
    if v is None:
        return "-"
    return format(v, spec) if spec else str(v)


def print_phase(label: str, r: dict[str, Any]) -> None:
    flags = "; ".join(r["invalid"] + r["warnings"])
    print(
        f"  {label}: {r['completed_per_s']:,.0f} buys/s completed (sent {r['sent_per_s']:,.0f}/s) {r['answers']}, "
        f"p50 {fmt(r['p50_ms'])} ms, p99 {fmt(r['p99_ms'])} ms; livehub {r['server_cpu']:.0%} "
        f"({fmt(r['server_us_per_buy'])} µs/buy), Redis {r['redis_cpu']:.0%}, clients {r['client_cpu']:.0%}, "
        f"cores {r['cores']}" + (f"  [{flags}]" if flags else ""),
        flush=True,
    )


def print_report(out: dict[str, Any]) -> None:
    ph = out["phases"]
    print("\n" + "=" * 118)
    print(f"flash sale, {out['connect']['opened']} buyers, livehub --workers {out['config']['workers']} "
          f"({out['pinning']})")  # fmt: skip
    head = (f"{'phase':<26}{'buys/s':>10}{'x raw':>7}{'p50 ms':>9}{'p99 ms':>9}{'livehub':>9}{'µs/buy':>8}"
            f"{'Redis':>7}{'clients':>9}{'core0':>7}{'core1':>7}  notes")  # fmt: skip
    print(head)
    print("-" * len(head))
    ref = out["ratios"]["raw_ceiling_per_s"]

    def row(label: str, rate: float, r: dict[str, Any], server: float | None, us: float | None,
            redis: float, clients: float | None, notes: str) -> None:  # fmt: skip
        cores = r.get("cores", {})
        print(
            f"{label:<26}{rate:>10,.0f}{rate / ref if ref else 0:>7.3f}{fmt(r.get('p50_ms')):>9}"
            f"{fmt(r.get('p99_ms')):>9}{fmt(server, '.0%'):>9}{fmt(us):>8}{redis:>7.0%}{fmt(clients, '.0%'):>9}"
            f"{fmt(cores.get('0'), '.0%'):>7}{fmt(cores.get('1'), '.0%'):>7}  {notes}"
        )

    for key in ("raw_before", "raw_after"):
        r = ph[key]
        row(f"raw ceiling ({key[4:]})", r["calls_per_s"], r, None, r["us_redis_per_call"], r["redis_cpu"],
            None, f"driver {r['driver_cpu']:.0%}, limited by {r['limited_by']}")  # fmt: skip
    for label, r in [("e2e peak (closed loop)", ph["peak"])] + [
        (f"e2e {r['rate_token']} ({r['offered_per_s']:,.0f}/s)", r) for r in out["rates"]
    ]:
        notes = "; ".join(r["invalid"] + r["warnings"]) or "ok"
        row(label, r["completed_per_s"], r, r["server_cpu"], r["server_us_per_buy"], r["redis_cpu"],
            r["client_cpu"], notes)  # fmt: skip
    rush = ph["rush"]
    print(f"\nrush: {rush['stock']} units, {out['connect']['opened']} buyers x {rush['attempts_per_buyer']} "
          f"attempts -> {rush['answers']} in {rush['window_s']:.2f}s, p99 {rush['p99_ms']} ms")  # fmt: skip
    print("\nzero oversell (sale state vs ok answers seen):")
    for name in ("raw", "rush", "tput"):
        c = out["checks"][name]
        print(f"  {name:<5} stock {c['stock']:>10,}  available {c['available']:>10,}  reserved {c['reserved']:>8,}"
              f"  sold {c['sold']}  ok answers {c['ok_answers']:>8,}  unanswered {c['unanswered']}  "
              f"-> {'PASS' if c['pass'] else 'FAIL'}")  # fmt: skip
    ratios = out["ratios"]
    print(f"\nraw ceiling {ratios['raw_ceiling_per_s']:,.0f} calls/s (before/after spread {ratios['raw_spread']:.1%});"
          f" e2e peak {ratios['peak_completed_per_s']:,.0f}/s = {ratios['e2e_over_raw']}x raw")  # fmt: skip
    if ratios.get("per_core_ratio") is not None:
        print(f"per core: livehub {ratios['livehub_us_per_buy']} µs CPU per buy, Redis "
              f"{ratios['redis_us_per_call']} µs per buy.lua call: a livehub core completes "
              f"{ratios['per_core_ratio']}x the buys a Redis core takes")  # fmt: skip
    print("goals:")
    for name, g in out["goals"].items():
        value = f" ({g['value']} vs {g['goal']})" if "value" in g else ""
        print(f"  {name:<32} {'MET' if g['met'] else 'NOT MET'}{value}")
    if out["warnings"]:
        print("warnings: " + "; ".join(out["warnings"]))
    gc_seen = out.get("livehub_gc") or {}
    if "full_collections" in gc_seen:
        print(f"livehub full garbage collections: {gc_seen['full_collections']:.0f} (the first at start-up), "
              f"{gc_seen.get('full_seconds', 0) * 1000:.0f} ms in all (gc_full_interval_s: {gc_seen['interval_s']})")
    log = out.get("livehub_log") or {}
    if log.get("warnings_and_errors"):
        print(f"livehub logged {log['warnings_and_errors']} warnings/errors:")
        for what, n in log["kinds"].items():
            print(f"  {n:>6} x {what}")
    for label, r in [("peak", ph["peak"])] + [(r["rate_token"], r) for r in out["rates"]]:
        spy = r.get("py_spy")
        if spy:
            print(f"\npy-spy, {label}: {spy['samples']} samples of the livehub worker ({spy['file']}):")
            for what, share in spy["categories"]:
                print(f"  {share:6.1%}  {what}")
            print("  top functions (self time): " + ", ".join(f"{f} {v:.1%}" for f, v in spy["self"][:8]))


# --- main -------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadtests.flashsale", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )  # fmt: skip
    p.add_argument("--buyers", type=int, default=2000, help="websocket buyers (one user each)")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds of each end-to-end phase")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds driven before each measured window")
    p.add_argument("--workers", type=int, default=1, choices=(1, 2), help="livehub serve --workers")
    p.add_argument("--rates", default="0.5x", help="open-loop rates: '<f>x' = f x the measured peak, or buys/s")
    p.add_argument("--window", type=int, default=2, help="closed loop: buys outstanding per buyer")
    p.add_argument("--no-venue", action="store_true",
                   help="buyers join no venue (no snapshot, stock or online frames): the buy path alone")  # fmt: skip
    p.add_argument("--client-procs", type=int, default=2, help="client processes")
    p.add_argument("--connect-concurrency", type=int, default=50, help="handshakes in flight per client process")
    p.add_argument("--rush-stock", type=int, default=0, help="stock of the rush sale (per-user limit 1; 0: buyers/2)")
    p.add_argument("--rush-attempts", type=int, default=2, help="buys each buyer sends in the rush")
    p.add_argument("--raw-duration", type=float, default=5.0, help="measured seconds of each raw-ceiling run")
    p.add_argument("--raw-warmup", type=float, default=1.0)
    p.add_argument("--raw-pipelines", type=int, default=4, help="concurrent pipelines of the raw driver")
    p.add_argument("--raw-batch", type=int, default=100, help="EVALSHA per pipeline round trip")
    p.add_argument("--inbound-rate", type=float, default=1e6,
                   help="LIVEHUB_INBOUND_RATE (frames/s per connection; livehub's default is 20)")  # fmt: skip
    p.add_argument("--inbound-burst", type=float, default=1e6, help="LIVEHUB_INBOUND_BURST (default 40)")
    p.add_argument("--admission-rate", type=float, default=1e9,
                   help="LIVEHUB_ADMISSION_RATE (buys/s per sale per node; livehub default 2000)")  # fmt: skip
    p.add_argument("--admission-burst", type=float, default=1e9, help="LIVEHUB_ADMISSION_BURST (default 500)")
    p.add_argument("--drain-timeout", type=float, default=30.0, help="seconds to wait for outstanding buys")
    p.add_argument("--livehub-config", default="config/small.toml")
    p.add_argument("--quiet-wait", type=float, default=30.0, help="wait up to this long for a quiet machine first")
    p.add_argument("--no-pin", action="store_true", help="pin nothing (always so with --workers 2)")
    p.add_argument("--py-spy", metavar="FILE", help="record the livehub worker with py-spy during the peak")
    p.add_argument("--json-out", metavar="FILE", help="write every figure as JSON")
    args = p.parse_args(argv)
    args.rush_stock = args.rush_stock or max(1, args.buyers // 2)
    if args.buyers < 1 or args.duration <= 0 or args.window < 1 or args.client_procs < 1:
        p.error("--buyers, --duration, --window and --client-procs must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_nofile_limit()
    if args.workers == 1 and not args.no_pin:
        os.sched_setaffinity(0, {AUX_CORE})
    signal.signal(signal.SIGTERM, _exit_on_signal)
    bench = FlashBench(args)
    ok = False
    try:
        out = uvloop.run(bench.run())
        ok = True
    finally:
        bench.stop_all(keep_logs=not ok)
    print_report(out)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(out, indent=2, default=str))
        print(f"\nJSON: {args.json_out}")
    return 0 if out["checks"].get("zero_oversell") else 1


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
