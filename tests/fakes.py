"""Test doubles shared across the test packages: a recording raw socket and a reader of the
websocket frames a server writes.

``FakeRaw`` stands in for ``livehub.web.transport.LivehubWebSocketProtocol`` as the
``RawSocket`` a ``livehub.hub.connection.Connection`` writes to: it records writes and
closes and does nothing else.  ``split_frames`` and ``messages`` read back what was
written (unmasked server frames, as ``livehub.protocol.codec.ws_frame`` builds them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgpack
import orjson

from livehub.protocol.codec import OP_TEXT

if TYPE_CHECKING:
    from livehub.hub.connection import Connection


class FakeRaw:
    """A RawSocket that records what the connection did to it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closes: list[tuple[int, str]] = []
        self.sink: Connection | None = None

    def write_raw(self, data: bytes) -> None:
        self.writes.append(data)

    def close_with(self, code: int, reason: str) -> None:
        self.closes.append((code, reason))

    def bind(self, sink: Connection) -> None:
        self.sink = sink

    def resume_frames(self) -> None:
        pass

    @property
    def data(self) -> bytes:
        return b"".join(self.writes)

    @property
    def close_codes(self) -> list[int]:
        return [code for code, _ in self.closes]


def split_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each unmasked server frame in ``data``."""
    out = []
    i = 0
    while i < len(data):
        opcode, n = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if n == 126:
            n, i = int.from_bytes(data[i : i + 2], "big"), i + 2
        elif n == 127:
            n, i = int.from_bytes(data[i : i + 8], "big"), i + 8
        out.append((opcode, data[i : i + n]))
        i += n
    return out


def messages(data: bytes) -> list[Any]:
    """The decoded messages of the frames in ``data``: JSON for text frames, msgpack for binary ones."""
    return [orjson.loads(p) if op == OP_TEXT else msgpack.unpackb(p, raw=False) for op, p in split_frames(data)]
