"""livehub.web.edge: the websocket's Origin check and its connection counts per IP and per identity --
the rules as pure functions, then over real websockets on real ``livehub serve`` processes."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from livehub import errors
from livehub.domain.quotas import Quotas
from livehub.domain.tokens import Identity
from livehub.settings import Settings
from livehub.web.edge import admit, client_ip, origin_allowed
from tests.conftest import HUB_ENV, LivehubProcess, running, viewer_token

# ---- the rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "ok"),
    [
        (None, "shop.example", "", True),  # a native app sends no Origin
        ("https://shop.example", "shop.example", "", True),  # same host as the page
        ("http://127.0.0.1:8000", "127.0.0.1:8000", "", True),
        ("https://shop.example", "shop.example:443", "", True),  # default port spelled out
        ("https://evil.example", "shop.example", "", False),
        ("http://shop.example:9000", "shop.example:8000", "", False),
        ("null", "shop.example", "", False),  # a sandboxed page or a file
        ("https://shop.example", None, "", False),
        ("https://app.example", "api.example", "https://app.example, https://m.example", True),
        ("https://APP.example/", "api.example", "https://app.example", True),
        ("https://api.example", "api.example", "https://app.example", False),  # a list replaces the default
        ("https://anything.example", "api.example", "*", True),
        ("not an origin", "api.example", "https://app.example", False),
    ],
)
def test_origin_rule(origin: str | None, host: str | None, allowed: str, ok: bool) -> None:
    assert origin_allowed(origin, host, allowed) is ok


def test_the_client_ip_is_the_peer_unless_a_proxy_is_trusted() -> None:
    scope = {"client": ("10.0.0.9", 5555)}
    headers = {"x-forwarded-for": "1.1.1.1, 203.0.113.7"}
    assert client_ip(scope, headers, trust_forwarded_for=False) == "10.0.0.9"
    assert client_ip(scope, headers, trust_forwarded_for=True) == "203.0.113.7"  # the entry the proxy added
    assert client_ip(scope, {}, trust_forwarded_for=True) == "10.0.0.9"


def scope_from(ip: str, origin: str | None = None) -> dict[str, Any]:
    headers = [(b"host", b"shop.example")] + ([(b"origin", origin.encode())] if origin else [])
    return {"client": (ip, 1234), "headers": headers}


def test_a_ticket_counts_once_and_releases_once() -> None:
    settings = Settings(max_connections_per_identity=2, max_connections_per_ip=3)
    quotas = Quotas.from_settings(settings)
    user = Identity("u1", "viewer")
    first, second = (admit(quotas, settings, scope_from("10.0.0.1"), user) for _ in range(2))
    assert first.refused is None and second.refused is None and first.key == "u1"
    third = admit(quotas, settings, scope_from("10.0.0.2"), user)  # another address, same identity
    assert third.refused is not None and third.refused[0] == errors.CLOSE_TOO_MANY
    assert quotas.per_ip.count("10.0.0.2") == 0  # a refused ticket holds nothing
    first.release()
    first.release()  # a second release gives nothing back twice
    assert quotas.per_identity.count("u1") == 1 and quotas.per_ip.count("10.0.0.1") == 1
    third.release()  # refused: nothing to give back
    assert quotas.per_identity.count("u1") == 1


def test_anonymous_viewers_count_per_ip_only() -> None:
    settings = Settings(max_connections_per_identity=1, max_connections_per_ip=2)
    quotas = Quotas.from_settings(settings)
    anonymous = Identity("", "anonymous")
    tickets = [admit(quotas, settings, scope_from("10.0.0.1"), anonymous) for _ in range(3)]
    assert [t.refused is None for t in tickets] == [True, True, False]
    assert tickets[0].key == "ip 10.0.0.1"
    assert len(quotas.per_identity) == 0


def test_a_foreign_origin_is_refused_before_anything_is_counted() -> None:
    settings = Settings()
    quotas = Quotas.from_settings(settings)
    ticket = admit(quotas, settings, scope_from("10.0.0.1", "https://evil.example"), Identity("u1", "viewer"))
    assert ticket.refused is not None and ticket.refused[0] == errors.CLOSE_FORBIDDEN
    assert len(quotas.per_ip) == len(quotas.per_identity) == 0


# ---- over real websockets -------------------------------------------------------------------------

PER_IDENTITY = 2
PER_IP = 4


@pytest.fixture(scope="module")
def edge_server(redis_url: str) -> Iterator[LivehubProcess]:
    env = {**HUB_ENV, "LIVEHUB_MAX_CONNECTIONS_PER_IDENTITY": str(PER_IDENTITY),
           "LIVEHUB_MAX_CONNECTIONS_PER_IP": str(PER_IP)}  # fmt: skip
    with running(redis_url, "ed" + uuid.uuid4().hex[:8], env) as server:
        yield server


@pytest.fixture(scope="module")
def proxied_server(redis_url: str) -> Iterator[LivehubProcess]:
    """Behind a (pretend) proxy: X-Forwarded-For trusted, one connection per IP, one allowed origin."""
    env = {**HUB_ENV, "LIVEHUB_TRUST_FORWARDED_FOR": "true", "LIVEHUB_MAX_CONNECTIONS_PER_IP": "1",
           "LIVEHUB_ALLOWED_ORIGINS": "https://shop.example"}  # fmt: skip
    with running(redis_url, "ep" + uuid.uuid4().hex[:8], env) as server:
        yield server


@contextlib.asynccontextmanager
async def opened(server: LivehubProcess, user: str, venue: str | None = None, origin: str | None = None,
                 headers: dict[str, str] | None = None) -> AsyncIterator[ClientConnection | int]:
    """The open connection (its welcome read), or the close code it was refused with."""
    url = f"{server.ws}/ws?token={viewer_token(user)}" + (f"&venue={venue}" if venue else "")
    async with connect(url, origin=origin, additional_headers=headers, compression=None) as ws:  # type: ignore[arg-type]
        first = orjson.loads(await ws.recv())
        if first["type"] == "welcome":
            yield ws
            return
        assert first["type"] == "error", first
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(10):
                await ws.recv()
        assert ws.close_code is not None
        assert first["code"] == errors.close_error_code(ws.close_code), first
        yield ws.close_code




async def test_a_browser_page_of_another_site_is_refused_with_4003_and_same_site_or_no_origin_connect(
    edge_server: LivehubProcess,
) -> None:
    async with opened(edge_server, "u-o1", origin="https://evil.example") as refused:
        assert refused == errors.CLOSE_FORBIDDEN
    async with opened(edge_server, "u-o1", origin=f"http://127.0.0.1:{edge_server.port}") as same_site:
        assert not isinstance(same_site, int)
    async with opened(edge_server, "u-o2") as native_app:
        assert not isinstance(native_app, int)


async def test_one_identity_beyond_its_connection_limit_is_refused_with_4029_until_one_closes(
    edge_server: LivehubProcess,
) -> None:
    user = "u-many-" + uuid.uuid4().hex[:6]
    async with contextlib.AsyncExitStack() as stack:
        held = [await stack.enter_async_context(opened(edge_server, user)) for _ in range(PER_IDENTITY)]
        assert not any(isinstance(ws, int) for ws in held)
        async with opened(edge_server, user) as extra:
            assert extra == errors.CLOSE_TOO_MANY
        async with opened(edge_server, "u-other-" + uuid.uuid4().hex[:6]) as other:
            assert not isinstance(other, int)  # another identity still connects
        assert isinstance(held[0], ClientConnection)
        await held[0].close()
        for _ in range(50):  # the node sees the close soon after; never a timed assert, just a bounded wait
            async with opened(edge_server, user) as again:
                if not isinstance(again, int):
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the closed connection's count was never given back")


async def test_a_connection_that_ends_during_its_join_gives_its_counts_back(
    edge_server: LivehubProcess, redis: aioredis.Redis
) -> None:
    user = "u-join-" + uuid.uuid4().hex[:6]
    await redis.client_pause(2_000, all=False)  # hold the joins' Redis writes: the clients leave meanwhile
    try:
        for _ in range(PER_IDENTITY):
            url = f"{edge_server.ws}/ws?token={viewer_token(user)}&venue=b1"
            async with connect(url, compression=None) as ws:
                assert orjson.loads(await ws.recv())["type"] == "welcome"
    finally:
        await redis.client_unpause()
    for _ in range(100):
        async with contextlib.AsyncExitStack() as stack:
            now = [await stack.enter_async_context(opened(edge_server, user)) for _ in range(PER_IDENTITY)]
            if not any(isinstance(ws, int) for ws in now):
                return
        await asyncio.sleep(0.05)
    raise AssertionError("connections that left during their join still count")


async def test_one_address_beyond_its_connection_limit_is_refused_loopback_included(
    edge_server: LivehubProcess,
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        held = []
        for i in range(PER_IP + 2):
            held.append(await stack.enter_async_context(opened(edge_server, f"u-ip{i}-" + uuid.uuid4().hex[:6])))
            if isinstance(held[-1], int):
                break
        assert held[-1] == errors.CLOSE_TOO_MANY
        assert sum(not isinstance(ws, int) for ws in held) <= PER_IP  # other tests' connections may still count


async def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_limit(proxied_server: LivehubProcess) -> None:
    origin = "https://shop.example"
    async with (
        opened(proxied_server, "u-p1", origin=origin, headers={"X-Forwarded-For": "203.0.113.1"}) as a,
        opened(proxied_server, "u-p2", origin=origin, headers={"X-Forwarded-For": "203.0.113.2"}) as b,
        opened(proxied_server, "u-p3", origin=origin, headers={"X-Forwarded-For": "9.9.9.9, 203.0.113.1"}) as c,
    ):
        assert not isinstance(a, int) and not isinstance(b, int)
        assert c == errors.CLOSE_TOO_MANY  # the proxy saw 203.0.113.1 again
    async with opened(proxied_server, "u-p4", origin=f"http://127.0.0.1:{proxied_server.port}") as own_host:
        assert own_host == errors.CLOSE_FORBIDDEN  # the configured list replaces the same-host default


# ---- the HTTP body cap holds against a huge chunked body ------------------------------------------


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_200_mb_chunked_post_is_refused_with_413_and_connection_close_without_the_node_growing(
    livehub_server: LivehubProcess,
) -> None:
    import socket

    assert livehub_server.process is not None
    pid = livehub_server.process.pid
    before = rss_bytes(pid)
    piece = 65_536
    chunk = b"%x\r\n" % piece + b"x" * piece + b"\r\n"
    head = (b"POST /api/auth/host HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
    answer = b""
    sent = 0
    with socket.create_connection(("127.0.0.1", livehub_server.port), timeout=10) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        while sent < 200 * 1024 * 1024 and b"\r\n\r\n" not in answer:
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                answer += sock.recv(65_536)
            except BlockingIOError:
                pass
            except ConnectionResetError:
                break
        sock.setblocking(True)
        sock.settimeout(10)
        try:
            while b"\r\n\r\n" not in answer:
                more = sock.recv(65_536)
                if not more:
                    break
                answer += more
        except (ConnectionResetError, TimeoutError):
            pass
    grown = rss_bytes(pid) - before
    status_line, _, rest = answer.partition(b"\r\n")
    headers = rest.partition(b"\r\n\r\n")[0].lower()
    assert status_line.split()[1:2] == [b"413"], answer[:500]
    assert b"connection: close" in headers, headers
    assert sent < 200 * 1024 * 1024  # refused long before the end: the node never read it all
    assert grown < 32 * 1024 * 1024, grown
