"""Channel events and latest-value updates, as they travel between nodes (pure).

An **event** has a place in its channel's history: ``(epoch, offset)``.  Its
body is the JSON object ``{"kind": ..., "data": ..., "ts": ...}`` written by
the publisher; nodes never re-serialise it for JSON clients: the JSON frame is
spliced from the body bytes, and the MessagePack frame is built from one
decode.  Frames are built lazily, once per codec, and cached on the event.

A **volatile** update (stock counter, online count, likes, a comment) has no
offset: it is latest-value state keyed by ``key``; a newer value for the same
key replaces an older one that has not been written yet.

Backplane envelope (one pub/sub message):
``E<epoch> <offset> <body>`` for an event, ``V<key> <frame-json>`` for a
volatile update.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from livehub.errors import LivehubException
from livehub.protocol.codec import CODECS, JSON, OP_TEXT, Codec, ws_frame


class EnvelopeError(LivehubException, ValueError):
    pass


def now_ms() -> int:
    return int(time.time() * 1000)


def event_body(kind: str, data: Any, ts_ms: int | None = None) -> bytes:
    return orjson.dumps({"kind": kind, "data": data, "ts": now_ms() if ts_ms is None else ts_ms})


class Event:
    """One event of one channel, with its per-codec frames built on demand."""

    __slots__ = ("_frames", "body", "channel", "epoch", "offset", "ts")

    def __init__(self, channel: str, epoch: str, offset: int, body: bytes) -> None:
        self.channel = channel
        self.epoch = epoch
        self.offset = offset
        self.body = body
        self.ts = 0  # publish time (ms), read lazily by the hub for the latency metric
        self._frames: list[bytes | None] = [None] * len(CODECS)

    def frame(self, codec: Codec) -> bytes:
        index = 0 if codec is JSON else 1
        frame = self._frames[index]
        if frame is None:
            frame = self._frames[index] = ws_frame(codec.opcode, self.payload(codec))
        return frame

    def payload(self, codec: Codec) -> bytes:
        if codec.opcode == OP_TEXT:
            head = b'{"type":"event","ch":"%s","epoch":"%s","offset":%d,' % (
                self.channel.encode(), self.epoch.encode(), self.offset)  # fmt: skip
            return head + self.body[1:]
        return codec.encode(self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        body = orjson.loads(self.body)
        return {"type": "event", "ch": self.channel, "epoch": self.epoch, "offset": self.offset, **body}

    def publish_ts(self) -> int:
        """The publisher's timestamp (ms), found without parsing the whole body."""
        i = self.body.rfind(b'"ts":')
        if i < 0:
            return 0
        j = i + 5
        k = j
        while k < len(self.body) and 48 <= self.body[k] <= 57:
            k += 1
        return int(self.body[j:k]) if k > j else 0

    def __repr__(self) -> str:
        return f"Event({self.channel!r}, {self.epoch!r}, {self.offset})"


class Volatile:
    """A latest-value update for one channel's audience."""

    __slots__ = ("_frames", "channel", "key", "message")

    def __init__(self, channel: str, key: str, message: dict[str, Any]) -> None:
        self.channel = channel
        self.key = key
        self.message = message
        self._frames: list[bytes | None] = [None] * len(CODECS)

    def frame(self, codec: Codec) -> bytes:
        index = 0 if codec is JSON else 1
        frame = self._frames[index]
        if frame is None:
            frame = self._frames[index] = codec.frame(self.message)
        return frame


def encode_event_envelope(epoch: str, offset: int, body: bytes) -> bytes:
    return b"E%s %d %s" % (epoch.encode(), offset, body)


def encode_volatile_envelope(key: str, message: dict[str, Any]) -> bytes:
    return b"V" + key.encode() + b" " + orjson.dumps(message)


def decode_envelope(channel: str, raw: bytes) -> Event | Volatile:
    try:
        if raw[:1] == b"E":
            epoch, offset, body = raw[1:].split(b" ", 2)
            return Event(channel, epoch.decode(), int(offset), body)
        if raw[:1] == b"V":
            key, message = raw[1:].split(b" ", 1)
            return Volatile(channel, key.decode(), orjson.loads(message))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise EnvelopeError(f"bad envelope on {channel!r}: {exc}") from None
    raise EnvelopeError(f"bad envelope on {channel!r}: unknown kind {raw[:1]!r}")
