"""A realistic crowd on a fresh node: hundreds of viewers join at once while hosts drive the
show over HTTP (the locust run that wedged a node: every join timed out in subscribe)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from livehub.client import Client
from tests.conftest import LivehubProcess, host_token
from tests.reliability.support import OwnRedis, api, new_sale, node, publish, viewer

pytestmark = pytest.mark.asyncio

VENUES = ("main", "b1", "b2", "b3")


async def hosts_driving(server: LivehubProcess, stop: asyncio.Event, hosts: int = 12) -> dict[int, int]:
    """Hosts posting announcements, cards, sales and calls to action until ``stop``."""
    statuses: dict[int, int] = {}
    counter = itertools.count()

    async def host(i: int) -> None:
        venue = VENUES[i % len(VENUES)]
        token = host_token(f"host-{venue}", venue)
        while not stop.is_set():
            n = next(counter)
            if n % 4 == 0 and venue != "main":
                await new_sale(server, venue, stock=5)
                status = 201
            elif n % 4 == 1 and venue != "main":
                card = {"sku": f"{venue}-sku1"}
                status, _ = await api("POST", f"{server.http}/api/venues/{venue}/cards", card, token)
            elif n % 4 == 2 and venue == "main":
                cta = {"target": "b1", "text": "go"}
                status, _ = await api("POST", f"{server.http}/api/venues/main/cta", cta, token)
            else:
                status, _ = await publish(server, venue, "announcement", {"n": n})
            statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(host(i) for i in range(hosts)))
    return statuses


async def test_three_hundred_viewers_joining_a_fresh_node_while_hosts_post_all_get_snapshots_and_events(
    redis_server: OwnRedis,
) -> None:
    # a small pool: the hosts' HTTP calls hold connections while the first joins subscribe
    server = node(redis_server, "crowd", LIVEHUB_REDIS_POOL_SIZE="6")
    clients: list[Client] = []
    try:
        stop = asyncio.Event()
        driving = asyncio.create_task(hosts_driving(server, stop))
        await asyncio.sleep(0.3)  # the hosts are busy before the crowd arrives
        joined = await asyncio.wait_for(
            asyncio.gather(*(viewer(server, VENUES[i % 4]) for i in range(300)), return_exceptions=True), 60
        )
        clients = [c for c in joined if isinstance(c, Client)]
        failures = [repr(c) for c in joined if not isinstance(c, Client)]
        stop.set()
        statuses = await asyncio.wait_for(driving, 30)
        assert failures == [], failures[:5]
        assert set(statuses) <= {200, 201}, statuses

        # every viewer is live: an announcement on the main venue reaches every room (1+N)
        status, _ = await publish(server, "main", "announcement", {"text": "everyone"})
        assert status == 200
        for c in clients:
            frame = await c.wait_for("event", timeout=15, kind="announcement", ch="main",
                                     data={"text": "everyone"})  # fmt: skip
            assert frame["ch"] == "main"
        assert all(c.gaps == [] for c in clients)

        # and the node is healthy afterwards: new viewers join at once
        late = await asyncio.wait_for(asyncio.gather(*(viewer(server, VENUES[i % 4]) for i in range(40))), 30)
        clients += late
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        server.stop()
