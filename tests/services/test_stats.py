"""Live numbers over two real `livehub serve` processes on one Redis: counted once as orders are
confirmed on either node, the same on both, pushed to hosts, and still there after a reload."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from livehub.client import Client
from livehub.config import load_festival
from livehub.domain.topology import Host
from livehub.services.stats import LiveStats
from livehub.settings import Settings
from tests.conftest import SMALL_CONFIG, LivehubProcess, api, host_token, new_sale, viewer_token

pytestmark = pytest.mark.asyncio

B1_HOST = host_token("host-b1", "b1")
MAIN_HOST = host_token("host-main", "main")
PRICE = 9_900


async def venue_stats(server: LivehubProcess, venue: str = "b1", token: str = B1_HOST) -> dict[str, Any]:
    status, body = await api("GET", f"{server.http}/api/venues/{venue}/stats", token=token)
    assert status == 200, body
    return body


async def festival_stats(server: LivehubProcess) -> dict[str, Any]:
    status, body = await api("GET", f"{server.http}/api/festival/stats", token=MAIN_HOST)
    assert status == 200, body
    return body


async def eventually(read: Callable[[], Awaitable[dict[str, Any]]], ok: Callable[[dict[str, Any]], bool],
                     timeout: float = 20.0) -> dict[str, Any]:  # fmt: skip
    """The first answer of ``read`` that is ``ok``, polled until ``timeout`` (then the test fails)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        body = await read()
        if ok(body) or loop.time() > deadline:
            return body
        await asyncio.sleep(0.1)


async def buy_and_pay(server: LivehubProcess, sale_id: str, pay: bool = True) -> str:
    """A fresh viewer on ``server`` buys one unit (and pays for it on the same node); its user id."""
    user = "u-" + uuid.uuid4().hex[:8]
    async with await Client.connect(server.ws, viewer_token(user), venue="b1") as client:
        await client.wait_for("snapshot")
        answer = await client.request({"type": "buy", "id": uuid.uuid4().hex, "sale": sale_id, "qty": 1}, timeout=30)
    assert answer["status"] == "ok", answer
    if pay:
        status, paid = await api("POST", f"{server.http}/api/reservations/{answer['reservation']}/pay", {},
                                 viewer_token(user))  # fmt: skip
        assert status == 200 and paid["status"] == "paid", paid
    return user


def sale_of(stats: dict[str, Any], sale_id: str) -> dict[str, Any]:
    (sale,) = [s for s in stats["sales"] if s["sale"] == sale_id]
    return sale


async def test_orders_paid_on_two_nodes_are_counted_once_and_read_the_same_on_both(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    sale = await new_sale(livehub_server, stock=10, price_cents=PRICE)
    before, festival_before = await venue_stats(livehub_server), await festival_stats(livehub_server)
    await buy_and_pay(livehub_server, sale["sale_id"])
    await buy_and_pay(livehub_peer, sale["sale_id"])
    await buy_and_pay(livehub_peer, sale["sale_id"], pay=False)  # a reservation, no order

    expected = before["gmv_cents"] + 2 * PRICE
    after = await eventually(lambda: venue_stats(livehub_peer), lambda b: b["gmv_cents"] >= expected)
    assert after["gmv_cents"] == expected and after["orders"] == before["orders"] + 2
    assert after["units"] == before["units"] + 2 and after["buyers"] >= before["buyers"] + 1
    on_server = await venue_stats(livehub_server)
    for name in ("gmv_cents", "orders", "units", "buyers"):
        assert on_server[name] == after[name], name
    figures = sale_of(after, sale["sale_id"])
    assert (figures["sold"], figures["reserved"], figures["stock"], figures["initial"]) == (2, 1, 7, 10)
    assert after["orders_per_minute"][-1] >= 2 and len(after["orders_per_minute"]) == 30
    assert after["live_sale"] is not None and after["reservations"] >= 1

    festival = await eventually(lambda: festival_stats(livehub_peer),
                                lambda b: b["gmv_cents"] >= festival_before["gmv_cents"] + 2 * PRICE)  # fmt: skip
    assert festival["gmv_cents"] == festival_before["gmv_cents"] + 2 * PRICE
    (b1,) = [v for v in festival["venues"] if v["venue"] == "b1"]
    assert b1["gmv_cents"] == after["gmv_cents"] and b1["orders"] == after["orders"]
    assert {v["venue"] for v in festival["venues"]} == {"main", "b1", "b2", "b3"}
    assert any(b["brand"] == "b1" for b in festival["brands"]) and "guides" in festival


async def test_a_sale_created_on_one_node_is_in_the_other_nodes_numbers_at_once(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    sale = await new_sale(livehub_server, stock=3, price_cents=PRICE)
    figures = sale_of(await venue_stats(livehub_peer), sale["sale_id"])  # no wait for the peer's sweep
    assert (figures["stock"], figures["initial"], figures["sold"]) == (3, 3, 0)


async def test_a_sold_out_sale_gets_its_sell_out_time(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    sale = await new_sale(livehub_server, stock=1, price_cents=PRICE)
    await buy_and_pay(livehub_peer, sale["sale_id"])
    after = await eventually(lambda: venue_stats(livehub_server),
                             lambda b: sale_of(b, sale["sale_id"])["sold_out_at"] is not None)  # fmt: skip
    figures = sale_of(after, sale["sale_id"])
    assert figures["stock"] == 0 and figures["sold"] == 1
    assert figures["sold_out_at"] >= sale["starts_at_ms"]


async def test_hosts_get_the_numbers_once_a_second_and_a_reload_shows_them_again(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    sale = await new_sale(livehub_server, stock=10, price_cents=PRICE)
    async with await Client.connect(livehub_peer.ws, B1_HOST, venue="b1") as host:
        first = await host.wait_for("stats", venue="b1")
        await buy_and_pay(livehub_server, sale["sale_id"])  # paid on the other node
        expected = first["gmv_cents"] + PRICE
        while (frame := await host.wait_for("stats", venue="b1", timeout=20))["gmv_cents"] < expected:
            pass
        assert frame["gmv_cents"] == expected and sale_of(frame, sale["sale_id"])["sold"] == 1
    # a reload: a new connection's first frame already has every order (kept in Redis, not in a page)
    async with await Client.connect(livehub_server.ws, B1_HOST, venue="b1") as again:
        reloaded = await again.wait_for("stats", venue="b1")
        assert reloaded["gmv_cents"] >= expected and sale_of(reloaded, sale["sale_id"])["sold"] == 1


async def test_the_main_host_gets_the_festival_numbers_and_a_brand_host_does_not(
    livehub_server: LivehubProcess,
) -> None:
    async with await Client.connect(livehub_server.ws, MAIN_HOST, venue="main") as main:
        grid = await main.wait_for("festival_stats")
        assert {v["venue"] for v in grid["venues"]} == {"main", "b1", "b2", "b3"}
        assert "guides" not in grid  # the leaderboard frame carries them
        assert (await main.wait_for("stats"))["venue"] == "main"
    async with await Client.connect(livehub_server.ws, B1_HOST, venue="b1") as brand:
        seen: list[str] = []
        while seen.count("stats") < 2:  # two ticks: a festival frame would have come in between
            seen.append((await brand.next())["type"])
        assert "festival_stats" not in seen


async def test_the_stats_routes_are_for_the_venues_hosts_and_the_main_host(livehub_server: LivehubProcess) -> None:
    http = livehub_server.http
    assert (await api("GET", f"{http}/api/venues/b1/stats", token=MAIN_HOST))[0] == 200
    assert (await api("GET", f"{http}/api/venues/b1/stats", token=host_token("host-b2", "b2")))[0] == 403
    assert (await api("GET", f"{http}/api/venues/b1/stats", token=viewer_token("u1")))[0] == 403
    assert (await api("GET", f"{http}/api/venues/b1/stats"))[0] == 401
    assert (await api("GET", f"{http}/api/festival/stats", token=B1_HOST))[0] == 403
    status, body = await api("GET", f"{http}/api/venues/b1/stats?minutes=0", token=B1_HOST)
    assert status == 400 and "minutes" in body["message"]
    status, body = await api("GET", f"{http}/api/venues/b1/stats?minutes=5", token=B1_HOST)
    assert status == 200 and len(body["orders_per_minute"]) == 5


class RecordingStore:
    """The part of StatsStore that flush_viewers uses, recording what it was given."""

    def __init__(self) -> None:
        self.added: list[dict[str, set[str]]] = []

    async def add_viewers(self, viewers: dict[str, set[str]]) -> None:
        self.added.append({scope: set(ids) for scope, ids in viewers.items()})


async def test_viewers_are_batched_per_tick_unique_and_bounded_by_the_pending_limit() -> None:
    store = RecordingStore()
    stats = LiveStats(Settings(stats_viewers_pending_max=4), load_festival(SMALL_CONFIG), None, None, None,  # type: ignore[arg-type]
                      store, None, None)  # type: ignore[arg-type]  # fmt: skip
    stats.saw_viewer("b1", "u1")
    stats.saw_viewer("b1", "u1")  # the same viewer again: nothing more to send
    stats.saw_viewer("b2", "u2")  # two scopes each: the batch is full now (4)
    stats.saw_viewer("b3", "u3")
    assert stats.viewers_skipped == 1
    await stats.flush_viewers()
    assert store.added == [{"v:b1": {"u1"}, "v:b2": {"u2"}, "festival": {"u1", "u2"}}]
    await stats.flush_viewers()  # nothing seen since: no round trip
    stats.saw_viewer("b3", "u3")  # a new tick has room again
    await stats.flush_viewers()
    assert store.added[1:] == [{"v:b3": {"u3"}, "festival": {"u3"}}]


class RecordingHub:
    """The part of the hub the push uses: b1's two hosts and the main host connected here."""

    channels = {"host:host-b1": None, "host:host-b1-2": None, "host:host-main": None, "b1": None}

    def __init__(self) -> None:
        self.delivered: list[tuple[str, Any]] = []

    def count(self, channel: str) -> int:
        return 1

    def deliver(self, channel: str, item: Any) -> None:
        self.delivered.append((channel, item))


async def test_the_push_builds_each_frame_once_for_every_host_channel_of_its_venue() -> None:
    hub = RecordingHub()
    small = load_festival(SMALL_CONFIG)
    second = Host("host-b1-2", "b1", "Lotus Tea co-host", "")
    festival = dataclasses.replace(small, hosts={**small.hosts, second.id: second})
    stats = LiveStats(Settings(), festival, hub, None, None, None, None, None)  # type: ignore[arg-type]

    async def venue_stats(venue: str, **_: Any) -> dict[str, Any]:
        return {"venue": venue, "gmv_cents": 1}

    async def festival_stats(**_: Any) -> dict[str, Any]:
        return {"gmv_cents": 2}

    stats.venue_stats = venue_stats  # type: ignore[method-assign,assignment]
    stats.festival_stats = festival_stats  # type: ignore[method-assign,assignment]
    await stats.push({"main": 0, "b1": 0, "b2": 0, "b3": 0}, now=7)
    kinds = sorted((channel, item.message["type"], item.message.get("venue")) for channel, item in hub.delivered)
    assert kinds == [("host:host-b1", "stats", "b1"), ("host:host-b1-2", "stats", "b1"),
                     ("host:host-main", "festival_stats", None), ("host:host-main", "stats", "main")]  # fmt: skip
    b1, b1_again = [item for channel, item in hub.delivered if channel.startswith("host:host-b1")]
    assert b1 is b1_again  # one item, so one encoded frame, for both hosts of the venue
    assert all(item.key in ("stats", "festival_stats") for _, item in hub.delivered)  # latest value: coalesced
