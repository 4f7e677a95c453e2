"""Order under concurrency on two nodes: a resume's replay keeps each channel's offset order
while both nodes publish at once, and concurrent joins never get an event their snapshot covers."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from livehub.client import Client
from tests.conftest import viewer_token
from tests.reliability.support import OwnRedis, node, publish

pytestmark = pytest.mark.asyncio


async def test_a_resume_while_two_nodes_publish_at_once_replays_each_channel_in_offset_order(
    redis_server: OwnRedis,
) -> None:
    prefix = "order" + uuid.uuid4().hex[:6]
    a, b = node(redis_server, prefix), node(redis_server, prefix)
    try:
        client = await Client.connect(a.ws, viewer_token("resumer"), venue="b1")
        await client.wait_for("snapshot")
        await client.close()  # away while the hosts publish through both nodes at once

        async def burst(server: Any, venue: str, n: int) -> None:
            for i in range(n):
                await asyncio.gather(*(publish(server, venue, "tick", {"i": i, "k": k}) for k in range(4)))

        await asyncio.gather(burst(a, "b1", 25), burst(b, "b1", 25), burst(a, "main", 10), burst(b, "main", 10))

        client.base_url = b.ws
        snapshot = await client.resume()
        assert snapshot["recovered"] is True
        replayed = [f for f in client.drain() if f.get("type") == "event"]
        for ch, total in (("b1", 200), ("main", 80)):
            assert [f["offset"] for f in replayed if f["ch"] == ch] == list(range(1, total + 1))
        assert client.gaps == []
        await client.close()
    finally:
        a.stop()
        b.stop()


async def test_concurrent_joins_while_a_host_publishes_never_get_an_event_their_snapshot_covers(
    redis_server: OwnRedis,
) -> None:
    prefix = "joins" + uuid.uuid4().hex[:6]
    a, b = node(redis_server, prefix), node(redis_server, prefix)
    clients: list[Client] = []
    stop = asyncio.Event()
    try:
        async def host() -> None:
            i = 0
            while not stop.is_set():
                await asyncio.gather(publish(a, "b1", "tick", {"i": i}), publish(b, "b1", "tick", {"i": i}))
                i += 1

        hosting = asyncio.create_task(host())
        for _ in range(6):  # rounds of concurrent joins, on both nodes, while events keep coming
            clients += await asyncio.gather(*(
                Client.connect((a, b)[i % 2].ws, viewer_token(f"j{uuid.uuid4().hex[:6]}"), venue="b1")
                for i in range(30)
            ))  # fmt: skip
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.wait_for(hosting, 30)
        await asyncio.sleep(0.5)

        for c in clients:
            frames = c.drain()
            snap = next(f for f in frames if f.get("type") == "snapshot")
            later = frames[frames.index(snap) + 1 :]
            after = [f["offset"] for f in later if f.get("type") == "event" and f["ch"] == "b1"]
            start = snap["channels"]["b1"]["offset"]
            assert after == list(range(start + 1, start + 1 + len(after))), (start, after[:5])
            assert c.gaps == []
    finally:
        stop.set()
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        a.stop()
        b.stop()
