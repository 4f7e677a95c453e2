"""The server side of the websocket opening handshake (RFC 6455 section 4.2), sans I/O.

livehub's HTTP protocol (livehub.web.transport) has the request line and headers parsed by
httptools already; for a plain upgrade it answers from those, instead of serializing the request
again for websockets to parse a second time (docs/architecture.md, "The websocket upgrade"):

* :func:`plain_upgrade` reads what the answer needs (the key, the offered subprotocols) from the
  parsed headers, or returns None when the request is not a well-formed version-13 upgrade.  None
  is not a refusal: such a request takes websockets' own handshake, which answers each fault with
  its documented 4xx (a missing key, a wrong version, ...).  Extensions are never negotiated
  (permessage-deflate is off in livehub: its frames are encoded once for every viewer).
* :func:`accept_response` is the ``101 Switching Protocols`` answer, as bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3


@dataclass(frozen=True, slots=True)
class Upgrade:
    """A plain websocket upgrade request: its key and the subprotocols it offered, in order."""

    key: bytes
    subprotocols: tuple[str, ...]


def _tokens(value: bytes) -> list[bytes]:
    return [token.strip() for token in value.split(b",") if token.strip()]


def plain_upgrade(method: str, http_version: str, target: bytes, headers: Sequence[tuple[bytes, bytes]], *,
                  max_headers: int, max_line: int) -> Upgrade | None:  # fmt: skip
    """The key and offered subprotocols of a valid ``GET`` / ``HTTP/1.1`` websocket upgrade of ``target``
    with lower-case header names (as uvicorn keeps them); None for any other request, and for one past
    websockets' own bounds (``max_headers`` headers, lines of ``max_line`` bytes), which it refuses."""
    if method != "GET" or http_version != "1.1" or len(headers) > max_headers:
        return None
    if len(target) + 15 > max_line:  # "GET " target " HTTP/1.1\r\n"
        return None
    key: bytes | None = None
    version: bytes | None = None
    upgrade: list[bytes] = []
    connection_upgrade = False
    offered: list[str] = []
    for name, value in headers:
        if len(name) + len(value) + 4 > max_line:  # name ": " value "\r\n"
            return None
        if name == b"sec-websocket-key":
            if key is not None:  # repeated: websockets refuses it
                return None
            key = value.strip()
        elif name == b"sec-websocket-version":
            if version is not None:
                return None
            version = value.strip()
        elif name == b"upgrade":
            upgrade.extend(_tokens(value))
        elif name == b"connection":
            connection_upgrade = connection_upgrade or any(t.lower() == b"upgrade" for t in _tokens(value))
        elif name == b"sec-websocket-protocol":
            try:
                offered.extend(token.decode("ascii") for token in _tokens(value))
            except UnicodeDecodeError:
                return None
    if not connection_upgrade or len(upgrade) != 1 or upgrade[0].lower() != b"websocket" or version != b"13":
        return None
    if key is None or len(key) != 24:  # 16 bytes in base64
        return None
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return None
    except binascii.Error:
        return None
    return Upgrade(key, tuple(offered))


def accept_value(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for a request's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def accept_response(key: bytes, subprotocol: str | None, extra_headers: Sequence[tuple[bytes, bytes]] = ()) -> bytes:
    """The ``101 Switching Protocols`` answer to a plain upgrade, choosing ``subprotocol`` (None: none),
    with ``extra_headers`` (the server's ``date`` and ``server``, as uvicorn adds them) after livehub's."""
    parts = [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
             accept_value(key), b"\r\n"]  # fmt: skip
    if subprotocol is not None:
        parts += [b"Sec-WebSocket-Protocol: ", subprotocol.encode("ascii"), b"\r\n"]
    for name, value in extra_headers:
        parts += [name, b": ", value, b"\r\n"]
    parts.append(b"\r\n")
    return b"".join(parts)
