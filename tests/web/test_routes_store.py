"""The buyers' orders and the stores' storefront against two real ``livehub serve`` nodes on one Redis:
a buyer's pickup order (with its store's name, address, distance and code) on any node and over the
websocket; a pickup code handed over once, whichever node the staff ask, even racing; the pickups to
hand over without their codes; stock per sku adjusted once per request id."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from livehub import errors
from livehub.client import Client
from livehub.domain.tokens import ADMIN, STAFF, mint
from tests.conftest import SECRET, LivehubProcess, api, new_sale, viewer_token

STAFF_B1_S1 = mint(SECRET, "clerk-1", STAFF, store="b1-s1")
STAFF_B1_S2 = mint(SECRET, "clerk-2", STAFF, store="b1-s2")
ADMIN_TOKEN = mint(SECRET, "boss", ADMIN)


async def stock_up(server: LivehubProcess, sku: str, units: int = 5) -> None:
    """Units at b1-s1 for this test (other tests of the session take from the same store)."""
    body = {"id": uuid.uuid4().hex, "sku": sku, "delta": units}
    status, out = await api("POST", f"{server.http}/api/stores/b1-s1/stock", body, STAFF_B1_S1)
    assert status == 200, out


async def pickup_order(server: LivehubProcess, user: str, pay: bool = True) -> dict[str, Any]:
    """``user`` buys one unit for pickup at b1-s1 (standing 1 km away) and, with ``pay``, pays: their order."""
    await stock_up(server, "b1-sku1")
    sale = await new_sale(server)
    body = {"id": "q1", "qty": 1, "pickup_store": "b1-s1", "loc": [31.2407, 121.4726]}
    status, buy = await api("POST", f"{server.http}/api/sales/{sale['sale_id']}/buy", body, viewer_token(user))
    assert status == 200 and buy["status"] == "ok" and buy["store"] == "b1-s1", buy
    if pay:
        status, paid = await api("POST", f"{server.http}/api/reservations/{buy['reservation']}/pay", None,
                                 viewer_token(user))  # fmt: skip
        assert status == 200 and paid["status"] == "paid", paid
    return buy


async def my_orders(server: LivehubProcess, user: str) -> list[dict[str, Any]]:
    status, out = await api("GET", f"{server.http}/api/me/orders", None, viewer_token(user))
    assert status == 200, out
    return out["orders"]  # type: ignore[no-any-return]


async def test_a_buyers_pickup_order_shows_its_store_and_code_on_every_node_and_over_the_websocket(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    user = "u-" + uuid.uuid4().hex[:8]
    buy = await pickup_order(livehub_server, user)

    (order,) = await my_orders(livehub_peer, user)  # another node (another device) sees the same order

    assert (order["kind"], order["reservation"], order["state"], order["venue"]) == (
        "reservation", buy["reservation"], "paid", "b1")  # fmt: skip
    assert order["pay_by"] == buy["pay_by"] and order["order"] and order["sku"] == "b1-sku1" and order["title"]
    pickup = order["pickup"]
    assert (pickup["store"], pickup["name"], pickup["address"]) == (
        "b1-s1", "Lotus Tea People's Square", "200 Nanjing Road East, Huangpu")  # fmt: skip
    assert pickup["distance_km"] == pytest.approx(1.0, abs=0.01)
    assert len(pickup["code"]) == 8 and pickup["picked_up_at_ms"] is None
    client = await Client.connect(livehub_server.ws, viewer_token(user))
    try:
        assert (await client.request({"type": "orders"}))["orders"] == [order]
    finally:
        await client.close()


async def test_an_unpaid_reservation_is_listed_with_its_pay_by_and_no_code_yet(
    livehub_server: LivehubProcess,
) -> None:
    user = "u-" + uuid.uuid4().hex[:8]
    buy = await pickup_order(livehub_server, user, pay=False)

    (order,) = await my_orders(livehub_server, user)

    assert (order["state"], order["pay_by"], order["order"]) == ("reserved", buy["pay_by"], None)
    assert order["pickup"]["code"] is None  # the code comes with the payment
    assert await my_orders(livehub_server, "u-" + uuid.uuid4().hex[:8]) == []  # nobody else's


async def test_a_pickup_code_is_verified_once_on_two_nodes(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    user = "u-" + uuid.uuid4().hex[:8]
    await pickup_order(livehub_server, user)
    (order,) = await my_orders(livehub_server, user)
    code = order["pickup"]["code"]

    status, first = await api("POST", f"{livehub_server.http}/api/stores/b1-s1/pickups/{code}", None, STAFF_B1_S1)
    again_status, again = await api("POST", f"{livehub_peer.http}/api/stores/b1-s1/pickups/{code}", None,
                                    STAFF_B1_S1)  # fmt: skip

    assert status == 200 and (first["status"], first["order"], first["qty"]) == ("picked_up", order["order"], 1)
    assert first["picked_up_by"] == "clerk-1" and first["user"] == user
    assert (again_status, again["code"]) == (409, errors.ALREADY_PICKED_UP)
    assert again["details"]["picked_up_at_ms"] == first["picked_up_at_ms"]
    (after,) = await my_orders(livehub_peer, user)
    assert after["pickup"]["picked_up_at_ms"] == first["picked_up_at_ms"]


async def test_staff_of_two_nodes_racing_on_one_code_hand_the_order_over_exactly_once(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    user = "u-" + uuid.uuid4().hex[:8]
    await pickup_order(livehub_server, user)
    (order,) = await my_orders(livehub_server, user)
    url = "/api/stores/b1-s1/pickups/" + order["pickup"]["code"]

    answers = await asyncio.gather(*(api("POST", node.http + url, None, STAFF_B1_S1)
                                     for node in (livehub_server, livehub_peer) * 4))  # fmt: skip

    assert sorted(status for status, _ in answers) == [200] + [409] * 7


async def test_a_code_is_only_good_at_its_own_store_and_a_wrong_one_is_not_found(
    livehub_server: LivehubProcess,
) -> None:
    user = "u-" + uuid.uuid4().hex[:8]
    await pickup_order(livehub_server, user)
    (order,) = await my_orders(livehub_server, user)
    code = order["pickup"]["code"]

    elsewhere = await api("POST", f"{livehub_server.http}/api/stores/b1-s2/pickups/{code}", None, STAFF_B1_S2)
    wrong = await api("POST", f"{livehub_server.http}/api/stores/b1-s1/pickups/ZZZZ9999", None, STAFF_B1_S1)

    assert (elsewhere[0], elsewhere[1]["code"]) == (404, errors.NOT_FOUND)
    assert (wrong[0], wrong[1]["code"]) == (404, errors.NOT_FOUND)


async def test_the_pickups_to_hand_over_show_who_waits_and_what_was_handed_over_but_never_a_code(
    livehub_server: LivehubProcess,
) -> None:
    waiting_user, done_user = ("u-" + uuid.uuid4().hex[:8] for _ in range(2))
    await pickup_order(livehub_server, waiting_user)
    await pickup_order(livehub_server, done_user)
    (waits,) = await my_orders(livehub_server, waiting_user)
    (done,) = await my_orders(livehub_server, done_user)
    await api("POST", f"{livehub_server.http}/api/stores/b1-s1/pickups/{done['pickup']['code']}", None, STAFF_B1_S1)

    status, view = await api("GET", f"{livehub_server.http}/api/stores/b1-s1/pickups?limit=500", None, STAFF_B1_S1)

    assert status == 200 and view["store"]["address"] == "200 Nanjing Road East, Huangpu"
    assert waiting_user in {row["user"] for row in view["waiting"]}
    (row,) = [r for r in view["picked_up"] if r["user"] == done_user]
    assert (row["state"], row["picked_up_by"]) == ("picked_up", "clerk-1")
    shown = str(view)
    assert waits["pickup"]["code"] not in shown and done["pickup"]["code"] not in shown  # the buyer shows theirs
    assert all("code" not in r for r in view["waiting"] + view["picked_up"])


async def test_staff_adjust_their_stores_stock_once_per_request_id_and_never_below_zero(
    livehub_server: LivehubProcess,
) -> None:
    url = f"{livehub_server.http}/api/stores/b1-s1/stock"
    status, before = await api("GET", url, None, STAFF_B1_S1)
    assert status == 200
    units = {row["sku"]: row["units"] for row in before["stock"]}
    assert set(units) == {"b1-sku1", "b1-sku2"}  # every product of the store's brand
    body = {"id": uuid.uuid4().hex, "sku": "b1-sku2", "delta": 3}

    first = await api("POST", url, body, STAFF_B1_S1)
    retry = await api("POST", url, body, ADMIN_TOKEN)  # the same request id: answered, not applied again
    too_many = await api("POST", url, {"id": uuid.uuid4().hex, "sku": "b1-sku2", "delta": -(10**5)}, STAFF_B1_S1)

    assert first == (200, {"status": "adjusted", "store": "b1-s1", "sku": "b1-sku2", "units": units["b1-sku2"] + 3})
    assert retry[1]["status"] == "duplicate" and retry[1]["units"] == first[1]["units"]
    assert (too_many[0], too_many[1]["details"]["field"]) == (400, "delta")
    after = {row["sku"]: row["units"] for row in (await api("GET", url, None, STAFF_B1_S1))[1]["stock"]}
    assert after["b1-sku2"] >= units["b1-sku2"] + 3 - 1  # (another test may take one meanwhile)


@pytest.mark.parametrize(("body", "field"), [
    ({"sku": "b1-sku1", "delta": 1}, "id"),
    ({"id": "a1", "delta": 1}, "sku"),
    ({"id": "a1", "sku": "b2-sku1", "delta": 1}, "sku"),  # another brand's product
    ({"id": "a1", "sku": "b1-sku1", "delta": 0}, "delta"),
    ({"id": "a1", "sku": "b1-sku1", "delta": "5"}, "delta"),
    ({"id": "a1", "sku": "b1-sku1", "delta": True}, "delta"),
])  # fmt: skip
async def test_a_malformed_stock_adjustment_is_400_naming_its_field(
    livehub_server: LivehubProcess, body: dict[str, Any], field: str
) -> None:
    status, out = await api("POST", f"{livehub_server.http}/api/stores/b1-s1/stock", body, STAFF_B1_S1)

    assert (status, out["code"], out["details"]["field"]) == (400, errors.BAD_REQUEST, field)
