"""Redis faults with livehub nodes running: Redis paused (SIGSTOP), restarted with its data
(AOF), restarted empty; and joins that meet Redis down.  Each test has its own redis-server."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from livehub.client import Client, ClientError, Closed
from livehub.store.keys import Keys
from tests.conftest import LivehubProcess, viewer_token
from tests.reliability.support import (
    FAULT_ENV,
    OwnRedis,
    eventually,
    new_sale,
    node,
    publish,
    ready,
    sale_state,
    viewer,
)

pytestmark = pytest.mark.asyncio

SOCKET_TIMEOUT_S = float(FAULT_ENV["LIVEHUB_REDIS_SOCKET_TIMEOUT_S"])


@pytest.fixture
def aof_redis() -> Iterator[OwnRedis]:
    server = OwnRedis(aof=True).start()
    try:
        yield server
    finally:
        server.stop()


def rss_kb(server: LivehubProcess) -> int:
    assert server.process is not None
    with open(f"/proc/{server.process.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def buy(client: Client, sale_id: str, request_id: str | None = None) -> dict[str, Any]:
    try:
        return await client.request({"type": "buy", "id": request_id or uuid.uuid4().hex, "sale": sale_id, "qty": 1},
                                    timeout=30)  # fmt: skip
    except ClientError as exc:
        return {"status": "error", "code": exc.code}


async def every_client_gets(clients: list[Client], text: str) -> None:
    for c in clients:
        await c.wait_for("event", timeout=20, kind="announcement", data={"text": text})
    assert all(c.gaps == [] for c in clients), [c.gaps for c in clients if c.gaps]


async def test_redis_paused_for_ten_seconds_buys_answer_unavailable_in_time_and_every_node_recovers_by_itself(
    redis_server: OwnRedis,
) -> None:
    prefix = "pause" + uuid.uuid4().hex[:6]
    a, b = node(redis_server, prefix), node(redis_server, prefix)
    clients: list[Client] = []
    try:
        sale = await new_sale(a, "b1", stock=50)
        clients = [await viewer((a, b)[i % 2], "b1") for i in range(10)]
        buyers = clients[0::2]  # on node a
        assert (await buy(buyers[0], sale["sale_id"]))["status"] == "ok"
        rss_before = rss_kb(a)

        redis_server.pause()
        paused_at = time.monotonic()
        answers: list[tuple[float, dict[str, Any]]] = []
        while time.monotonic() - paused_at < 10:  # buys keep coming during the whole stall
            started = time.monotonic()
            answer = await asyncio.wait_for(buy(buyers[len(answers) % len(buyers)], sale["sale_id"]), 30)
            answers.append((time.monotonic() - started, answer))
        assert await ready(a) == 503 and await ready(b) == 503
        redis_server.resume()

        assert answers and all(answer == {"status": "error", "code": "unavailable"} for _, answer in answers), answers
        slowest = max(took for took, _ in answers)
        assert slowest < SOCKET_TIMEOUT_S + 1.5, f"a buy waited {slowest:.1f} s (bound {SOCKET_TIMEOUT_S} s)"
        assert rss_kb(a) - rss_before < 50_000  # kB: a stall queues nothing without bound

        # by itself, with nothing restarted: ready again, events flow to every viewer, buys succeed
        await eventually(lambda: _both_ready(a, b), "both nodes ready again")
        status, _ = await publish(a, "b1", "announcement", {"text": "after the stall"})
        assert status == 200
        await every_client_gets(clients, "after the stall")
        assert (await buy(buyers[1], sale["sale_id"]))["status"] == "ok"
        state = await sale_state(b, sale["sale_id"])
        assert state["balanced"] and state["reserved"] == 2
        # the subscribers saw no PONG during the stall, reconnected and checked their positions
        assert all("pub/sub connection back" in s.log() for s in (a, b))
    finally:
        redis_server.resume()
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        a.stop()
        b.stop()


async def _both_ready(*servers: LivehubProcess) -> bool:
    return all([await ready(s) == 200 for s in servers])


async def test_redis_restarted_with_its_data_nodes_reconnect_by_themselves_and_viewers_miss_nothing(
    aof_redis: OwnRedis,
) -> None:
    prefix = "aof" + uuid.uuid4().hex[:6]
    a, b = node(aof_redis, prefix), node(aof_redis, prefix)
    clients: list[Client] = []
    try:
        sale = await new_sale(a, "b1", stock=20)
        clients = [await viewer((a, b)[i % 2], "b1") for i in range(8)]
        won = [await buy(c, sale["sale_id"]) for c in clients[:4]]
        assert [w["status"] for w in won] == ["ok"] * 4  # acknowledged: fsynced (appendfsync always)
        await publish(a, "b1", "announcement", {"text": "before"})
        await every_client_gets(clients, "before")

        aof_redis.kill()
        aof_redis.start()

        # nodes reconnect by themselves; the first publish may race a node's resubscribe: the
        # position check delivers it anyway, once
        await eventually(lambda: _both_ready(a, b), "both nodes ready again")
        # once ready, no call fails on a connection left from before the restart (health check, retry)
        for server in (a, b, a, b):
            status, body = await publish(server, "b1", "announcement", {"text": "after"})
            assert status == 200, body
        await every_client_gets(clients, "after")
        clients.append(await viewer(b, "b1"))  # joins work at once too
        state = await sale_state(b, sale["sale_id"])
        assert state["balanced"] and state["reserved"] == 4 and state["available"] == 16
        again = await buy(clients[5], sale["sale_id"])
        assert again["status"] == "ok", again  # buys work again
        assert all(c.close_code is None for c in clients)  # nobody had to reconnect
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        a.stop()
        b.stop()


async def _published(server: LivehubProcess, text: str) -> bool:
    status, _ = await publish(server, "b1", "announcement", {"text": text})
    return status == 200


async def test_redis_restarted_empty_is_a_new_epoch_viewers_resume_with_fresh_snapshots_and_stores_are_reindexed(
    redis_server: OwnRedis,
) -> None:
    prefix = "empty" + uuid.uuid4().hex[:6]
    a, b = node(redis_server, prefix), node(redis_server, prefix)
    clients: list[Client] = []
    try:
        clients = [await viewer((a, b)[i % 2], "b1") for i in range(6)]
        await publish(a, "b1", "announcement", {"text": "before"})
        await every_client_gets(clients, "before")
        old_epoch = clients[0].positions["b1"][0]

        redis_server.kill()
        redis_server.wipe()
        redis_server.start()

        # the position check sees the channels gone: every viewer is told to resume (4009) ...
        for c in clients:
            with pytest.raises(Closed) as closed:
                while True:
                    await c.next(timeout=20)
            assert closed.value.code == 4009
        # ... and resumes (on either node) with a fresh snapshot of the new epoch
        snaps = [await c.resume() for c in clients]
        assert all(s["recovered"] is False for s in snaps)
        assert {c.positions["b1"][0] for c in clients} != {old_epoch}
        await eventually(lambda: _published(b, "new epoch"), "a publish in the new epoch")
        await every_client_gets(clients, "new epoch")

        # the store index came back too: a buy is routed to a store again, not the warehouse
        r = aioredis.Redis.from_url(redis_server.url)
        try:
            await eventually(lambda: r.exists(Keys(prefix).stores_loaded("small")), "the stores re-indexed")
            assert await r.exists(Keys(prefix).brand_stores("b1"))
        finally:
            await r.aclose()
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        a.stop()
        b.stop()


async def test_joins_that_meet_redis_down_leave_no_zombie_and_succeed_once_it_is_back(redis_server: OwnRedis) -> None:
    prefix = "zombie" + uuid.uuid4().hex[:6]
    a = node(redis_server, prefix)
    clients: list[Client] = []
    try:
        clients = [await Client.connect(a.ws, viewer_token(f"z{i}")) for i in range(10)]  # connected, not joined
        redis_server.kill()
        for c in clients:  # a join now is refused cleanly: unavailable, never internal or a dropped socket
            with pytest.raises(ClientError) as refused:
                await c.join("b1", attempts=1)
            assert refused.value.code == "unavailable"
        with pytest.raises(Closed) as closed:  # the URL's join: the error, then 1013 "reconnect later"
            late = await Client.connect(a.ws, viewer_token("z-url"), venue="b1")
            await late.wait_for("snapshot", timeout=15)
        assert closed.value.code == 1013
        assert 'livehub_connections{node="' not in await _metric_lines(a, 'venue="b1"')  # counted nowhere

        redis_server.start()
        await eventually(lambda: _both_ready(a), "the node ready again")
        for c in clients:
            await c.join("b1")  # (retried while Redis is still coming back)
        await eventually(lambda: _published(a, "live"), "a publish")
        await every_client_gets(clients, "live")
        assert 'venue="b1"} 10' in await _metric_lines(a, 'venue="b1"')
        assert "Traceback" not in a.log()
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        a.stop()


async def _metric_lines(server: LivehubProcess, needle: str) -> str:
    import urllib.request

    def read() -> str:
        with urllib.request.urlopen(server.http + "/metrics", timeout=5) as r:
            return r.read().decode()

    text = await asyncio.to_thread(read)
    return "\n".join(line for line in text.splitlines() if line.startswith("livehub_connections") and needle in line)
