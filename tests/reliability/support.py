"""What the fault tests share: a redis-server of their own (they pause, kill and restart it),
livehub nodes on it with short reliability bounds, and helpers over HTTP and websockets.

Every process is started here and stopped by PID; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from livehub.client import Client
from livehub.runtime.embedded_redis import redis_server_binary
from tests.conftest import LivehubProcess, free_port, host_token, viewer_token
from tests.conftest import api as api  # re-exported for the fault tests
from tests.conftest import new_sale as new_sale
from tests.conftest import sale_state as sale_state

# short bounds so that faults show within seconds (docs/operations.md has the defaults)
FAULT_ENV = {
    "LIVEHUB_REDIS_SOCKET_TIMEOUT_S": "3",
    "LIVEHUB_REDIS_CONNECT_TIMEOUT_S": "1",
    "LIVEHUB_REDIS_HEALTH_CHECK_S": "1",
    "LIVEHUB_REDIS_POOL_TIMEOUT_S": "2",
    "LIVEHUB_POSITION_CHECK_INTERVAL_S": "1",
    "LIVEHUB_SWEEP_INTERVAL_S": "0.5",
    "LIVEHUB_ONLINE_INTERVAL_S": "0.5",
    "LIVEHUB_MAX_CONNECTIONS_PER_IP": "100000",  # every test client is 127.0.0.1 (crowds of hundreds)
}


def _binary() -> str:
    return "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else redis_server_binary()


class OwnRedis:
    """A redis-server on a free loopback port with a data directory of its own; ``aof`` turns
    on appendonly (fsync always, so that what it acknowledged survives a kill)."""

    def __init__(self, aof: bool = False) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="livehub-redis-")
        self.aof = aof
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> OwnRedis:
        args = [_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", "",
                "--appendonly", "yes" if self.aof else "no", "--appendfsync", "always"]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def pause(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        proc, self.process = self.process, None
        if proc is not None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait(timeout=10)

    def wipe(self) -> None:
        """Remove the data directory's contents (the next start is an empty Redis)."""
        for path in Path(self.dir).rglob("*"):
            if path.is_file():
                path.unlink()

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def node(redis: OwnRedis, prefix: str, **env: str) -> LivehubProcess:
    return LivehubProcess(redis.url, prefix, env={**FAULT_ENV, **env}).start()


def kill_node(server: LivehubProcess) -> None:
    """SIGKILL: no drain, no goodbye."""
    proc, server.process = server.process, None
    if proc is not None:
        proc.kill()
        proc.wait(timeout=10)


async def publish(server: LivehubProcess, venue: str, kind: str, data: Any) -> tuple[int, dict[str, Any]]:
    return await api("POST", f"{server.http}/api/venues/{venue}/events", {"kind": kind, "data": data},
                     host_token(f"host-{venue}", venue))  # fmt: skip


async def viewer(server: LivehubProcess, venue: str = "b1", user: str | None = None) -> Client:
    client = await Client.connect(server.ws, viewer_token(user or "u-" + uuid.uuid4().hex[:8]), venue=venue)
    try:
        await client.wait_for("snapshot", timeout=15)
    except Exception as exc:
        raise AssertionError(f"no snapshot ({exc!r}); the node's log:\n{server.log()[-1500:]}") from exc
    return client


async def ready(server: LivehubProcess) -> int:
    status, _ = await api("GET", f"{server.http}/readyz")
    return status


async def eventually(check: Any, what: str, timeout: float = 20.0, every: float = 0.2) -> Any:
    """Await ``check()`` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
        except Exception as exc:  # a node still recovering answers errors meanwhile
            last = exc
        if last and not isinstance(last, Exception):
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def events_of(client: Client, kind: str | None = None) -> list[dict[str, Any]]:
    """Event frames received and not yet read (drains the client's queue)."""
    return [f for f in client.drain() if f.get("type") == "event" and (kind is None or f.get("kind") == kind)]
