"""Wire codecs and websocket framing (sans-I/O, pure).

Two codecs, chosen per connection by websocket subprotocol:

* ``livehub.json.v1`` (default): JSON text frames, encoded by orjson;
* ``livehub.msgpack.v1``: MessagePack binary frames.

Server-to-client websocket frames are unmasked, so a frame's bytes are the
same for every receiver: livehub builds each outgoing frame once per codec
(:func:`ws_frame`) and writes the very same ``bytes`` object to every
subscriber's transport.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import msgpack
import orjson

from livehub.errors import LivehubException

PROTOCOL_VERSION = 1
JSON_SUBPROTOCOL = "livehub.json.v1"
MSGPACK_SUBPROTOCOL = "livehub.msgpack.v1"

OP_TEXT = 0x1
OP_BINARY = 0x2

_H16 = struct.Struct("!BBH")
_H64 = struct.Struct("!BBQ")


class DecodeError(LivehubException, ValueError):
    """The payload is not valid in the connection's codec."""


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """One complete, unfragmented, unmasked websocket frame (RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return _H16.pack(0x80 | opcode, 126, n) + payload
    return _H64.pack(0x80 | opcode, 127, n) + payload


@dataclass(frozen=True, slots=True)
class Codec:
    name: str
    subprotocol: str
    opcode: int

    def encode(self, obj: Any) -> bytes:
        """Payload bytes of one message."""
        if self.opcode == OP_TEXT:
            return orjson.dumps(obj)
        return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]

    def frame(self, obj: Any) -> bytes:
        """A ready-to-write websocket frame carrying ``obj``."""
        return ws_frame(self.opcode, self.encode(obj))

    def decode(self, payload: str | bytes) -> Any:
        try:
            if self.opcode == OP_TEXT:
                return orjson.loads(payload)
            if isinstance(payload, str):
                raise DecodeError("expected a binary frame for the msgpack codec")
            return msgpack.unpackb(payload, raw=False, strict_map_key=True)
        except DecodeError:
            raise
        except Exception as exc:  # orjson.JSONDecodeError, msgpack's several exception types
            raise DecodeError(f"not valid {self.name}: {exc}") from None


JSON = Codec("json", JSON_SUBPROTOCOL, OP_TEXT)
MSGPACK = Codec("msgpack", MSGPACK_SUBPROTOCOL, OP_BINARY)
CODECS: tuple[Codec, ...] = (JSON, MSGPACK)
BY_SUBPROTOCOL = {c.subprotocol: c for c in CODECS}


def choose_codec(offered: list[str]) -> tuple[Codec, str | None]:
    """Pick the codec for the subprotocols a client offered (first known one wins).

    Returns the codec and the subprotocol to echo in the handshake (None when the
    client offered none we know: JSON, no Sec-WebSocket-Protocol answer).
    """
    for name in offered:
        codec = BY_SUBPROTOCOL.get(name)
        if codec is not None:
            return codec, name
    return JSON, None
