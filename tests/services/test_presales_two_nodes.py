"""Pre-sales on a real Redis with two nodes (``livehub_server`` and ``livehub_peer``): the deposit and
balance life cycle across both, stock conservation at every step, the sweepers of both nodes
settling unpaid deposits and balances exactly once, the order routed to a store, and what viewers
see live (the pre-sale in the join snapshot, the units available as stock frames)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from tests.conftest import LivehubProcess, api, connect_viewer, host_token, viewer_token

pytestmark = pytest.mark.asyncio

NEAR_B1_S1 = [31.2317, 121.4726]


async def state(server: LivehubProcess, presale_id: str) -> dict[str, Any]:
    status, out = await api("GET", f"{server.http}/api/presales/{presale_id}")
    assert status == 200, out
    return out


async def until(server: LivehubProcess, presale_id: str, check: Any, timeout: float = 30.0) -> dict[str, Any]:
    """The pre-sale's state once ``check(state)`` holds (generous timeout; no timing is asserted)."""
    deadline = time.monotonic() + timeout
    while True:
        out = await state(server, presale_id)
        if check(out) or time.monotonic() > deadline:
            return out
        await asyncio.sleep(0.1)


async def test_deposits_and_balances_across_two_nodes_conserve_the_stock_and_settle_exactly_once(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    nodes = [livehub_server, livehub_peer]
    presale_id = f"p-{uuid.uuid4().hex[:10]}"
    watcher = await connect_viewer(livehub_peer)
    try:
        body = {"sku": "b1-sku1", "presale_id": presale_id, "stock": 6, "price_cents": 20_000,
                "deposit_cents": 2_000, "deposit_duration_s": 4, "balance_starts_in_s": 5, "balance_duration_s": 3,
                "deposit_ttl_s": 2}  # fmt: skip
        status, created = await api("POST", f"{livehub_server.http}/api/venues/b1/presales", body,
                                    host_token("host-b1", "b1"))  # fmt: skip
        assert status == 201, created
        snap = await watcher.join("b1")
        assert snap["state"]["b1"]["presales"][presale_id]["deposit_cents"] == 2_000  # in the join snapshot

        users = [f"u-{uuid.uuid4().hex[:8]}" for _ in range(5)]
        deposits = []
        for i, user in enumerate(users):
            extra = {"loc": NEAR_B1_S1} if i == 0 else {}
            status, out = await api("POST", f"{nodes[i % 2].http}/api/presales/{presale_id}/deposit",
                                    {"id": "r1", **extra}, viewer_token(user))  # fmt: skip
            assert status == 200 and out["status"] == "ok", out
            deposits.append(out["deposit"])
        status, again = await api("POST", f"{livehub_peer.http}/api/presales/{presale_id}/deposit", {"id": "r1"},
                                  viewer_token(users[0]))  # fmt: skip
        assert again["status"] == "duplicate" and again["deposit"] == deposits[0]
        status, huge = await api("POST", f"{livehub_peer.http}/api/presales/{presale_id}/deposit",
                                 {"id": "r2", "qty": 5000}, viewer_token(users[0]))  # fmt: skip
        assert (status, huge["status"]) == (200, "bad_quantity")  # an answer, as for a buy; nothing taken
        stock = await watcher.wait_for("stock", sale=presale_id, stock=1)  # live: the units available
        assert stock["venue"] == "b1"
        late = await connect_viewer(livehub_server)
        try:  # a viewer joining later gets the units available in the snapshot's counters
            for _ in range(100):
                counters = (await late.join("b1"))["counters"]["b1"]
                if counters.get("presale_stock", {}).get(presale_id) == 1:
                    break
                await asyncio.sleep(0.1)
            assert counters["presale_stock"][presale_id] == 1
        finally:
            await late.close()

        for i in range(4):  # the last deposit is never paid: it lapses
            status, out = await api("POST", f"{nodes[(i + 1) % 2].http}/api/deposits/{deposits[i]}/pay", None,
                                    viewer_token(users[i]))  # fmt: skip
            assert status == 200 and (out["stage"], out["status"], out["state"]) == ("deposit", "paid", "balance_due")
        lapsed = await until(livehub_peer, presale_id, lambda s: s["lapsed"] == 1)
        assert (lapsed["available"], lapsed["balance_due"], lapsed["lapsed"], lapsed["balanced"]) == (2, 4, 1, True)

        opened = await until(livehub_server, presale_id, lambda s: s["phase"] == "balance")
        assert opened["phase"] == "balance"
        paid = []
        for i in range(2):  # two balances paid, two left unpaid: forfeited at the window's end
            status, out = await api("POST", f"{nodes[i % 2].http}/api/deposits/{deposits[i]}/pay", None,
                                    viewer_token(users[i]))  # fmt: skip
            assert status == 200 and (out["stage"], out["status"]) == ("balance", "paid"), out
            paid.append(out)
        assert paid[0]["store"] == "b1-s1" and paid[0]["amount_cents"] == 20_000  # routed when the balance is paid
        status, retry = await api("POST", f"{livehub_peer.http}/api/deposits/{deposits[0]}/pay", None,
                                  viewer_token(users[0]))  # fmt: skip
        assert retry["status"] == "duplicate" and retry["order"] == paid[0]["order"]

        ended = await until(livehub_peer, presale_id, lambda s: s["forfeited"] == 2)
        assert (ended["phase"], ended["available"], ended["completed"], ended["forfeited"], ended["refunded"]) == (
            "ended", 4, 2, 2, 0)  # fmt: skip
        assert ended["balanced"] and await state(livehub_server, presale_id) == {**ended, "phase": "ended"}
        status, late = await api("POST", f"{livehub_server.http}/api/deposits/{deposits[2]}/pay", None,
                                 viewer_token(users[2]))  # fmt: skip
        assert (late["stage"], late["status"]) == ("balance", "forfeited")

        status, orders = await api("GET", f"{livehub_server.http}/api/stores/b1-s1/orders", None,
                                   host_token("host-b1", "b1"))  # fmt: skip
        assert status == 200 and paid[0]["order"] in [o["order_id"] for o in orders["orders"]]
    finally:
        await watcher.close()


async def test_a_pre_sale_refused_by_its_rules_names_the_field(livehub_server: LivehubProcess) -> None:
    token = host_token("host-b1", "b1")
    for body, field in (
        ({"sku": "b1-sku1", "stock": 5, "deposit_cents": 99_999_999}, "deposit_cents"),
        ({"sku": "b1-sku1", "stock": 5, "deposit_cents": 100, "unpaid": "keep"}, "unpaid"),
        ({"sku": "b1-sku1", "stock": 0, "deposit_cents": 100}, "stock"),
    ):
        status, out = await api("POST", f"{livehub_server.http}/api/venues/b1/presales", body, token)
        assert status == 400 and out["details"]["field"] == field, out
    status, out = await api("POST", f"{livehub_server.http}/api/presales/no-such/deposit", {"id": "r"},
                            viewer_token("u-x"))  # fmt: skip
    assert status == 404, out
