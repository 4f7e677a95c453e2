"""Shared harness of the hub tests: a Hub over a recording MemoryBroker, fake sockets, and
helpers to read what a fake socket was sent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from livehub.backplane.memory import MemoryBroker
from livehub.domain.tokens import Identity
from livehub.hub.connection import Connection
from livehub.hub.fanout import Hub
from livehub.hub.stats import Stats
from livehub.protocol.codec import CODECS, JSON, Codec
from tests.fakes import FakeRaw, messages

CH = "main"


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


def offsets(raw: FakeRaw) -> list[int]:
    return [m["offset"] for m in messages(b"".join(raw.writes)) if m.get("type") == "event"]
