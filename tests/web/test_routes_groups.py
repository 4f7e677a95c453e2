"""Group buys over HTTP and websockets on two `livehub serve` processes sharing one real Redis
(livehub.web.routes_groups, livehub.services.group_buying): completion at the N-th member,
expiry refunded once with both nodes' sweepers racing, one join per user, the live state."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from livehub.client import Client
from livehub.domain.group_rules import member_order_id, refund_id
from livehub.services.payments import signed_headers
from livehub.store.keys import Keys
from tests.conftest import PAYMENT_SECRET, LivehubProcess, api, host_token, viewer_token

pytestmark = pytest.mark.asyncio


async def new_deal(server: LivehubProcess, **fields: object) -> dict[str, Any]:
    body = {"sku": "b1-sku1", "group_size": 3, "group_price_cents": 4900, "groups": 5, "duration_s": 600,
            "group_ttl_s": 600, "deal_id": f"gd-{uuid.uuid4().hex[:10]}", **fields}  # fmt: skip
    status, out = await api("POST", f"{server.http}/api/venues/b1/groupdeals", body, host_token("host-b1", "b1"))
    assert status == 201, out
    return out["deal"]  # type: ignore[no-any-return]


async def start(server: LivehubProcess, deal: str, user: str, request_id: str = "s1") -> dict[str, Any]:
    status, out = await api("POST", f"{server.http}/api/groupdeals/{deal}/groups", {"id": request_id},
                            viewer_token(user))  # fmt: skip
    assert status == 200, out
    return out


async def join(
    server: LivehubProcess, group: str, user: str, request_id: str = "j1", query: str = ""
) -> dict[str, Any]:
    url = f"{server.http}/api/groups/{group}/join{query}"
    status, out = await api("POST", url, {"id": request_id}, viewer_token(user))
    assert status == 200, out
    return out


async def group_of(server: LivehubProcess, group: str) -> dict[str, Any]:
    status, out = await api("GET", f"{server.http}/api/groups/{group}")
    assert status == 200, out
    return out


async def until(check: Callable[[], Any], what: str, tries: int = 150) -> Any:
    for _ in range(tries):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
async def redis(redis_url: str, hub_prefix: str) -> Any:
    client = aioredis.Redis.from_url(redis_url)
    yield client, Keys(hub_prefix)
    await client.aclose()


async def orders_of(redis: Any, group: str) -> list[dict[bytes, bytes]]:
    client, keys = redis
    return [f for _id, f in await client.xrange(keys.orders_stream()) if f[b"reservation_id"] == group.encode()]


async def refunds_of(redis: Any, group: str) -> list[dict[bytes, bytes]]:
    client, keys = redis
    return [f for _id, f in await client.xrange(keys.refunds_stream()) if f[b"group_id"] == group.encode()]


async def test_a_group_completes_exactly_when_the_nth_member_pays_on_either_node(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess, redis: Any
) -> None:
    deal = await new_deal(livehub_server)
    started = await start(livehub_server, deal["deal"], "gb-ann")
    assert (started["status"], started["joined"], started["size"]) == ("joined", 1, 3)
    group = started["group"]
    assert started["share"] == f"/watch?venue=b1&group={group}"
    assert (await join(livehub_peer, group, "gb-bo"))["status"] == "joined"
    seen = await group_of(livehub_peer, group)
    assert (seen["state"], seen["joined"], seen["deal"]["group_price_cents"]) == ("open", 2, 4900)
    assert await orders_of(redis, group) == []  # two of three: nobody's order yet
    last = await join(livehub_server, group, "gb-cy", query="?guide=g-b1-1")  # a guide's share link
    assert (last["status"], last["joined"]) == ("completed", 3)
    assert (await group_of(livehub_peer, group))["state"] == "completed"
    orders = await orders_of(redis, group)
    assert sorted(o[b"order_id"].decode() for o in orders) == sorted(
        member_order_id(deal["deal"], group, u) for u in ("gb-ann", "gb-bo", "gb-cy"))  # fmt: skip
    assert {o[b"user"]: o[b"guide_id"] for o in orders} == {b"gb-ann": b"", b"gb-bo": b"", b"gb-cy": b"b1-g1"}
    late = await join(livehub_peer, group, "gb-dee")
    assert late["status"] == "full"
    assert len(await orders_of(redis, group)) == 3


async def test_a_user_cannot_join_a_group_twice_even_on_two_nodes_at_once(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    deal = await new_deal(livehub_server, group_size=5)
    group = (await start(livehub_server, deal["deal"], "gb-eve"))["group"]
    nodes = [livehub_server, livehub_peer]
    answers = await asyncio.gather(*(join(nodes[i % 2], group, "gb-fay", f"j{i}") for i in range(8)))
    assert sorted(a["status"] for a in answers) == ["already_member"] * 7 + ["joined"]
    assert (await join(livehub_peer, group, "gb-eve", "j9"))["status"] == "already_member"  # the starter too
    assert (await group_of(livehub_server, group))["joined"] == 2


async def test_expiry_refunds_every_member_once_with_both_nodes_sweepers_racing(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess, redis: Any
) -> None:
    deal = await new_deal(livehub_server, groups=1, group_ttl_s=1)
    group = (await start(livehub_server, deal["deal"], "gb-gus"))["group"]
    assert (await start(livehub_peer, deal["deal"], "gb-hal"))["status"] == "no_stock"
    await join(livehub_peer, group, "gb-hal")

    async def expired() -> bool:
        return (await group_of(livehub_peer, group))["state"] == "expired"

    await until(expired, "the group expired")
    assert (await join(livehub_server, group, "gb-ivy"))["status"] == "expired"
    refunds = await until(lambda: refunds_of(redis, group), "refunds published")
    for _ in range(5):  # both nodes sweep every 0.2 s: a few more rounds change nothing
        await asyncio.sleep(0.3)
        refunds = await refunds_of(redis, group)
        assert sorted((r[b"user"], r[b"amount_cents"]) for r in refunds) == [(b"gb-gus", b"4900"), (b"gb-hal", b"4900")]
    client, keys = redis
    settled = await client.hgetall(keys.refunds_settled())
    assert {refund_id(group, "gb-gus").encode(), refund_id(group, "gb-hal").encode()} <= set(settled)
    assert await orders_of(redis, group) == []
    again = await start(livehub_server, deal["deal"], "gb-hal", "s2")  # the stock came back
    assert again["status"] == "joined"


async def test_viewers_on_both_nodes_see_open_groups_fill_up_live_and_in_the_snapshot(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    deal = await new_deal(livehub_server, group_size=2)
    watcher = await Client.connect(livehub_peer.ws, viewer_token("gb-watch"), venue="b1")
    try:
        await watcher.wait_for("snapshot")
        group = (await start(livehub_server, deal["deal"], "gb-jo"))["group"]

        async def seen(kind: str) -> dict[str, Any]:
            while True:
                frame = await watcher.wait_for("event", timeout=15)
                if frame.get("kind") == kind and frame["data"]["deal"]["deal"] == deal["deal"]:
                    return frame["data"]  # type: ignore[no-any-return]

        updated = await seen("groups.updated")
        assert [(g["group"], g["joined"], g["size"]) for g in updated["groups"]] == [(group, 1, 2)]
        late = await Client.connect(livehub_server.ws, viewer_token("gb-late"), venue="b1")
        try:
            snapshot = await late.wait_for("snapshot")
            state = snapshot["state"]["b1"]["groupdeals"][deal["deal"]]
            assert [(g["group"], g["joined"]) for g in state["groups"]] == [(group, 1)]
        finally:
            await late.close()
        await join(livehub_server, group, "gb-kim")
        completed = await seen("groups.completed")
        assert [(g["group"], g["state"]) for g in completed["settled"]] == [(group, "completed")]
        assert completed["groups"] == []
    finally:
        await watcher.close()


async def test_the_payment_provider_starts_and_joins_for_a_buyer_it_charged(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess, redis: Any
) -> None:
    deal = await new_deal(livehub_server, group_size=2)

    def callback(server: LivehubProcess, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        raw = orjson.dumps(body)
        return provider_call(server, raw, signed_headers(PAYMENT_SECRET, raw, time.time()))

    status, started = await asyncio.to_thread(callback, livehub_server, {
        "action": "start", "deal": deal["deal"], "user": "gb-lu", "id": "c1", "payment_ref": "psp-1"})  # fmt: skip
    assert (status, started["status"]) == (200, "joined"), started
    status, joined = await asyncio.to_thread(callback, livehub_peer, {
        "action": "join", "group": started["group"], "user": "gb-mo", "id": "c2", "payment_ref": "psp-2"})  # fmt: skip
    assert (status, joined["status"]) == (200, "completed"), joined
    orders = await orders_of(redis, started["group"])
    assert sorted(o[b"payment_ref"] for o in orders) == [b"psp-1", b"psp-2"]
    status, out = await asyncio.to_thread(callback, livehub_peer, {"action": "join", "group": started["group"]})
    assert (status, out["code"]) == (400, "bad_request")
    raw = orjson.dumps({"action": "join", "group": started["group"], "user": "x", "id": "1", "payment_ref": "p"})
    status, out = await asyncio.to_thread(provider_call, livehub_peer, raw, {})
    assert (status, out["code"]) == (401, "unauthorized")  # unsigned


def provider_call(server: LivehubProcess, raw: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """POST ``raw`` to the provider's group route with ``headers`` (signed or not)."""
    req = urllib.request.Request(f"{server.http}/api/payments/groups", data=raw, method="POST")
    for name, value in headers.items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, orjson.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read() or b"{}")


async def test_bad_input_is_refused_naming_the_field_and_unknown_ids_are_not_found(
    livehub_server: LivehubProcess,
) -> None:
    host = host_token("host-b1", "b1")
    url = f"{livehub_server.http}/api/venues/b1/groupdeals"
    for body, field in (({"sku": "b1-sku1", "group_size": "3", "groups": 1}, "group_size"),
                        ({"sku": "b1-sku1", "group_size": 51, "groups": 1}, "group_size"),
                        ({"sku": "b1-sku1", "groups": 0}, "groups"),
                        ({"sku": "b1-sku1", "groups": 1, "deal_id": "d" * 41}, "deal_id")):  # fmt: skip
        status, out = await api("POST", url, body, host)
        assert (status, out["code"], out.get("details", {}).get("field")) == (400, "bad_request", field), out
    deal = await new_deal(livehub_server)
    viewer = viewer_token("gb-bad")
    starts = f"{livehub_server.http}/api/groupdeals/{deal['deal']}/groups"
    for body in ({}, {"id": "a b"}, {"id": 7}):
        status, out = await api("POST", starts, body, viewer)
        assert (status, out["code"], out["details"]["field"]) == (400, "bad_request", "id")
    for path in ("/api/groups/not-a-group", f"/api/groups/{deal['deal']}.g0123456789abcdef"):
        status, out = await api("GET", livehub_server.http + path)
        assert (status, out["code"]) == (404, "not_found")
        status, out = await api("POST", livehub_server.http + path + "/join", {"id": "j1"}, viewer)
        assert (status, out["code"]) == (404, "not_found")
    status, out = await api("POST", f"{livehub_server.http}/api/groupdeals/no-such-deal/groups", {"id": "s1"}, viewer)
    assert (status, out["code"]) == (404, "not_found")


async def test_outside_demo_mode_viewers_pay_through_the_provider_and_refunds_wait_for_its_worker(
    secure_server: LivehubProcess, redis_url: str
) -> None:
    deal = await new_deal(secure_server, group_size=2, group_ttl_s=1)
    status, out = await api("POST", f"{secure_server.http}/api/groupdeals/{deal['deal']}/groups", {"id": "s1"},
                            viewer_token("gb-nat"))  # fmt: skip
    assert (status, out["code"]) == (404, "not_found")  # no simulated payment outside demo mode
    raw = orjson.dumps({"action": "start", "deal": deal["deal"], "user": "gb-nat", "id": "s1", "payment_ref": "psp-9"})
    status, started = await asyncio.to_thread(provider_call, secure_server, raw,
                                              signed_headers(PAYMENT_SECRET, raw, time.time()))  # fmt: skip
    assert (status, started["status"]) == (200, "joined"), started
    client, keys = aioredis.Redis.from_url(redis_url), Keys(secure_server.prefix)
    try:
        refunds = await until(lambda: refunds_of((client, keys), started["group"]), "the refund published")
        assert [(r[b"user"], r[b"payment_ref"]) for r in refunds] == [(b"gb-nat", b"psp-9")]
        assert await client.hgetall(keys.refunds_settled()) == {}  # the provider's worker settles it
    finally:
        await client.aclose()


async def test_a_members_group_buys_are_in_their_orders_on_either_node_and_a_refused_join_is_not(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    deal = await new_deal(livehub_server, group_size=2)
    group = (await start(livehub_server, deal["deal"], "gb-mine"))["group"]

    async def orders(server: LivehubProcess, user: str) -> list[dict[str, Any]]:
        status, out = await api("GET", f"{server.http}/api/me/orders", None, viewer_token(user))
        assert status == 200, out
        return [o for o in out["orders"] if o["kind"] == "group_buy"]

    (mine,) = await orders(livehub_peer, "gb-mine")  # started on one node, listed by the other
    assert (mine["group"], mine["state"], mine["joined"]) == (group, "open", 1)
    assert mine["title"] == "Longjing green tea 250g"
    assert (await join(livehub_peer, group, "gb-yours"))["status"] == "completed"
    (theirs,) = await orders(livehub_server, "gb-yours")
    assert (theirs["group"], theirs["state"]) == (group, "completed")
    assert (await join(livehub_server, group, "gb-late"))["status"] == "full"
    assert await orders(livehub_server, "gb-late") == []  # refused: no entry left behind
