"""Shared harness of the hub tests: a Hub over a recording MemoryBroker, fake sockets, and
helpers to read what a fake socket was sent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgpack
import orjson

from livehub.backplane.memory import MemoryBroker
from livehub.domain.tokens import Identity
from livehub.hub.connection import Connection
from livehub.hub.fanout import Hub
from livehub.hub.stats import Stats
from livehub.protocol.codec import CODECS, JSON, OP_TEXT, Codec

CH = "main"


class FakeRaw:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closes: list[tuple[int, str]] = []

    def write_raw(self, data: bytes) -> None:
        self.writes.append(data)

    def close_with(self, code: int, reason: str) -> None:
        self.closes.append((code, reason))

    def bind(self, sink: Connection) -> None:
        pass

    def resume_frames(self) -> None:
        pass

    @property
    def close_codes(self) -> list[int]:
        return [code for code, _ in self.closes]


class RecordingBroker(MemoryBroker):
    def __init__(self, history_size: int = 1000) -> None:
        super().__init__(history_size)
        self.calls: list[tuple[str, str]] = []

    async def subscribe(self, channel: str) -> None:
        self.calls.append(("subscribe", channel))
        await super().subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.calls.append(("unsubscribe", channel))
        await super().unsubscribe(channel)


async def start_hub(
    release_delay_s: float = 0.01, join_buffer_max: int = 10_000, history_size: int = 1000,
    fanout_slice: int | None = None,
) -> tuple[Hub, RecordingBroker, Stats]:  # fmt: skip
    stats = Stats()
    hub = Hub(stats, join_buffer_max=join_buffer_max, release_delay_s=release_delay_s)
    if fanout_slice is not None:
        hub.fanout_slice = fanout_slice
    broker = RecordingBroker(history_size)
    await broker.start(hub.deliver)
    hub.attach(broker)
    return hub, broker, stats


def connect(
    hub: Hub, stats: Stats, conn_id: str, codec: Codec = JSON, limit: int = 1 << 20
) -> tuple[Connection, FakeRaw]:
    raw = FakeRaw()
    conn = Connection(conn_id, codec, CODECS.index(codec), Identity(conn_id, "viewer"), raw, limit, stats)
    hub.add(conn)
    return conn, raw


async def join(hub: Hub, broker: MemoryBroker, conn: Connection, channel: str = CH) -> None:
    """What the node does: register, subscribe, read the snapshot, then go live."""
    await hub.begin_join(conn, (channel,))
    snap = await broker.snapshot(channel)
    hub.finish_join(conn, channel, (snap.epoch, snap.offset))


async def until(condition: Callable[[], bool], what: str = "condition") -> None:
    """Let the loop run until ``condition`` holds (bounded, so a broken hub fails instead of hanging)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"timed out waiting for {what}")


async def settle() -> None:
    """Run the loop a few iterations: broker call_soon -> deliver -> call_soon -> flush."""
    for _ in range(5):
        await asyncio.sleep(0)


def split_frames(data: bytes) -> list[tuple[int, bytes]]:
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


def messages(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(p) if op == OP_TEXT else msgpack.unpackb(p, raw=False) for op, p in split_frames(data)]


def offsets(raw: FakeRaw) -> list[int]:
    return [m["offset"] for m in messages(b"".join(raw.writes)) if m.get("type") == "event"]
