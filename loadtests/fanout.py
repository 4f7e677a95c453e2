"""Fan-out benchmark: one venue, S viewers, fixed publish rates, livehub next to a reference server.

    python -m loadtests.fanout [--viewers 5000] [--rates 8,20,40,80] [--duration 10] [--warmup 3]
                               [--codec json|msgpack] [--servers livehub,reference] [--json-out FILE]

For each server, in the same run and with the same clients: start it pinned to
the server core, connect the viewers (lean raw-asyncio clients in several
processes pinned to the other core), then for each rate publish at that rate,
wait ``--warmup`` seconds and measure for ``--duration`` seconds:

* delivered event frames per second (summed over every viewer);
* p50 / p99 latency ``now - data["t0"]`` over the sampled viewers (1 in ``--sample-every``);
* server CPU (utime + stime of the server's processes from /proc) per delivered
  event, in µs, and the server's CPU utilisation; Redis CPU separately;
* the load generator's CPU and the busy share of its core: the run is flagged
  invalid when that core is saturated (the clients, not the server, would be measured).

Every figure is also given as a ratio against the first ``reference`` server of
the run: machines are shared and noisy, ratios measured side by side are what
compare.  docs/performance.md explains the method and how to read the output.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

import uvloop

from loadtests._targets import (
    CLK_TCK,
    REPO,
    TARGETS,
    ClientProcess,
    Publisher,
    Target,
    core_times,
    percentile,
    proc_comm,
    proc_cpu_ticks,
    proc_run_delay,
    wait_quiet,
)
from loadtests._wsclient import WorkerSpec, raise_nofile_limit, worker_main

SATURATED = 0.90  # a core busier than this is saturated
STARVED = 0.10  # share of the time the server waited, runnable, for its core beyond which it is flagged
NOISY = 0.25  # CPU (in cores) used by processes outside the benchmark beyond which a result is flagged


# --- measurements ---------------------------------------------------------------------------------------


def find_ksoftirqd(core: int | None) -> int | None:
    """PID of the kernel thread ``ksoftirqd/<core>``: under load, the kernel hands softirq work (for
    loopback TCP, the receive side of what the server sends) to it instead of doing it in the server's
    context, so that CPU is not in the server's utime + stime."""
    if core is None:
        return None
    for entry in os.listdir("/proc"):
        if entry.isdigit() and proc_comm(int(entry)) == f"ksoftirqd/{core}":
            return int(entry)
    return None


@dataclass
class Snapshot:
    t: float
    workers: list[dict[str, Any]]
    server_ticks: int
    redis_ticks: int
    server_wait: float  # run-queue wait of the server's processes, seconds
    softirq_ticks: int  # ksoftirqd on the server's core: loopback receive work the server's sends caused
    cores: dict[int, tuple[int, int]]
    harness_cpu: float
    publisher: dict[str, int]

    def total(self, key: str) -> int:
        return sum(int(w[key]) for w in self.workers)


# --- client processes -----------------------------------------------------------------------------------


# --- one server -----------------------------------------------------------------------------------------


@dataclass
class ServerRun:
    label: str  # name, "#k" for its k-th occurrence in --servers, "@r" for round r when there are several
    kind: str
    name: str = ""  # label without the round
    round: int = 1
    connect: dict[str, Any] = field(default_factory=dict)
    rates: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def at(self, rate: float) -> dict[str, Any] | None:
        return next((r for r in self.rates if r["rate"] == rate), None)


class Bench:
    def __init__(self, args: argparse.Namespace, target: Target, label: str) -> None:
        self.args = args
        self.target = target
        name, _, rnd = label.partition("@")
        self.run = ServerRun(label=label, kind=target.name, name=name, round=int(rnd or 1))
        self.workers: list[ClientProcess] = []
        self.publisher: Publisher | None = None
        self.viewers_open = 0
        self.backlog = 0  # deliveries still pending when the previous rate's drain gave up
        self.ksoftirqd = find_ksoftirqd(args.server_core)

    async def snapshot(self, take_latencies: bool) -> Snapshot:
        pending = [w.call("mark", take_latencies) for w in self.workers]
        pids = self.target.cpu_pids()
        t = time.monotonic()
        server_ticks = sum(proc_cpu_ticks(p) for p in pids["server"])
        redis_ticks = sum(proc_cpu_ticks(p) for p in pids["redis"])
        server_wait = sum(proc_run_delay(p) for p in pids["server"])
        softirq_ticks = proc_cpu_ticks(self.ksoftirqd) if self.ksoftirqd else 0
        cores = core_times()
        tms = os.times()
        pub = self.publisher.counters() if self.publisher else {}
        marks = await asyncio.gather(*pending)
        return Snapshot(
            t, list(marks), server_ticks, redis_ticks, server_wait, softirq_ticks, cores, tms.user + tms.system, pub
        )

    async def start_clients(self) -> None:
        args = self.args
        paths = self.target.viewer_paths(args.viewers)
        ctx = multiprocessing.get_context("spawn")
        procs = max(1, min(args.client_procs, args.viewers))
        sampled = [i for i in range(args.viewers) if args.sample_every and i % args.sample_every == 0]
        sampled_set = set(sampled)
        counting = [i for i in range(args.viewers) if not (args.sample_every and i % args.sample_every == 0)]
        # One process holds the latency-sampling viewers and reads at once; the others only count, and
        # read in batches (--read-interval) so that a read returns several frames.
        groups: list[tuple[list[int], float]] = []
        if procs == 1:
            groups.append((list(range(args.viewers)), 0.0))
        else:
            groups.append((sampled, 0.0))
            groups += [(counting[k :: procs - 1], args.read_interval) for k in range(procs - 1)]
        for idx, interval in groups:
            if not idx:
                continue
            spec = WorkerSpec(
                host=args.host,
                port=self.target.port,
                paths=[paths[i] for i in idx],
                subprotocol=self.target.subprotocol,
                codec=args.codec,
                sampled=[i in sampled_set for i in idx],
                core=args.client_core,
                concurrency=args.connect_concurrency,
                read_interval=interval,
                count_mode=args.count_mode,
            )
            self.workers.append(ClientProcess(ctx, worker_main, spec))
        t0 = time.monotonic()
        replies = await asyncio.gather(*(w.call("connect", wait=args.connect_timeout) for w in self.workers))
        opened = sum(r["opened"] for r in replies)
        failed = sum(r["failed"] for r in replies)
        errors = [e for r in replies for e in r["errors"]][:5]
        self.viewers_open = opened
        self.run.connect |= {
            "viewers": args.viewers,
            "opened": opened,
            "failed": failed,
            "errors": errors,
            "secs": round(time.monotonic() - t0, 2),
            "client_procs": procs,
        }
        print(
            f"  [{self.run.label}] {opened}/{args.viewers} viewers connected in {self.run.connect['secs']}s"
            + (f", {failed} failed: {errors}" if failed else ""),
            flush=True,
        )
        if opened == 0:
            raise RuntimeError(f"no viewer could connect: {errors}")

    async def measure(self, rate: float, last: bool) -> dict[str, Any]:
        args = self.args
        assert self.publisher is not None
        pub = self.publisher
        pub.start(rate)
        await asyncio.sleep(args.warmup)
        a = await self.snapshot(take_latencies=True)  # drops the warm-up's latency samples
        await asyncio.sleep(args.duration)
        b = await self.snapshot(take_latencies=True)
        await pub.stop()
        result = self.compute(rate, a, b)
        if self.backlog:
            result["warnings"].append(f"started with {self.backlog} deliveries of the previous rate pending")
        self.backlog = 0
        saturated = result["delivery_ratio"] is not None and result["delivery_ratio"] < 0.9
        if not last and saturated:
            # The backlog would take longer to drain than the next measurement, and every higher rate
            # saturates the server too (its deliveries/s, the capacity, does not depend on the backlog).
            self.backlog = await self.pending()
            result["drain_s"] = 0.0
        elif not last:
            result["drain_s"], self.backlog = await self.drain()
        return result

    async def pending(self) -> int:
        assert self.publisher is not None
        marks = await asyncio.gather(*(w.call("mark", False) for w in self.workers))
        return max(0, self.publisher.published * self.viewers_open - sum(m["events"] for m in marks))

    async def drain(self) -> tuple[float, int]:
        """Wait until every published event reached every viewer, deliveries stop progressing, or
        ``--drain-timeout``; return the seconds waited and the deliveries still pending."""
        assert self.publisher is not None
        t0 = time.monotonic()
        expected = self.publisher.published * self.viewers_open
        last, still_since, total = -1, t0, 0
        while time.monotonic() - t0 < self.args.drain_timeout:
            marks = await asyncio.gather(*(w.call("mark", False) for w in self.workers))
            total = sum(m["events"] for m in marks)
            if total >= expected:
                break
            now = time.monotonic()
            if total != last:
                last, still_since = total, now
            elif now - still_since > 2.0:
                break
            await asyncio.sleep(0.25)
        await asyncio.sleep(0.5)
        return round(time.monotonic() - t0, 2), max(0, expected - total)

    def compute(self, rate: float, a: Snapshot, b: Snapshot) -> dict[str, Any]:
        args = self.args
        window = b.t - a.t
        # Each client process's counters come with its own timestamp (same monotonic clock): rates are
        # summed per process, over that process's window.
        per_s = sum(
            (wb["events"] - wa["events"]) / max(1e-9, wb["t"] - wa["t"])
            for wa, wb in zip(a.workers, b.workers, strict=True)
        )
        delivered = round(per_s * window)
        other = b.total("other") - a.total("other")
        reads = b.total("reads") - a.total("reads")
        published = b.publisher["published"] - a.publisher["published"]
        server_s = (b.server_ticks - a.server_ticks) / CLK_TCK
        redis_s = (b.redis_ticks - a.redis_ticks) / CLK_TCK
        softirq_s = (b.softirq_ticks - a.softirq_ticks) / CLK_TCK
        client_s = sum(wb["cpu"] - wa["cpu"] for wa, wb in zip(a.workers, b.workers, strict=True))
        harness_s = b.harness_cpu - a.harness_cpu
        waits = [wb["run_delay"] - wa["run_delay"] for wa, wb in zip(a.workers, b.workers, strict=True)]
        lat_wait = sum(w for w, wb in zip(waits, b.workers, strict=True) if wb["sampled"])
        cores: dict[str, float] = {}
        for core, (busy, total) in b.cores.items():
            busy0, total0 = a.cores[core]
            cores[str(core)] = round((busy - busy0) / max(1, total - total0), 3)
        lats = array("d")
        for w in b.workers:
            lats.frombytes(w["lat"])
        lat_sorted = sorted(lats)
        expected = published * self.viewers_open
        client_core_busy = cores.get(str(args.client_core)) if args.client_core is not None else None
        invalid: list[str] = []
        if client_core_busy is not None and client_core_busy >= SATURATED:
            invalid.append(f"load-generator core {args.client_core} {client_core_busy:.0%} busy")
        if client_s / window >= SATURATED:
            invalid.append(f"client processes use {client_s / window:.0%} of a core")
        warnings: list[str] = []
        closed = b.total("closed")
        if closed:
            warnings.append(f"{closed} viewers disconnected")
        skipped = b.publisher["skipped"] - a.publisher["skipped"]
        errors = b.publisher["errors"] - a.publisher["errors"]
        foreign = sum(cores.values()) - (server_s + softirq_s + redis_s + client_s + harness_s) / window
        if foreign > NOISY:
            warnings.append(f"noisy machine: other processes used {foreign:.0%} of a core")
        server_core_busy = cores.get(str(args.server_core)) if args.server_core is not None else None
        server_wait = (b.server_wait - a.server_wait) / window
        # Waiting behind ksoftirqd (the server's own kernel work) is not starvation: other processes must be there.
        if server_wait > STARVED and foreign > STARVED:
            warnings.append(
                f"server starved: it waited for its core {server_wait:.0%} of the time "
                "(deliveries/s and latency understate it; CPU per delivery holds)"
            )
        sends: list[float] = []
        if self.publisher is not None:
            sends = sorted(self.publisher.send_seconds[a.publisher["sends"] : b.publisher["sends"]])
        if skipped or errors or published < 0.95 * rate * window:
            warnings.append(
                f"publisher did not hold the rate ({published / window:.1f}/s, {skipped} skipped, {errors} errors; "
                f"a publish took up to {max(sends, default=0.0) * 1000:.0f} ms"
                + (f"; first errors: {self.publisher.error_samples[:2]})" if errors and self.publisher else ")")
            )

        def ms(v: float | None) -> float | None:
            return None if v is None else round(v * 1000.0, 2)

        return {
            "rate": rate,
            "window_s": round(window, 3),
            "published": published,
            "published_per_s": round(published / window, 2),
            "viewers": self.viewers_open,
            "delivered": delivered,
            "deliveries_per_s": round(delivered / window, 1),
            "delivery_ratio": round(delivered / expected, 4) if expected else None,
            "other_frames_per_s": round(other / window, 1),
            "frames_per_read": round((delivered + other) / reads, 2) if reads else None,
            "latency_samples": len(lat_sorted),
            "p50_ms": ms(percentile(lat_sorted, 50)),
            "p99_ms": ms(percentile(lat_sorted, 99)),
            "max_ms": ms(lat_sorted[-1] if lat_sorted else None),
            "server_cpu_s": round(server_s, 3),
            "server_util": round(server_s / window, 3),
            "server_runq_wait": round(server_wait, 3),
            "server_softirq_util": round(softirq_s / window, 3),
            "server_us_per_delivery_with_softirq": (
                round((server_s + softirq_s) * 1e6 / delivered, 3) if delivered else None
            ),
            "server_us_per_delivery": round(server_s * 1e6 / delivered, 3) if delivered else None,
            "redis_util": round(redis_s / window, 3),
            "client_util": round(client_s / window, 3),
            "client_us_per_delivery": round(client_s * 1e6 / delivered, 3) if delivered else None,
            "client_runq_wait": round(sum(waits) / window, 3),
            "latency_proc_runq_wait": round(lat_wait / window, 3),
            "publisher_util": round(harness_s / window, 3),
            "publish_p50_ms": ms(percentile(sends, 50)),
            "publish_p99_ms": ms(percentile(sends, 99)),
            "core_busy": cores,
            "server_core_busy": server_core_busy,
            "client_core_busy": client_core_busy,
            # CPU used on this machine by processes that are not part of the benchmark (noise)
            "foreign_util": round(foreign, 3),
            "client_core_headroom": round(1.0 - client_core_busy, 3) if client_core_busy is not None else None,
            "valid": not invalid,
            "invalid_reasons": invalid,
            "warnings": warnings,
        }

    async def execute(self) -> ServerRun:
        args = self.args
        label = self.run.label
        try:
            if args.quiet_wait > 0:
                load = await wait_quiet(args.quiet_wait, args.quiet_threshold)
                self.run.connect["idle_load_before"] = round(load, 3)
                note = "" if load < args.quiet_threshold else f" (still busy after {args.quiet_wait:g}s)"
                print(f"[{label}] machine load before start: {load:.2f} cores{note}", flush=True)
            print(f"[{label}] starting {self.target.name} on port {self.target.port}", flush=True)
            self.target.start()  # blocks the loop: nothing else runs yet
            pids = self.target.cpu_pids()
            print(f"  [{label}] server pids {pids['server']}, redis pids {pids['redis']}", flush=True)
            await self.start_clients()
            await asyncio.sleep(args.settle)
            self.publisher = self.target.publisher()
            await self.publisher.open()
            for i, rate in enumerate(args.rates):
                res = await self.measure(rate, last=i == len(args.rates) - 1)
                self.run.rates.append(res)
                print("  " + format_row(label, res), flush=True)
        except Exception as exc:
            self.run.error = f"{type(exc).__name__}: {exc}"
            print(f"  [{label}] FAILED: {self.run.error}", flush=True)
        finally:
            await self.cleanup()
        return self.run

    async def cleanup(self) -> None:
        if self.publisher is not None:
            with contextlib.suppress(Exception):
                await self.publisher.aclose()
        await asyncio.gather(*(w.close() for w in self.workers), return_exceptions=True)
        self.workers.clear()
        self.target.stop()


# --- report ---------------------------------------------------------------------------------------------


HEADER = (
    f"{'server':<14} {'ev/s':>5} {'pub/s':>6} {'deliv/s':>8} {'ratio':>6} {'p50 ms':>8} {'p99 ms':>8} "
    f"{'srv CPU':>7} {'us/deliv':>8} {'sirq':>5} {'redis':>5} {'clients':>7} {'cli us':>6} {'srv core':>8} "
    f"{'cli core':>8} {'noise':>5}  valid"
)
LEGEND = (
    "ratio: delivered / (published x viewers); srv CPU, sirq (ksoftirqd on the server's core), redis, "
    "clients, noise: share of one core "
    "(noise: other processes on the machine); cli us: load-generator CPU per delivery; "
    "srv core, cli core: busy share of the server's and the load generator's cores"
)


def _f(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def format_row(label: str, r: dict[str, Any]) -> str:
    return (
        f"{label:<14} {r['rate']:>5g} {r['published_per_s']:>6.1f} {r['deliveries_per_s']:>8.0f} "
        f"{_f(r['delivery_ratio'], '.3f'):>6} {_f(r['p50_ms'], '.1f'):>8} {_f(r['p99_ms'], '.1f'):>8} "
        f"{r['server_util']:>7.0%} {_f(r['server_us_per_delivery'], '.2f'):>8} {r['server_softirq_util']:>5.0%} "
        f"{r['redis_util']:>5.0%} "
        f"{r['client_util']:>7.0%} {_f(r['client_us_per_delivery'], '.2f'):>6} "
        f"{_f(r['server_core_busy'], '.0%'):>8} {_f(r['client_core_busy'], '.0%'):>8} "
        f"{r['foreign_util']:>5.0%}  "
        f"{'yes' if r['valid'] else 'NO: ' + '; '.join(r['invalid_reasons'])}"
        + ("".join(f"  [{w}]" for w in r["warnings"]))
    )


RATIO_KEYS = {
    "cpu_per_delivery": "server_us_per_delivery",
    "p50": "p50_ms",
    "p99": "p99_ms",
    "deliveries_per_s": "deliveries_per_s",
}


def ratios(runs: list[ServerRun], rates: list[float]) -> dict[str, list[dict[str, Any]]]:
    """Per pair "server/reference": one row per round and rate, each server against the first reference
    measured in the same round; with several rounds, rows with ``round: "median"`` summarise them."""
    out: dict[str, list[dict[str, Any]]] = {}
    for rnd in sorted({r.round for r in runs}):
        in_round = [r for r in runs if r.round == rnd]
        base = next((r for r in in_round if r.kind == "reference" and not r.error), None)
        if base is None:
            continue
        for run in in_round:
            if run is base or run.error:
                continue
            for rate in rates:
                x, ref = run.at(rate), base.at(rate)
                if x is None or ref is None:
                    continue
                row: dict[str, Any] = {"round": rnd, "rate": rate}
                for name, key in RATIO_KEYS.items():
                    ok = x.get(key) is not None and ref.get(key)
                    row[name] = round(float(x[key]) / float(ref[key]), 3) if ok else None
                row["valid"] = bool(x["valid"] and ref["valid"])
                out.setdefault(f"{run.name}/{base.name}", []).append(row)
    if len({r.round for r in runs}) > 1:
        for rows in out.values():
            for rate in rates:
                valid = [r for r in rows if r["rate"] == rate and r["valid"]]
                summary: dict[str, Any] = {"round": "median", "rate": rate, "valid": bool(valid)}
                for name in RATIO_KEYS:
                    values = [r[name] for r in valid if r[name] is not None]
                    summary[name] = round(statistics.median(values), 3) if values else None
                summary["rounds"] = len(valid)
                rows.append(summary)
    return out


def print_report(runs: list[ServerRun], rates: list[float], rat: dict[str, list[dict[str, Any]]]) -> None:
    print("\n== fan-out results ==")
    print(LEGEND)
    print(HEADER)
    for run in runs:
        if run.error:
            print(f"{run.label:<14} ERROR {run.error.splitlines()[0]}")
        for r in run.rates:
            print(format_row(run.label, r))
    for run in runs:
        if not run.rates:
            continue
        top = max(run.rates, key=lambda r: r["deliveries_per_s"])
        busiest = max(run.rates, key=lambda r: r["client_core_busy"] or 0.0)
        capacity = top["deliveries_per_s"] / top["client_util"] if top["client_util"] else None
        print(
            f"load generator [{run.label}]: at {top['deliveries_per_s']:.0f} deliveries/s the clients used "
            f"{top['client_util']:.0%} of a core ({_f(top['client_us_per_delivery'], '.2f')} us/delivery, "
            f"~{_f(capacity, '.0f')} deliveries/s per core); its core was at most "
            f"{_f(busiest['client_core_busy'], '.0%')} busy"
        )
    for name, rows in rat.items():
        print(f"\n== ratios {name} (same round; < 1 is better for CPU and p99, > 1 for deliveries/s) ==")
        print(f"{'round':>6} {'ev/s':>6} {'CPU/deliv':>10} {'p50':>7} {'p99':>7} {'deliv/s':>8}  valid")
        for row in rows:
            valid = "yes" if row["valid"] else "NO"
            if row["round"] == "median":
                valid = f"median of {row['rounds']} valid round(s)"
            print(
                f"{row['round']!s:>6} {row['rate']:>6g} {_f(row['cpu_per_delivery'], '.3f'):>10} "
                f"{_f(row['p50'], '.3f'):>7} {_f(row['p99'], '.3f'):>7} {_f(row['deliveries_per_s'], '.3f'):>8}  "
                f"{valid}"
            )


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return out.stdout.strip()
    except OSError:
        return ""


# --- main -----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadtests.fanout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--viewers", type=int, default=5000, help="viewers held in the venue (default 5000)")
    p.add_argument("--rates", default="8,20,40,80", help="publish rates, events/s, comma-separated")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per rate")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds published before each measurement")
    p.add_argument("--codec", choices=("json", "msgpack"), default="json")
    p.add_argument(
        "--servers",
        default="livehub,reference",
        help=f"servers measured one after the other, from {sorted(TARGETS)}; ratios use the first "
        "'reference' as baseline (repeat it, e.g. reference,reference, to check the harness)",
    )
    p.add_argument("--json-out", help="write every figure to this JSON file")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure the --servers sequence this many times; ratios are taken within a round and "
        "their median over the valid rounds is printed (beats a noisy machine)",
    )
    p.add_argument("--client-procs", type=int, default=4, help="client processes (default 4)")
    p.add_argument("--sample-every", type=int, default=50, help="1 viewer in N measures latency")
    p.add_argument(
        "--count-mode",
        choices=("scan", "exact"),
        default="scan",
        help="how counting viewers count event frames: scan the stream for markers (cheap) or walk "
        "every frame header (exact, ~3 µs/frame more client CPU)",
    )
    p.add_argument(
        "--read-interval",
        type=float,
        default=0.25,
        help="seconds a counting client process sleeps between event-loop turns (0: read at once)",
    )
    p.add_argument("--server-core", type=int, default=0, help="core the server is pinned to (-1: none)")
    p.add_argument("--client-core", type=int, default=1, help="core of clients, publisher and Redis (-1: none)")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="before each server, wait up to this many seconds for the machine to be idle (0: don't)",
    )
    p.add_argument(
        "--quiet-threshold", type=float, default=0.15, help="idle means: all cores busy less than this, in cores"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--settle", type=float, default=2.0, help="seconds between connecting and publishing")
    p.add_argument("--drain-timeout", type=float, default=15.0, help="max seconds to let a backlog drain")
    p.add_argument("--connect-timeout", type=float, default=120.0)
    p.add_argument("--connect-concurrency", type=int, default=50, help="handshakes in flight per process")
    p.add_argument("--venue", default="main", help="livehub: venue the viewers join")
    p.add_argument("--livehub-config", default="config/small.toml", help="livehub: --config file")
    p.add_argument("--livehub-exe", default=None, help="livehub: the livehub executable (default: venv's)")
    p.add_argument(
        "--livehub-redis",
        choices=("own", "embedded"),
        default="own",
        help="livehub: 'own' starts a redis-server on the client core and passes LIVEHUB_REDIS_URL; "
        "'embedded' lets livehub start its own (moved to the client core once seen)",
    )
    p.add_argument(
        "--livehub-workers",
        type=int,
        default=1,
        choices=(1, 2, 4),
        help="livehub serve --workers N (the viewers are spread over the workers by the kernel; with more than "
        "one, pass --server-core -1 --client-core -1 so the workers are not all pinned to one core)",
    )
    args = p.parse_args(argv)
    args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for s in args.servers:
        if s not in TARGETS:
            p.error(f"unknown server {s!r}; known: {sorted(TARGETS)}")
    if args.server_core < 0:
        args.server_core = None
    if args.client_core < 0:
        args.client_core = None
    ncpu = os.cpu_count() or 1
    for core in (args.server_core, args.client_core):
        if core is not None and core >= ncpu:
            p.error(f"core {core} does not exist ({ncpu} cores)")
    return args


async def amain(args: argparse.Namespace) -> list[ServerRun]:
    # SIGTERM, like Ctrl-C, cancels the run: every server's clean-up (stop by PID) still happens.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    runs: list[ServerRun] = []
    options = {
        "venue": args.venue,
        "livehub_config": args.livehub_config,
        "livehub_exe": args.livehub_exe,
        "livehub_redis": args.livehub_redis,
        "livehub_workers": args.livehub_workers,
    }
    for rnd in range(1, args.rounds + 1):
        seen: dict[str, int] = {}
        for name in args.servers:
            seen[name] = seen.get(name, 0) + 1
            label = name if seen[name] == 1 else f"{name}#{seen[name]}"
            if args.rounds > 1:
                label += f"@{rnd}"
            target = TARGETS[name](
                host=args.host,
                server_core=args.server_core,
                aux_core=args.client_core,
                codec=args.codec,
                options=options,
            )
            runs.append(await Bench(args, target, label).execute())
            await asyncio.sleep(1.0)
    return runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client_core is not None:
        os.sched_setaffinity(0, {args.client_core})  # the publisher runs here, with the clients
    raise_nofile_limit()
    started = time.time()
    print(
        f"fan-out: {args.viewers} viewers, rates {args.rates} ev/s, "
        f"{args.duration}s (+{args.warmup}s warm-up), "
        f"codec {args.codec}, servers {args.servers}, server core {args.server_core}, "
        f"client core {args.client_core} ({args.client_procs} client processes)",
        flush=True,
    )
    try:
        runs = uvloop.run(amain(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: every process started was stopped", flush=True)
        return 130
    rat = ratios(runs, args.rates)
    print_report(runs, args.rates, rat)
    if args.json_out:
        doc = {
            "meta": {
                "started": started,
                "elapsed_s": round(time.time() - started, 1),
                "commit": git_commit(),
                "host": platform.node(),
                "python": sys.version.split()[0],
                "cpus": os.cpu_count(),
                "args": dict(vars(args)),
            },
            "servers": [vars(r) for r in runs],
            "ratios": rat,
        }
        with open(args.json_out, "w") as f:
            json.dump(doc, f, indent=2)
        print(f"\nwrote {args.json_out}")
    print(f"elapsed {time.time() - started:.0f}s")
    ok = all(not r.error for r in runs) and all(x["valid"] for r in runs for x in r.rates)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
