"""livehub.protocol.handshake: the 101 livehub's HTTP protocol answers a plain upgrade with, from the headers
httptools parsed, and which requests it leaves to websockets' handshake (None).  Pure: no socket."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.datastructures import Headers
from websockets.http11 import Request
from websockets.server import ServerProtocol

from livehub.protocol.handshake import Upgrade, accept_response, accept_value, plain_upgrade

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3's example
BASE = [(b"host", b"localhost"), (b"upgrade", b"websocket"), (b"connection", b"Upgrade"),
        (b"sec-websocket-key", KEY), (b"sec-websocket-version", b"13")]  # fmt: skip
LIMITS = {"max_headers": 128, "max_line": 8192}


def upgrade(headers: list[tuple[bytes, bytes]], method: str = "GET", version: str = "1.1",
            target: bytes = b"/ws") -> Upgrade | None:  # fmt: skip
    return plain_upgrade(method, version, target, headers, **LIMITS)


def test_the_accept_value_is_the_rfcs_example() -> None:
    assert accept_value(KEY) == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@given(st.binary(min_size=16, max_size=16))
def test_the_accept_value_is_the_one_websockets_computes_for_any_key(raw: bytes) -> None:
    key = base64.b64encode(raw)
    request = Request("/ws", Headers([("Host", "x"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                      ("Sec-WebSocket-Key", key.decode()),
                                      ("Sec-WebSocket-Version", "13")]))  # fmt: skip
    response = ServerProtocol().accept(request)
    assert response.status_code == 101
    assert accept_value(key).decode() == response.headers["Sec-WebSocket-Accept"]
    assert upgrade([(n, key if n == b"sec-websocket-key" else v) for n, v in BASE]) == Upgrade(key, ())


def test_a_plain_upgrade_gives_its_key_and_the_subprotocols_offered_in_order_across_headers() -> None:
    headers = [*BASE, (b"sec-websocket-protocol", b"livehub.msgpack.v1, b"), (b"sec-websocket-protocol", b"c")]
    assert upgrade(headers) == Upgrade(KEY, ("livehub.msgpack.v1", "b", "c"))


def test_connection_and_upgrade_tokens_are_matched_in_any_case_among_others() -> None:
    headers = [(n, {b"connection": b"keep-alive, UPGRADE", b"upgrade": b"WebSocket"}.get(n, v)) for n, v in BASE]
    assert upgrade(headers) == Upgrade(KEY, ())


@pytest.mark.parametrize(
    ("why", "change"),
    [
        ("no key", {b"sec-websocket-key": None}),
        ("a key that is not base64", {b"sec-websocket-key": b"not base64 at all!!!!!!!"}),
        ("a key of 15 bytes", {b"sec-websocket-key": base64.b64encode(b"x" * 15)}),
        ("version 8", {b"sec-websocket-version": b"8"}),
        ("no version", {b"sec-websocket-version": None}),
        ("no connection upgrade", {b"connection": b"keep-alive"}),
        ("another protocol", {b"upgrade": b"h2c"}),
        ("two protocols", {b"upgrade": b"websocket, h2c"}),
    ],
)
def test_anything_but_a_valid_version_13_upgrade_is_left_to_websockets(
    why: str, change: dict[bytes, bytes | None]
) -> None:
    headers = [(n, change.get(n, v)) for n, v in BASE if change.get(n, v) is not None]
    assert upgrade(headers) is None, why  # type: ignore[arg-type]


def test_repeated_keys_versions_other_methods_and_http_versions_are_left_to_websockets() -> None:
    assert upgrade([*BASE, (b"sec-websocket-key", KEY)]) is None
    assert upgrade([*BASE, (b"sec-websocket-version", b"13")]) is None
    assert upgrade(BASE, method="POST") is None
    assert upgrade(BASE, version="1.0") is None


def test_a_request_past_websockets_own_bounds_is_left_to_websockets_which_refuses_it() -> None:
    assert upgrade(BASE + [(b"x-%d" % i, b"v") for i in range(124)]) is None, "129 headers"
    assert upgrade(BASE + [(b"x-%d" % i, b"v") for i in range(123)]) is not None, "128 headers"
    assert upgrade([*BASE, (b"x-long", b"v" * 8189)]) is None, "a header line of 8,197 bytes"
    assert upgrade(BASE, target=b"/ws?" + b"q" * 8180) is None, "a request line past 8,192 bytes"


def test_the_101_names_the_accept_value_the_chosen_subprotocol_and_the_servers_headers() -> None:
    answer = accept_response(KEY, "livehub.msgpack.v1", [(b"server", b"uvicorn")])
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert rest == b"" and head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    lines = head.split(b"\r\n")[1:]
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in lines
    assert b"Sec-WebSocket-Protocol: livehub.msgpack.v1" in lines and b"server: uvicorn" in lines
    assert b"Upgrade: websocket" in lines and b"Connection: Upgrade" in lines
    assert b"Sec-WebSocket-Protocol" not in accept_response(KEY, None)
