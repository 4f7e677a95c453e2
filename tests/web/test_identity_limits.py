"""Rates per identity, not per connection, over real websockets and HTTP on a ``livehub serve`` whose
per-identity buckets hold a small burst and then (practically) never refill: one token spread over many
connections gets one burst of comments, likes and buys in all, the HTTP buy twin counts in the same bucket
as the websocket buys, and every refusal is ``rate_limited`` with its request id and ``retry_after_ms``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from livehub import errors
from livehub.client import Client, ClientError
from tests.conftest import HUB_ENV, LivehubProcess, api, new_sale, running, viewer_token

BURST = 3
CONNECTIONS = 8  # max_connections_per_identity


@pytest.fixture(scope="module")
def strict_identities(redis_url: str) -> Iterator[LivehubProcess]:
    never = "0.0001"  # per second: no refill within a test
    env = {**HUB_ENV, "LIVEHUB_COMMENT_RATE": never, "LIVEHUB_COMMENT_BURST": str(BURST),
           "LIVEHUB_IDENTITY_LIKE_RATE": never, "LIVEHUB_IDENTITY_LIKE_BURST": "100",
           "LIVEHUB_IDENTITY_BUY_RATE": never, "LIVEHUB_IDENTITY_BUY_BURST": str(BURST),
           "LIVEHUB_IDENTITY_GRAB_RATE": never, "LIVEHUB_IDENTITY_GRAB_BURST": str(BURST),
           "LIVEHUB_MAX_CONNECTIONS_PER_IDENTITY": str(CONNECTIONS)}  # fmt: skip
    with running(redis_url, "il" + uuid.uuid4().hex[:8], env) as server:
        yield server


async def connections(server: LivehubProcess, user: str, n: int = CONNECTIONS) -> list[Client]:
    clients = await asyncio.gather(*(Client.connect(server.ws, viewer_token(user), venue="b1") for _ in range(n)))
    await asyncio.gather(*(c.wait_for("snapshot") for c in clients))
    return list(clients)


async def outcome(client: Client, message: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"type": "reply", **await client.request(message)}
    except ClientError as exc:
        return exc.frame


async def test_one_token_on_many_connections_gets_one_burst_of_comments(strict_identities: LivehubProcess) -> None:
    clients = await connections(strict_identities, "talker-" + uuid.uuid4().hex[:6])
    try:
        got = await asyncio.gather(*(outcome(c, {"type": "comment", "id": f"c{i}-{k}", "text": "hi"})
                                     for i, c in enumerate(clients) for k in range(2)))  # fmt: skip
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    passed = [g for g in got if g["type"] == "reply"]
    refused = [g for g in got if g["type"] == "error"]
    assert len(passed) == BURST, got  # not 3 per connection
    assert {g["code"] for g in refused} == {errors.RATE_LIMITED}
    assert all(g["id"].startswith("c") and g["retry_after_ms"] > 0 for g in refused)


async def test_one_token_on_many_connections_gets_one_burst_of_likes(strict_identities: LivehubProcess) -> None:
    clients = await connections(strict_identities, "liker-" + uuid.uuid4().hex[:6])
    try:
        got = await asyncio.gather(*(outcome(c, {"type": "like", "id": f"l{i}", "n": 50})
                                     for i, c in enumerate(clients)))  # fmt: skip
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    assert sorted(g["type"] for g in got) == ["error"] * (CONNECTIONS - 2) + ["reply"] * 2, got  # 100 likes in all
    assert {g["code"] for g in got if g["type"] == "error"} == {errors.RATE_LIMITED}


async def test_http_buys_count_in_the_same_bucket_as_the_users_websocket_buys(
    strict_identities: LivehubProcess,
) -> None:
    sale = await new_sale(strict_identities, stock=50, per_user_limit=10)
    user = "buyer-" + uuid.uuid4().hex[:6]
    token = viewer_token(user)
    url = f"{strict_identities.http}/api/sales/{sale['sale_id']}/buy"
    clients = await connections(strict_identities, user, 2)
    try:
        first = await outcome(clients[0], {"type": "buy", "id": "w1", "sale": sale["sale_id"], "qty": 1})
        second = await outcome(clients[1], {"type": "buy", "id": "w2", "sale": sale["sale_id"], "qty": 1})
        status, third = await api("POST", url, {"id": "h1", "qty": 1}, token)
        assert (first["status"], second["status"], status, third["status"]) == ("ok", "ok", 200, "ok")
        refused = await outcome(clients[0], {"type": "buy", "id": "w3", "sale": sale["sale_id"], "qty": 1})
        assert (refused["type"], refused["code"], refused["id"]) == ("error", errors.RATE_LIMITED, "w3")
        assert refused["retry_after_ms"] > 0
        status, over_http = await api("POST", url, {"id": "h2", "qty": 1}, token)
        assert (status, over_http["code"]) == (429, errors.RATE_LIMITED) and over_http["retry_after_ms"] > 0
        status, other = await api("POST", url, {"id": "h1", "qty": 1}, viewer_token("other-" + uuid.uuid4().hex[:6]))
        assert (status, other["status"]) == (200, "ok")  # another user has their own bucket
    finally:
        await asyncio.gather(*(c.close() for c in clients))
