"""The two ways into ``/ws`` on real servers over loopback (docs/architecture.md, "The websocket upgrade"):

* the direct upgrade: ``livehub serve`` answers a plain handshake itself, with the RFC's accept value and the
  chosen codec's subprotocol, and the viewer's welcome and snapshot follow the 101 in order;
* uvicorn's path: a server that negotiates permessage-deflate (``uvicorn livehub.app:create_app`` with its
  defaults) takes every upgrade through websockets' handshake and the ASGI endpoint, and viewers are served
  the same way there.
"""

from __future__ import annotations

import base64
import os
import socket
import uuid
from collections.abc import Iterator

import msgpack
import orjson
import pytest
from websockets.sync.client import connect

from livehub.protocol.handshake import accept_value
from tests.conftest import SMALL_CONFIG, LivehubProcess, free_port, viewer_token


def read_frame(sock: socket.socket, buf: bytearray) -> tuple[int, bytes]:
    """One unmasked server frame (opcode, payload) from ``buf``, reading ``sock`` for more when needed."""
    while True:
        if len(buf) >= 2:
            size, head = buf[1] & 0x7F, 2
            if size == 126 and len(buf) >= 4:
                size, head = int.from_bytes(buf[2:4], "big"), 4
            elif size == 127 and len(buf) >= 10:
                size, head = int.from_bytes(buf[2:10], "big"), 10
            if size < 126 or head > 2:
                if len(buf) >= head + size:
                    opcode, payload = buf[0] & 0x0F, bytes(buf[head : head + size])
                    del buf[: head + size]
                    return opcode, payload
        got = sock.recv(65536)
        assert got, "closed before a whole frame"
        buf += got


def masked(payload: bytes, opcode: int) -> bytes:
    mask = os.urandom(4)
    assert len(payload) < 126
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_a_plain_handshake_is_answered_directly_and_the_welcome_and_snapshot_follow_the_101(
    livehub_server: LivehubProcess,
) -> None:
    key = base64.b64encode(os.urandom(16))
    token = viewer_token("u-direct-" + uuid.uuid4().hex[:6]).encode()
    request = (b"GET /ws?venue=b1&token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               b"Sec-WebSocket-Protocol: unknown.v1, livehub.msgpack.v1\r\n\r\n" % (token, key))  # fmt: skip
    with socket.create_connection(("127.0.0.1", livehub_server.port), timeout=10) as sock:
        sock.sendall(request)
        buf = bytearray()
        while b"\r\n\r\n" not in buf:
            got = sock.recv(65536)
            assert got, bytes(buf)
            buf += got
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0] == b"HTTP/1.1 101 Switching Protocols"
        headers = {name.lower(): value for name, _, value in (line.partition(b": ") for line in lines[1:])}
        assert headers[b"sec-websocket-accept"] == accept_value(key)
        assert headers[b"sec-websocket-protocol"] == b"livehub.msgpack.v1", "the first codec livehub knows"
        assert b"sec-websocket-extensions" not in headers, "no extension negotiated"
        buf = bytearray(rest)
        opcode, payload = read_frame(sock, buf)
        assert opcode == 0x2 and msgpack.unpackb(payload)["type"] == "welcome"
        opcode, payload = read_frame(sock, buf)
        snapshot = msgpack.unpackb(payload)
        assert snapshot["type"] == "snapshot" and snapshot["venue"] == "b1"
        assert set(snapshot["channels"]) == {"main", "b1"}, "1+N: the main venue's channel and the brand's"
        sock.sendall(masked(msgpack.packb({"type": "ping", "id": 7}), 0x2))
        while True:  # counters may come first
            opcode, payload = read_frame(sock, buf)
            frame = msgpack.unpackb(payload)
            if frame.get("type") == "reply":
                assert frame["id"] == 7
                break


@pytest.fixture(scope="module")
def uvicorn_with_deflate(redis_url: str) -> Iterator[int]:
    """livehub's app under ``python -m uvicorn`` with its default permessage-deflate on; its port."""
    port = free_port()
    server = LivehubProcess(
        redis_url, "uv" + uuid.uuid4().hex[:8], env={"LIVEHUB_DEMO": "1", "LIVEHUB_CONFIG": SMALL_CONFIG}, port=port,
        command=["-m", "uvicorn", "livehub.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port),
                 "--loop", "uvloop", "--http", "livehub.web.transport:LivehubHttpProtocol",
                 "--ws", "livehub.web.transport:LivehubWebSocketProtocol"],
    ).start()  # fmt: skip
    try:
        yield port
    finally:
        server.stop()


def test_a_server_that_negotiates_permessage_deflate_serves_viewers_through_uvicorns_path(
    uvicorn_with_deflate: int,
) -> None:
    token = viewer_token("u-deflate-" + uuid.uuid4().hex[:6])
    with connect(f"ws://127.0.0.1:{uvicorn_with_deflate}/ws?venue=b1&token={token}") as ws:
        assert ws.response is not None
        assert "permessage-deflate" in (ws.response.headers.get("Sec-WebSocket-Extensions") or ""), "uvicorn's path"
        assert orjson.loads(ws.recv(timeout=10))["type"] == "welcome"
        assert orjson.loads(ws.recv(timeout=10))["type"] == "snapshot"
        ws.send(orjson.dumps({"type": "ping", "id": 3}).decode())
        while True:
            frame = orjson.loads(ws.recv(timeout=10))
            if frame.get("type") == "reply":
                assert frame["id"] == 3
                break
    with connect(f"ws://127.0.0.1:{uvicorn_with_deflate}/ws?venue=nowhere") as ws:  # refusals on this path too
        assert orjson.loads(ws.recv(timeout=10))["type"] == "error"
        with pytest.raises(Exception) as closed:
            ws.recv(timeout=10)
        assert "4004" in str(closed.value)
