"""Per-user limits hold per *user*, not per connection or node: one user on twelve websocket connections
spread over two real ``livehub serve`` processes on one Redis, buying and grabbing all at once, gets exactly
the sale's ``per_user_limit`` and the coupon's per-user limit (both enforced in Redis by buy.lua and
grab.lua on the verified user id), and the stock and the coupon count agree."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from livehub.client import Client
from tests.conftest import LivehubProcess, api, host_token, new_sale, sale_state, viewer_token

CONNECTIONS = 12  # six per node: within the per-identity connection limit (8 per node) and buy burst (10)


async def twelve_connections(nodes: list[LivehubProcess], user: str, venue: str) -> list[Client]:
    token = viewer_token(user)
    clients = await asyncio.gather(*(Client.connect(nodes[i % 2].ws, token, venue=venue) for i in range(CONNECTIONS)))
    await asyncio.gather(*(c.wait_for("snapshot") for c in clients))
    return list(clients)


async def test_one_user_on_twelve_connections_over_two_nodes_cannot_pass_the_sales_per_user_limit(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    sale = await new_sale(livehub_server, stock=50, per_user_limit=2)
    user = "greedy-" + uuid.uuid4().hex[:6]
    clients = await twelve_connections([livehub_server, livehub_peer], user, "b1")
    try:
        answers = await asyncio.gather(*(c.request({"type": "buy", "id": f"q{i}", "sale": sale["sale_id"], "qty": 1},
                                                   timeout=30) for i, c in enumerate(clients)))  # fmt: skip
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    statuses = sorted(a["status"] for a in answers)
    assert statuses == ["limit_reached"] * (CONNECTIONS - 2) + ["ok"] * 2, statuses
    state = await sale_state(livehub_server, sale["sale_id"])
    assert state["reserved"] == 2 and state["available"] == 48 and state["balanced"], state


async def test_one_user_on_twelve_connections_over_two_nodes_cannot_pass_the_coupons_per_user_limit(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    status, drop = await api("POST", f"{livehub_server.http}/api/venues/b3/coupons",
                             {"value_cents": 500, "min_spend_cents": 0, "total": 50, "per_user_limit": 2,
                              "expires_in_s": 600}, host_token("host-b3", "b3"))  # fmt: skip
    assert status == 201, drop
    coupon = drop["coupon"]["coupon_id"]
    user = "hoarder-" + uuid.uuid4().hex[:6]
    clients = await twelve_connections([livehub_server, livehub_peer], user, "b3")
    try:
        answers: list[dict[str, Any]] = await asyncio.gather(
            *(c.request({"type": "coupon.grab", "id": f"g{i}", "coupon": coupon}, timeout=30)
              for i, c in enumerate(clients))
        )  # fmt: skip
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    statuses = sorted(a["status"] for a in answers)
    assert statuses == ["limit_reached"] * (CONNECTIONS - 2) + ["ok"] * 2, statuses
    assert min(a["left"] for a in answers if a["status"] == "ok") == 48
