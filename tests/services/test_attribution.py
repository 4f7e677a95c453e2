"""Lasting guide attribution on two real `livehub serve` processes sharing a real Redis: a viewer who
came through a guide's share code stays that guide's customer on reconnect, on the other node and on
another device, without ``?guide=``; a later code does not steal them.  (Cheap sales: the shared
servers' hourly leaderboard is another test's to top.)"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from livehub.client import Client
from tests.conftest import LivehubProcess, api, new_sale, viewer_token

pytestmark = pytest.mark.asyncio


async def buyer(server: LivehubProcess, user: str, guide: str | None = None) -> Client:
    client = await Client.connect(server.ws, viewer_token(user), venue="b1", guide=guide)
    await client.wait_for("snapshot")
    return client


async def bought_and_paid(server: LivehubProcess, client: Client, user: str, sale_id: str) -> dict[str, Any]:
    """Buy one unit over the websocket and pay it (demo payment): the order's answer."""
    answer = await client.request({"type": "buy", "id": uuid.uuid4().hex, "sale": sale_id, "qty": 1}, timeout=30)
    assert answer["status"] == "ok", answer
    status, paid = await api("POST", f"{server.http}/api/reservations/{answer['reservation']}/pay", {},
                             viewer_token(user))  # fmt: skip
    assert status == 200 and paid["status"] == "paid", paid
    return paid


async def test_attribution_survives_a_reconnect_without_the_code_on_either_node(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    user = "fan-" + uuid.uuid4().hex[:8]
    sale = await new_sale(livehub_server, stock=10, per_user_limit=5, price_cents=100)
    first = await buyer(livehub_server, user, guide="g-b1-2")  # came in through guide b1-g2's poster
    await first.close()
    for node in (livehub_server, livehub_peer):  # back later, no share code in the URL
        again = await buyer(node, user)
        try:
            assert (await bought_and_paid(node, again, user, sale["sale_id"]))["guide"] == "b1-g2"
        finally:
            await again.close()


async def test_attribution_holds_on_another_device_and_over_http_and_a_later_code_does_not_take_it(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    user = "fan-" + uuid.uuid4().hex[:8]
    sale = await new_sale(livehub_server, stock=10, per_user_limit=5, price_cents=100)
    phone = await buyer(livehub_server, user, guide="g-b1-3")
    tablet = await buyer(livehub_peer, user, guide="g-b1-4")  # another guide's code, later, elsewhere
    try:
        assert (await bought_and_paid(livehub_peer, tablet, user, sale["sale_id"]))["guide"] == "b1-g3"
        assert (await bought_and_paid(livehub_server, phone, user, sale["sale_id"]))["guide"] == "b1-g3"
    finally:
        await phone.close()
        await tablet.close()
    status, answer = await api("POST", f"{livehub_peer.http}/api/sales/{sale['sale_id']}/buy",
                               {"id": uuid.uuid4().hex, "qty": 1}, viewer_token(user))  # fmt: skip
    assert status == 200 and answer["status"] == "ok", answer
    status, paid = await api("POST", f"{livehub_peer.http}/api/reservations/{answer['reservation']}/pay", {},
                             viewer_token(user))  # fmt: skip
    assert status == 200 and paid["guide"] == "b1-g3"


async def test_a_viewer_who_never_presented_a_code_credits_nobody(livehub_peer: LivehubProcess) -> None:
    user = "fan-" + uuid.uuid4().hex[:8]
    sale = await new_sale(livehub_peer, stock=10, price_cents=100)
    client = await buyer(livehub_peer, user)
    try:
        assert (await bought_and_paid(livehub_peer, client, user, sale["sale_id"]))["guide"] is None
    finally:
        await client.close()
