"""The shelf and the pinned card's Buy button on two real nodes (``livehub_server``, ``livehub_peer``):
a shelf set on one node reaches a viewer of the other live and is in its join snapshot; a card
pinned without a flash sale on one node is bought and paid from the other at the regular price."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import LivehubProcess, api, connect_viewer, host_token

pytestmark = pytest.mark.asyncio


async def test_a_shelf_set_on_one_node_reaches_the_other_live_and_in_the_snapshot(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    viewer = await connect_viewer(livehub_peer)
    try:
        await viewer.join("b3")
        items = [{"sku": "b3-sku2"}, {"sku": "b3-sku1", "group": "gd-" + uuid.uuid4().hex[:6]}]
        status, out = await api("POST", f"{livehub_server.http}/api/venues/b3/shelf", {"items": items},
                                host_token("host-b3", "b3"))  # fmt: skip
        assert status == 200, out
        event = await viewer.wait_for("event", kind="shelf.updated")
        assert [i["sku"] for i in event["data"]["shelf"]["items"]] == ["b3-sku2", "b3-sku1"]
        assert event["data"]["shelf"]["items"][1]["group"] == items[1]["group"]
        late = await connect_viewer(livehub_peer)
        try:
            snap = await late.join("b3")
            assert snap["state"]["b3"]["shelf"] == event["data"]["shelf"]
        finally:
            await late.close()
        status, out = await api("DELETE", f"{livehub_server.http}/api/venues/b3/shelf", None,
                                host_token("host-b3", "b3"))  # fmt: skip
        assert status == 200 and (await viewer.wait_for("event", kind="shelf.updated"))["data"]["shelf"] is None
    finally:
        await viewer.close()


async def test_a_card_pinned_without_a_sale_on_one_node_is_bought_and_paid_on_the_other(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    viewer = await connect_viewer(livehub_peer)
    try:
        await viewer.join("b3")
        status, out = await api("POST", f"{livehub_server.http}/api/venues/b3/cards", {"sku": "b3-sku2"},
                                host_token("host-b3", "b3"))  # fmt: skip
        assert status == 200, out
        card = (await viewer.wait_for("event", kind="card.pinned"))["data"]["card"]
        assert "sale" not in card and card["buy_sale"]
        bought = await viewer.request({"type": "buy", "id": "r1", "sale": card["buy_sale"], "qty": 1})
        assert bought["status"] == "ok" and bought["unit_price_cents"] == card["price_cents"], bought
        again = await viewer.request({"type": "buy", "id": "r1", "sale": card["buy_sale"], "qty": 1})
        assert again["status"] == "duplicate" and again["reservation"] == bought["reservation"]
        token = viewer.token
        status, paid = await api("POST", f"{livehub_server.http}/api/reservations/{bought['reservation']}/pay",
                                 None, token)  # fmt: skip
        assert status == 200 and paid["status"] == "paid" and paid["order"], paid
        status, out = await api("POST", f"{livehub_server.http}/api/venues/b3/cards", {"sku": "b3-sku2"},
                                host_token("host-b3", "b3"))  # fmt: skip
        assert (await viewer.wait_for("event", kind="card.pinned"))["data"]["card"]["buy_sale"] == card["buy_sale"]
    finally:
        await api("DELETE", f"{livehub_server.http}/api/venues/b3/cards", None, host_token("host-b3", "b3"))
        await viewer.close()
