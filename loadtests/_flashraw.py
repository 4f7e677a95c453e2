"""The raw ceiling of the flash-sale benchmark: buy.lua driven directly on Redis, pipelined.

One process (pinned to the core livehub uses, idle meanwhile) runs ``pipelines``
concurrent pipelines, each on its own connection; each sends ``batch`` EVALSHA calls of the
very script livehub runs for a buy (livehub/lua/buy.lua, loaded as
``livehub.store.scripts`` loads it, with the keys and arguments ``SaleStore.buy``
passes for a plain buy: no coupon, no guide, warehouse delivery), waits for all
the answers, and starts again.  The driver packs with hiredis and reads with
hiredis's reader on a bare asyncio stream (no redis-py client per call), so
that Redis, not the driver, bounds the ceiling: with redis-py pipelines the
driver itself used ~40-60 µs of CPU per call, as much as Redis, and on a
slower machine it, not Redis, set the reference.  Each call is
a new request id of a user cycling through a pool far larger than the calls any
user makes (so per-user limits never answer first): every call takes one unit
of the sale's (large) stock, the most expensive path of the script.

It counts answered calls by status, and reads its own CPU and Redis's CPU
(``/proc/<pid>/stat``) and the time Redis waited for a CPU (``/proc/<pid>/schedstat``)
at the edges of the measured window.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import uvloop

from loadtests._targets import CLK_TCK, core_times, proc_cpu_ticks
from loadtests._wsclient import run_delay_seconds


@dataclass
class RawSpec:
    redis_url: str
    redis_pid: int
    sale_id: str
    prefix: str  # request ids are "<prefix><pipeline>.<seq>"
    warmup: float
    duration: float
    pipelines: int = 4
    batch: int = 100
    users: int = 50_000
    redis_prefix: str = "lh"
    events_maxlen: int = 10_000  # SaleStore's default
    core: int | None = None


def raw_main(spec: RawSpec, conn: Connection) -> None:
    """Entry point of the driver process: run once, send the result over ``conn``."""
    if spec.core is not None:
        os.sched_setaffinity(0, {spec.core})
    try:
        result = uvloop.run(_drive(spec))
    except Exception as exc:  # reported to the harness, which fails the run
        result = {"error": f"{type(exc).__name__}: {exc}"}
    conn.send(result)
    conn.close()


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def proc_run_delay(pid: int) -> float:
    """Seconds the main thread of ``pid`` spent runnable but waiting for a CPU (/proc/<pid>/schedstat)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


async def _open(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A bare connection to the benchmark's Redis (``unix://path`` or ``redis://host:port``, no auth)."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    if parsed.scheme == "unix":
        return await asyncio.open_unix_connection(parsed.path)
    return await asyncio.open_connection(parsed.hostname or "127.0.0.1", parsed.port or 6379)


async def _drive(spec: RawSpec) -> dict[str, Any]:
    import hiredis
    import redis.asyncio as aioredis

    from livehub.domain.sale_rules import reservation_id
    from livehub.store.keys import Keys
    from livehub.store.scripts import lua_source

    redis = aioredis.Redis.from_url(spec.redis_url)
    keys = Keys(spec.redis_prefix)
    # EVALSHA of the script livehub loads (livehub.store.scripts), loaded once here
    sha = await redis.script_load(lua_source("buy"))
    sid = spec.sale_id
    sale_keys = [keys.sale_spec(sid), keys.sale_stock(sid), keys.sale_counts(sid), keys.sale_users(sid),
                 keys.sale_deadlines(sid), keys.sale_events(sid)]  # fmt: skip
    answers: dict[str, int] = {}
    done = 0
    running = True

    async def pipeline(p: int) -> None:
        nonlocal done
        seq = 0
        reader, writer = await _open(spec.redis_url)
        parser = hiredis.Reader()
        try:
            while running:
                packed = []
                for _ in range(spec.batch):
                    seq += 1
                    user = f"raw-u{(seq * spec.pipelines + p) % spec.users}"
                    request_id = f"{spec.prefix}{p}.{seq}"
                    rid = reservation_id(sid, user, request_id)
                    # SaleStore.buy's keys and arguments for a plain buy (no coupon, no guide, nothing to route)
                    packed.append(hiredis.pack_command((
                        "EVALSHA", sha, 8, *sale_keys, keys.reservation(sid, rid), keys.sale_user_reservations(sid),
                        user, request_id, rid, 1, "", spec.events_maxlen, "", 0, 0, "", "", "1",
                    )))  # fmt: skip
                writer.write(b"".join(packed))
                replies: list[Any] = []
                while len(replies) < spec.batch:
                    reply = parser.gets()
                    if reply is False:
                        data = await reader.read(1 << 16)
                        if not data:
                            raise ConnectionError("Redis closed the connection")
                        parser.feed(data)
                        continue
                    if isinstance(reply, hiredis.ReplyError):
                        raise RuntimeError(f"buy.lua failed: {reply}")
                    replies.append(reply)
                for reply in replies:
                    code = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
                    answers[code] = answers.get(code, 0) + 1
                done += len(replies)
        finally:
            writer.close()

    try:
        await redis.ping()
        tasks = [asyncio.create_task(pipeline(p)) for p in range(spec.pipelines)]
        await asyncio.sleep(spec.warmup)
        first = (time.monotonic(), done, dict(answers), _cpu(), proc_cpu_ticks(spec.redis_pid),
                 proc_run_delay(spec.redis_pid), run_delay_seconds(), core_times())  # fmt: skip
        await asyncio.sleep(spec.duration)
        last = (time.monotonic(), done, dict(answers), _cpu(), proc_cpu_ticks(spec.redis_pid),
                proc_run_delay(spec.redis_pid), run_delay_seconds(), core_times())  # fmt: skip
        running = False
        await asyncio.gather(*tasks)
    finally:
        await redis.aclose()
    secs = last[0] - first[0]
    return {
        "t0": first[0],
        "t1": last[0],
        "secs": secs,
        "calls": last[1] - first[1],
        "calls_per_s": (last[1] - first[1]) / secs,
        "answers_window": {k: v - first[2].get(k, 0) for k, v in last[2].items()},
        "answers_total": answers,  # every call of the run, warm-up and tail included
        "calls_total": done,
        "driver_cpu": (last[3] - first[3]) / secs,
        "redis_cpu": (last[4] - first[4]) / CLK_TCK / secs,
        "redis_run_wait": (last[5] - first[5]) / secs,  # s/s Redis was runnable but waited for a CPU
        "driver_run_wait": (last[6] - first[6]) / secs,
        "cores_first": first[7],
        "cores_last": last[7],
    }
