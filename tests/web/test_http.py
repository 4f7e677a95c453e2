"""The shared HTTP pieces: body integers, the route table (same URLs and methods as before the
split by audience), and the error bodies of the app's handlers."""

from __future__ import annotations

import socket
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from starlette.routing import Route

from livehub import errors
from livehub.app import create_app
from livehub.config import load_festival
from livehub.errors import LivehubError
from livehub.settings import Settings
from livehub.web.http import MAX_BODY, body_int, body_opt_int
from tests.conftest import LivehubProcess, host_token

if TYPE_CHECKING:
    from starlette.testclient import TestClient

SMALL = Path(__file__).resolve().parents[2] / "config" / "small.toml"

API = {
    ("/healthz", "GET"), ("/readyz", "GET"), ("/metrics", "GET"),
    ("/api/auth/host", "POST"), ("/api/auth/guest", "POST"), ("/api/auth/token", "POST"),
    ("/api/festival", "GET"), ("/api/venues/{venue}", "GET"),
    ("/api/venues/{venue}/events", "POST"), ("/api/venues/{venue}/cta", "POST"),
    ("/api/venues/{venue}/cohost", "POST"), ("/api/venues/{venue}/cohost", "DELETE"),
    ("/api/venues/{venue}/cards", "POST"), ("/api/venues/{venue}/cards", "DELETE"),
    ("/api/venues/{venue}/sales", "POST"), ("/api/venues/{venue}/sales/{sale}/{action}", "POST"),
    ("/api/venues/{venue}/coupons", "POST"), ("/api/sales/{sale}", "GET"), ("/api/sales/{sale}/buy", "POST"),
    ("/api/coupons/{coupon}/grab", "POST"), ("/api/reservations/{reservation}/pay", "POST"),
    ("/api/payments/callback", "POST"), ("/api/stores/{store}/orders", "GET"), ("/api/guides/leaderboard", "GET"),
    ("/api/guides/me", "GET"),
    ("/api/admin/festival", "GET"), ("/api/admin/festival", "POST"), ("/api/admin/import/stores", "POST"),
    ("/api/admin/import/guides", "POST"), ("/api/admin/hosts/{host}/key", "POST"),
    ("/api/me/orders", "GET"), ("/api/stores/{store}/pickups", "GET"), ("/api/stores/{store}/pickups/{code}", "POST"),
    ("/api/stores/{store}/stock", "GET"), ("/api/stores/{store}/stock", "POST"), ("/api/auth/staff", "POST"),
    ("/api/venues/{venue}/groupdeals", "POST"), ("/api/groups/{group}", "GET"),
    ("/api/groupdeals/{deal}/groups", "POST"), ("/api/groups/{group}/join", "POST"),
    ("/api/payments/groups", "POST"),
    ("/api/venues/{venue}/stats", "GET"), ("/api/festival/stats", "GET"),
    ("/api/auth/moderator", "POST"), ("/api/venues/{venue}/moderation/{action}", "POST"),
    ("/api/moderation/audit", "GET"),
    ("/api/guides/me/hours", "GET"), ("/api/guides/me/reservations", "GET"), ("/api/guides/me/poster.svg", "GET"),
    ("/api/guides/winners", "GET"), ("/api/auth/guide", "POST"),
    ("/api/presales/{presale}", "GET"), ("/api/venues/{venue}/presales", "POST"), ("/api/venues/{venue}/shelf", "POST"),
    ("/api/venues/{venue}/shelf", "DELETE"), ("/api/presales/{presale}/deposit", "POST"),
    ("/api/payments/presale-callback", "POST"), ("/api/deposits/{deposit}/pay", "POST"),
}  # fmt: skip


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with warnings.catch_warnings():  # starlette 1.x deprecates its httpx-based client; it still works
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

        settings = Settings(config_path=str(SMALL), demo=True)  # every route, the demo's included
        yield TestClient(create_app(settings, load_festival(SMALL)))  # no lifespan: no node, no Redis


def test_body_int_takes_an_integer_or_the_default_and_refuses_anything_else() -> None:
    assert body_int({"n": 3}, "n", 7) == 3
    assert body_int({}, "n", 7) == 7
    for bad in (True, 1.5, "3", None):
        with pytest.raises(LivehubError) as exc:
            body_int({"n": bad}, "n", 7)
        assert exc.value.code == errors.BAD_REQUEST and exc.value.details == {"field": "n"}


def test_body_opt_int_is_none_only_when_absent_and_an_explicit_null_is_refused() -> None:
    assert body_opt_int({}, "n") is None
    assert body_opt_int({"n": 0}, "n") == 0
    with pytest.raises(LivehubError):
        body_opt_int({"n": None}, "n")


def test_the_http_api_serves_exactly_the_documented_urls_and_methods(client: TestClient) -> None:
    served = {
        (route.path, method)
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path.startswith(("/api/", "/healthz", "/readyz", "/metrics"))
        for method in (route.methods or ()) - {"HEAD"}
    }
    assert served == API


def test_an_unknown_url_answers_livehubs_not_found_body(client: TestClient) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"type": "error", "code": errors.NOT_FOUND, "message": "Not Found"}


def test_a_wrong_method_answers_405_with_a_bad_request_body(client: TestClient) -> None:
    response = client.get("/api/payments/callback")
    assert response.status_code == 405
    assert response.json() == {"type": "error", "code": errors.BAD_REQUEST, "message": "Method Not Allowed"}


# ---- body limits on a real `livehub serve` (raw sockets: the body is never sent in full) ----------------


def raw_post(server: LivehubProcess, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
    """POST over a raw socket, the ``body`` bytes exactly as given (not a whole declared body, not a finished
    chunked one); the node's answer, read within 10 s (a node that waited for the rest would never answer)."""
    import orjson

    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < content_length(answer):
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), orjson.loads(rest.partition(b"\r\n\r\n")[2][: content_length(answer)])


def content_length(head: bytes) -> int:
    for line in head.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 1 << 30


def test_a_body_declared_larger_than_the_cap_is_refused_before_it_is_sent(livehub_server: LivehubProcess) -> None:
    headers = {"Authorization": f"Bearer {host_token('host-b1', 'b1')}", "Content-Length": "10000000"}
    status, out = raw_post(livehub_server, "/api/venues/b1/events", headers, b'{"kind": "announce", "data": "')
    assert (status, out["code"]) == (413, errors.TOO_LARGE), out


def test_a_chunked_body_is_refused_once_past_the_cap_without_its_end(livehub_server: LivehubProcess) -> None:
    headers = {"Authorization": f"Bearer {host_token('host-b1', 'b1')}", "Transfer-Encoding": "chunked"}
    chunk = b"400\r\n" + b"x" * 0x400 + b"\r\n"  # 1 KiB chunks, never the closing 0-size one
    status, out = raw_post(livehub_server, "/api/venues/b1/events", headers, chunk * (MAX_BODY // 0x400 + 2))
    assert (status, out["code"]) == (413, errors.TOO_LARGE), out


def test_a_chunked_body_within_the_cap_is_read_whole(livehub_server: LivehubProcess) -> None:
    headers = {"Authorization": f"Bearer {host_token('host-b1', 'b1')}", "Transfer-Encoding": "chunked"}
    body = b'{"kind": "announce", "data": {"text": "' + b"y" * 8000 + b'"}}'
    pieces = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
    status, out = raw_post(livehub_server, "/api/venues/b1/events", headers, chunked + b"0\r\n\r\n")
    assert status == 200 and out["offset"] > 0, out


def test_a_payment_callback_body_declared_larger_than_the_cap_is_refused_before_it_is_sent(
    livehub_server: LivehubProcess,
) -> None:
    status, out = raw_post(livehub_server, "/api/payments/callback", {"Content-Length": "10000000"}, b"{")
    assert (status, out["code"]) == (413, errors.TOO_LARGE), out
