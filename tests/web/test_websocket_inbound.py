"""A connection's inbound side over real websockets (livehub.web.session.Session fed by
livehub.web.transport's frame_sink):
frames are handled one after the other in the order sent, answered once each, a full inbound backlog stops the
reading of the socket instead of failing anything, and a text frame that is not UTF-8 closes with 1007.

Redis is held with CLIENT PAUSE WRITE while a test's frames arrive: a join whose channel moved on since the node's
last snapshot (``snapshot_outdated``: joins share snapshots, livehub.hub.recovery) reads a new one with a script,
which Redis then leaves unanswered until CLIENT UNPAUSE, so the frames sent after a ``join`` reach the node
while the join still runs, without depending on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from livehub.client import Client
from tests.conftest import HUB_ENV, LivehubProcess, connect_viewer, host_token, http_json, running, viewer_token

pytestmark = pytest.mark.asyncio

ANSWERS = ("reply", "error", "snapshot")


@contextlib.asynccontextmanager
async def joins_held(admin: aioredis.Redis) -> AsyncIterator[None]:
    await admin.client_pause(10_000, all=False)  # CLIENT PAUSE 10000 WRITE
    try:
        yield
    finally:
        await admin.client_unpause()


async def snapshot_outdated(server: LivehubProcess, venue: str) -> None:
    """Make the node deliver an event on ``venue``'s channel past its last snapshot, so that the next join of the
    venue reads Redis (and waits while Redis is paused) instead of sharing that snapshot."""
    watcher = await connect_viewer(server)
    try:
        await watcher.join(venue)
        host = "host-main" if venue == "main" else f"host-{venue}"
        event = {"kind": "announcement", "data": {"text": "x"}}
        url = f"{server.http}/api/venues/{venue}/events"
        status, _ = await asyncio.to_thread(http_json, "POST", url, event, host_token(host, venue))
        assert status == 200
        while (await watcher.next(10)).get("type") != "event":
            pass
    finally:
        await watcher.close()


@pytest.fixture(scope="module")
def roomy_server(redis_url: str) -> Iterator[LivehubProcess]:
    """A node with no practical inbound rate limit and an inbound backlog of 4 frames."""
    env = {**HUB_ENV, "LIVEHUB_INBOUND_RATE": "100000", "LIVEHUB_INBOUND_BURST": "100000",
           "LIVEHUB_INBOUND_BACKLOG": "4"}  # fmt: skip
    with running(redis_url, "in" + uuid.uuid4().hex[:8], env) as server:
        yield server




async def none_yet(client: Client) -> None:
    """While the join is held nothing sent after it can be answered: every frame waits behind it.  (The pause also
    lets the node read all that was sent, so the inbound backlog really fills.)"""
    await asyncio.sleep(0.05)
    early = [f for f in client.drain() if f.get("type") in ANSWERS]
    assert early == [], early


async def answers(client: Client, n: int) -> list[dict[str, Any]]:
    """The next ``n`` answer frames (reply, error, snapshot), skipping broadcasts."""
    out: list[dict[str, Any]] = []
    while len(out) < n:
        frame = await client.next(10)
        if frame.get("type") in ANSWERS:
            out.append(frame)
    return out


async def nothing_more_then_alive(client: Client) -> None:
    """No answer beyond the ones counted, and the connection still answers."""
    await client.send({"type": "ping", "id": "last"})
    [last] = await answers(client, 1)
    assert (last["type"], last.get("id")) == ("reply", "last"), last
    assert client.close_code is None


def run_of_frames(n: int) -> list[dict[str, Any]]:
    """``n`` frames with ids 0..n-1 mixing commands answered at once (ping, like, leave) and joins (a task each),
    never a like outside a venue."""
    frames: list[dict[str, Any]] = []
    venues = ["b1", "b2", "b3", "main"]
    in_venue = False
    for i in range(n):
        if i % 12 == 0:
            frames.append({"type": "join", "venue": venues[(i // 12) % 4], "id": i})
            in_venue = True
        elif i % 12 == 7:
            frames.append({"type": "leave", "id": i})
            in_venue = False
        elif i % 2 and in_venue:
            frames.append({"type": "like", "n": 1, "id": i})
        else:
            frames.append({"type": "ping", "id": i})
    return frames


def expected_answer(frame: dict[str, Any]) -> tuple[str, Any]:
    return ("snapshot" if frame["type"] == "join" else "reply", frame["id"])


async def test_a_comment_and_a_like_sent_right_after_a_join_are_handled_after_it(
    livehub_server: LivehubProcess, redis: aioredis.Redis
) -> None:
    await snapshot_outdated(livehub_server, "b1")
    client = await connect_viewer(livehub_server)
    try:
        async with joins_held(redis):
            await client.send({"type": "join", "venue": "b1", "id": "j"})
            await client.send({"type": "comment", "text": "first!", "id": "c"})
            await client.send({"type": "like", "n": 2, "id": "l"})
            await none_yet(client)
        got = await answers(client, 3)
        assert [(a["type"], a.get("id")) for a in got] == [("snapshot", "j"), ("reply", "c"), ("reply", "l")], got
        assert got[0]["venue"] == "b1"
        await nothing_more_then_alive(client)
    finally:
        await client.close()


async def test_more_frames_than_the_inbound_backlog_are_answered_once_each_in_send_order(
    livehub_server: LivehubProcess, redis: aioredis.Redis
) -> None:
    frames = run_of_frames(38)  # more than inbound_backlog (32), within the inbound burst (40) with the last ping
    await snapshot_outdated(livehub_server, "b1")
    client = await connect_viewer(livehub_server)
    try:
        async with joins_held(redis):
            for frame in frames:
                await client.send(frame)
            await none_yet(client)
        got = await answers(client, len(frames))
        assert [(a["type"], a.get("id")) for a in got] == [expected_answer(f) for f in frames], got
        assert [a["venue"] for a in got if a["type"] == "snapshot"] == ["b1", "b2", "b3", "main"]
        await nothing_more_then_alive(client)
    finally:
        await client.close()


async def test_a_long_run_of_frames_over_a_tiny_backlog_is_all_answered_in_order_and_the_connection_stays(
    roomy_server: LivehubProcess, redis: aioredis.Redis
) -> None:
    frames = run_of_frames(240)  # 20 joins: the backlog of 4 fills and drains again and again
    await snapshot_outdated(roomy_server, "b1")
    client = await connect_viewer(roomy_server)
    try:
        async with joins_held(redis):
            for frame in frames:
                await client.send(frame)
            await none_yet(client)
        got = await answers(client, len(frames))
        assert [(a["type"], a.get("id")) for a in got] == [expected_answer(f) for f in frames]
        await nothing_more_then_alive(client)
    finally:
        await client.close()


async def test_frames_beyond_the_inbound_rate_while_a_join_runs_get_rate_limited_once_each_and_the_connection_stays(
    livehub_server: LivehubProcess, redis: aioredis.Redis
) -> None:
    frames = [{"type": "join", "venue": "b2", "id": 0}] + [{"type": "ping", "id": i} for i in range(1, 60)]
    await snapshot_outdated(livehub_server, "b2")
    client = await connect_viewer(livehub_server)
    try:
        async with joins_held(redis):
            for frame in frames:
                await client.send(frame)
            await none_yet(client)
        got = await answers(client, len(frames))
        limited = [a for a in got if a["type"] == "error"]
        answered = [a for a in got if a["type"] != "error"]
        assert all(a["code"] == "rate_limited" for a in limited), limited
        assert len(answered) >= 40  # the burst
        assert [a["id"] for a in answered] == sorted({a["id"] for a in answered})  # in order, once each
        assert answered[0]["type"] == "snapshot" and answered[0]["id"] == 0
        await asyncio.sleep(0.2)  # a few tokens back in the bucket for the last ping
        await nothing_more_then_alive(client)
    finally:
        await client.close()


async def test_a_text_frame_that_is_not_utf8_closes_the_connection_with_1007(livehub_server: LivehubProcess) -> None:
    async with connect(f"{livehub_server.ws}/ws?token={viewer_token('bad-utf8')}") as ws:
        assert orjson.loads(await ws.recv())["type"] == "welcome"
        await ws.send('{"type": "ping", "id": "before"}')
        await ws.send(b'{"type": "ping", "id": "\xff\xfe"}', text=True)
        received = []
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(10):  # a node that ignored the frame would leave the connection open
                while True:
                    received.append(orjson.loads(await ws.recv()))
        assert [(m["type"], m.get("id")) for m in received] == [("reply", "before")]
        assert ws.close_code == 1007
