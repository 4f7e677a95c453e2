"""Guide-only and store-only coupons on two real `livehub serve` processes sharing a real Redis: only
the guide's attributed customers grab and use a guide-only coupon (on either node, with or without
the share code in the URL), and a store-only coupon applies only to a pickup at its store."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from livehub.client import Client
from tests.conftest import LivehubProcess, api, host_token, new_sale, viewer_token

pytestmark = pytest.mark.asyncio


async def viewer(server: LivehubProcess, user: str, guide: str | None = None) -> Client:
    client = await Client.connect(server.ws, viewer_token(user), venue="b1", guide=guide)
    await client.wait_for("snapshot")
    return client


async def drop(server: LivehubProcess, **fields: Any) -> tuple[int, dict[str, Any]]:
    body = {"value_cents": 500, "min_spend_cents": 0, "total": 10, "per_user_limit": 2, "expires_in_s": 600, **fields}
    return await api("POST", f"{server.http}/api/venues/b1/coupons", body, host_token("host-b1", "b1"))


async def grab(client: Client, coupon: str) -> str:
    return str((await client.request({"type": "coupon.grab", "coupon": coupon}))["status"])


async def buy(client: Client, sale_id: str, **extra: Any) -> dict[str, Any]:
    return await client.request({"type": "buy", "id": uuid.uuid4().hex, "sale": sale_id, "qty": 1, **extra},
                                timeout=30)  # fmt: skip


def fan() -> str:
    return "fan-" + uuid.uuid4().hex[:8]


async def test_a_guide_only_coupon_refuses_every_buyer_but_the_guides_customers(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    status, dropped = await drop(livehub_server, only_guide="b1-g1")
    assert status == 201 and dropped["coupon"]["only_guide"] == "b1-g1", dropped
    coupon = dropped["coupon"]["coupon_id"]
    sale = await new_sale(livehub_server, stock=10, price_cents=100)
    customer, other_guides, walk_in = fan(), fan(), fan()
    mine = await viewer(livehub_server, customer, guide="g-b1-1")
    theirs = await viewer(livehub_peer, other_guides, guide="g-b1-2")
    nobody = await viewer(livehub_peer, walk_in)
    try:
        assert await grab(mine, coupon) == "ok"
        assert await grab(theirs, coupon) == "guide_only"
        assert await grab(nobody, coupon) == "guide_only"
        await mine.close()
        mine = await viewer(livehub_peer, customer)  # later, on the other node, without the code
        assert await grab(mine, coupon) == "ok"
        used = await buy(mine, sale["sale_id"], coupon=coupon)
        assert used["status"] == "ok" and used["discount_cents"] == 100, used  # capped at the price
    finally:
        for client in (mine, theirs, nobody):
            await client.close()
    status, answer = await api("POST", f"{livehub_server.http}/api/coupons/{coupon}/grab", None,
                               viewer_token(walk_in))  # fmt: skip
    assert status == 200 and answer["status"] == "guide_only"  # the HTTP twin refuses the same way


async def test_a_store_only_coupon_applies_only_to_a_pickup_at_its_store(livehub_peer: LivehubProcess) -> None:
    status, dropped = await drop(livehub_peer, only_store="b1-s1")
    assert status == 201, dropped
    coupon = dropped["coupon"]["coupon_id"]
    sale = await new_sale(livehub_peer, stock=10, price_cents=1000, per_user_limit=3)
    client = await viewer(livehub_peer, fan())
    try:
        assert await grab(client, coupon) == "ok"
        elsewhere = await buy(client, sale["sale_id"], coupon=coupon, pickup_store="b1-s3")
        assert (elsewhere["status"], elsewhere["detail"]) == ("coupon_invalid", "store_only")
        delivered = await buy(client, sale["sale_id"], coupon=coupon)
        assert (delivered["status"], delivered["detail"]) == ("coupon_invalid", "store_only")
        there = await buy(client, sale["sale_id"], coupon=coupon, pickup_store="b1-s1")
        assert (there["status"], there["store"], there["discount_cents"]) == ("ok", "b1-s1", 500), there
    finally:
        await client.close()


async def test_an_exclusive_drop_names_a_guide_or_store_of_its_own_brand(livehub_server: LivehubProcess) -> None:
    for field, value in (("only_guide", "b2-g1"), ("only_guide", "nobody"), ("only_store", "b2-s1")):
        status, refused = await drop(livehub_server, **{field: value})
        assert status == 400 and refused["details"]["field"] == field, refused
