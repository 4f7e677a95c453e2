"""Commerce over real websockets on two `livehub serve` processes sharing a real Redis."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import Any

import orjson
import pytest

from livehub.client import Client, ClientError
from livehub.services.payments import signed_headers
from tests.conftest import (
    PAYMENT_SECRET,
    LivehubProcess,
    api,
    host_token,
    new_sale,
    sale_state,
    viewer_token,
)

pytestmark = pytest.mark.asyncio
_ids = itertools.count()


async def buyer(server: LivehubProcess, user: str, venue: str = "b1", guide: str | None = None) -> Client:
    client = await Client.connect(server.ws, viewer_token(user), venue=venue, guide=guide)
    await client.wait_for("snapshot")
    return client


async def buy(client: Client, sale_id: str, request_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return await client.request({"type": "buy", "id": request_id or uuid.uuid4().hex, "sale": sale_id,
                                 "qty": 1, **extra}, timeout=30)  # fmt: skip


async def settled(server: LivehubProcess, sale_id: str, until: Any, tries: int = 100) -> dict[str, Any]:
    for _ in range(tries):
        state = await sale_state(server, sale_id)
        if until(state):
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"sale never settled: {state}")


async def test_two_thousand_buyers_on_two_nodes_never_oversell_and_orders_equal_sold(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    stock = 150
    sale = await new_sale(livehub_server, stock=stock)
    nodes = [livehub_server, livehub_peer]
    clients: list[Client] = []
    for start in range(0, 2000, 250):  # connect in batches; half on each node
        clients += await asyncio.gather(*(buyer(nodes[i % 2], f"crowd-{i}") for i in range(start, start + 250)))
    try:
        answers = await asyncio.gather(*(buy(c, sale["sale_id"]) for c in clients))
        statuses = [a["status"] for a in answers]
        won = [(c, a) for c, a in zip(clients, answers, strict=True) if a["status"] == "ok"]
        assert set(statuses) <= {"ok", "sold_out", "busy"}, set(statuses)
        assert len(won) <= stock  # never oversold
        state = await sale_state(livehub_server, sale["sale_id"])
        assert state["balanced"] and state["stock"] == stock
        assert state["reserved"] == len(won) and state["available"] == stock - len(won)
        if "busy" not in statuses:
            assert len(won) == stock  # nobody was shed early: every unit found a buyer
        # the buyers shed as "busy" try again while stock is left: no undersell either
        for client, answer in zip(clients, answers, strict=True):
            if answer["status"] == "busy" and (await sale_state(livehub_server, sale["sale_id"]))["available"]:
                again = await buy(client, sale["sale_id"])
                if again["status"] == "ok":
                    won.append((client, again))
        assert len(won) == stock
        # every reservation paid, on either node: orders == sold
        paid = await asyncio.gather(*(
            api("POST", f"{nodes[i % 2].http}/api/reservations/{a['reservation']}/pay", {},
                viewer_token(c.welcome["user"]))
            for i, (c, a) in enumerate(won)
        ))  # fmt: skip
        assert all(status == 200 and body["status"] == "paid" for status, body in paid), paid[:3]
        state = await sale_state(livehub_peer, sale["sale_id"])
        assert state["sold"] == stock and state["reserved"] == 0 and state["available"] == 0 and state["balanced"]
        assert len({body["order"] for _, body in paid}) == stock
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_one_user_on_many_connections_gets_no_more_than_the_limit(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    sale = await new_sale(livehub_server, stock=100, per_user_limit=2)
    conns = [await buyer((livehub_server, livehub_peer)[i % 2], "greedy-user") for i in range(12)]
    try:
        # one buy per connection: 6 per node, within the user's buy burst per node (identity_buy_burst, 10)
        answers = await asyncio.gather(*(buy(c, sale["sale_id"]) for c in conns))
        statuses = sorted(a["status"] for a in answers)
        assert statuses.count("ok") == 2
        assert set(statuses) == {"ok", "limit_reached"}
        assert (await sale_state(livehub_peer, sale["sale_id"]))["reserved"] == 2
    finally:
        await asyncio.gather(*(c.close() for c in conns))


async def test_a_retried_buy_is_answered_with_the_first_answer_and_takes_stock_once(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    sale = await new_sale(livehub_server, stock=5, per_user_limit=3)
    conns = [await buyer((livehub_server, livehub_peer)[i % 2], "retrier") for i in range(5)]
    try:
        first = await buy(conns[0], sale["sale_id"], "req-42")
        again = await asyncio.gather(*(buy(c, sale["sale_id"], "req-42") for c in conns))  # the retries race
        assert first["status"] == "ok"
        assert {x["status"] for x in again} == {"duplicate"}
        assert {x["reservation"] for x in again} == {first["reservation"]}
        assert (await sale_state(livehub_server, sale["sale_id"]))["available"] == 4
    finally:
        await asyncio.gather(*(c.close() for c in conns))


async def test_unpaid_reservations_expire_and_return_stock_exactly_once_with_both_nodes_sweeping(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    sale = await new_sale(livehub_server, stock=8, reservation_ttl_s=1)
    clients = [await buyer((livehub_server, livehub_peer)[i % 2], f"lapser-{i}") for i in range(6)]
    try:
        answers = await asyncio.gather(*(buy(c, sale["sale_id"]) for c in clients))
        assert [x["status"] for x in answers] == ["ok"] * 6
        paid = await api("POST", f"{livehub_server.http}/api/reservations/{answers[0]['reservation']}/pay", {},
                         viewer_token("lapser-0"))  # fmt: skip
        assert paid[1]["status"] == "paid"
        state = await settled(livehub_server, sale["sale_id"], lambda s: s["reserved"] == 0, tries=150)
        assert state["available"] == 7 and state["sold"] == 1 and state["expired"] == 5 and state["balanced"]
        late = await api("POST", f"{livehub_peer.http}/api/reservations/{answers[1]['reservation']}/pay", {},
                         viewer_token("lapser-1"))  # fmt: skip
        assert late[1]["status"] == "expired"  # payment after expiry loses: the provider refunds
        again = await buy(clients[1], sale["sale_id"])  # an expired reservation frees the user's limit
        assert again["status"] == "ok"
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_no_buy_succeeds_before_the_window_opens_or_after_it_closes(livehub_server: LivehubProcess) -> None:
    sale = await new_sale(livehub_server, stock=5, starts_in_s=3600)
    client = await buyer(livehub_server, "early-bird")
    try:
        early = await buy(client, sale["sale_id"])
        assert early["status"] == "not_started" and early["starts_at_ms"] == sale["starts_at_ms"]
        host = host_token("host-b1", "b1")
        status, _ = await api("POST", f"{livehub_server.http}/api/venues/b1/sales/{sale['sale_id']}/start", {}, host)
        assert status == 200
        assert (await buy(client, sale["sale_id"]))["status"] == "ok"
        status, _ = await api("POST", f"{livehub_server.http}/api/venues/b1/sales/{sale['sale_id']}/end", {}, host)
        assert status == 200
        assert (await buy(client, sale["sale_id"]))["status"] == "ended"
    finally:
        await client.close()


async def test_buy_answers_and_errors_are_distinct_and_documented(livehub_server: LivehubProcess) -> None:
    sale = await new_sale(livehub_server, stock=2, per_user_limit=1)
    a, b, c = [await buyer(livehub_server, f"come-{i}") for i in range(3)]
    try:
        assert (await buy(a, sale["sale_id"], qty=5))["status"] == "bad_quantity"
        assert (await buy(a, sale["sale_id"]))["status"] == "ok"
        assert (await buy(a, sale["sale_id"]))["status"] == "limit_reached"
        assert (await buy(b, sale["sale_id"]))["status"] == "ok"
        assert (await buy(c, sale["sale_id"]))["status"] == "sold_out"
        for args, code in [({"sale": "no-such-sale"}, "not_found"), ({"sale": "x", "qty": "one"}, "bad_request"),
                           ({"sale": "x", "loc": [95, 0]}, "bad_request")]:  # fmt: skip
            with pytest.raises(ClientError) as err:
                await a.request({"type": "buy", "id": uuid.uuid4().hex, **args})
            assert err.value.code == code
        await a.send({"type": "buy", "sale": sale["sale_id"]})  # no id: no idempotency key
        assert (await a.wait_for("error"))["code"] == "bad_request"
    finally:
        await asyncio.gather(*(x.close() for x in (a, b, c)))


async def test_viewers_see_the_stock_tick_down_and_sold_out_is_announced_once(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    watcher = await buyer(livehub_peer, "watcher", venue="b2")
    sale = await new_sale(livehub_server, venue="b2", stock=4)
    buyers = [await buyer(livehub_server, f"b2-buyer-{i}", venue="b2") for i in range(4)]
    try:
        # Other tests' sales (on b2, or on main, which b2 viewers also get) may be announced on the
        # shared servers meanwhile: only this sale's events count.
        def ours(frame: dict[str, Any]) -> bool:
            return bool(frame.get("data", {}).get("sale", {}).get("sale_id") == sale["sale_id"])

        while not ours(scheduled := await watcher.wait_for("event", kind="sale.scheduled")):
            pass
        assert scheduled["ch"] == "b2"
        for i, c in enumerate(buyers):
            assert (await buy(c, sale["sale_id"]))["status"] == "ok"
            if i == 1:
                await asyncio.sleep(0.3)  # let a poll see an intermediate value
        seen: list[int] = []
        sold_out_events = 0
        while True:
            frame = await watcher.next(10)
            if frame["type"] == "stock" and frame["sale"] == sale["sale_id"]:
                seen.append(frame["stock"])
                if frame["stock"] == 0:
                    assert frame["sold_out"] is True
            if frame["type"] == "event" and frame["kind"] == "sale.sold_out" and ours(frame):
                sold_out_events += 1
            if sold_out_events and seen and seen[-1] == 0:
                break
        assert seen == sorted(seen, reverse=True) and all(0 <= s <= 4 for s in seen)
        await asyncio.sleep(0.5)
        late = [f for f in watcher.drain() if f.get("kind") == "sale.sold_out" and ours(f)]
        assert sold_out_events + len(late) == 1
        snap = await watcher.join("b2")
        assert snap["state"]["b2"]["sales"][sale["sale_id"]]["sold_out"] is True
        assert snap["counters"]["b2"]["stock"][sale["sale_id"]] == 0
    finally:
        await watcher.close()
        await asyncio.gather(*(c.close() for c in buyers))


async def test_an_order_is_routed_to_the_nearest_store_with_stock_or_the_warehouse(
    livehub_server: LivehubProcess,
) -> None:
    sale = await new_sale(livehub_server, venue="b1", sku="b1-sku2", stock=50, per_user_limit=5)
    client = await buyer(livehub_server, "shanghai-shopper")
    try:
        near_square = await buy(client, sale["sale_id"], loc=[31.2320, 121.4730])
        assert near_square["mode"] == "pickup" and near_square["store"] == "b1-s1"
        assert near_square["distance_km"] < 0.1
        # Lujiazui's store has none of sku2: the next nearest store with stock within its radius
        lujiazui = await buy(client, sale["sale_id"], loc=[31.2397, 121.4998])
        assert lujiazui["store"] == "b1-s1" and 2.0 < lujiazui["distance_km"] < 3.0
        far_away = await buy(client, sale["sale_id"], loc=[39.9042, 116.4074])  # Beijing
        assert far_away["mode"] == "delivery" and far_away["store"] is None
        chosen = await buy(client, sale["sale_id"], loc=[31.2000, 121.4400], pickup_store="b1-s3")
        assert chosen["mode"] == "pickup" and chosen["store"] == "b1-s3"
    finally:
        await client.close()


async def test_guide_share_code_credits_the_guide_and_the_hourly_leaderboard(livehub_server: LivehubProcess) -> None:
    sale = await new_sale(livehub_server, venue="b1", stock=10, price_cents=10_000)
    referred = await buyer(livehub_server, "referred-fan", guide="g-b1-1")
    try:
        answer = await buy(referred, sale["sale_id"])
        status, paid = await api("POST", f"{livehub_server.http}/api/reservations/{answer['reservation']}/pay", {},
                                 viewer_token("referred-fan"))  # fmt: skip
        assert status == 200 and paid["guide"] == "b1-g1"
        for _ in range(50):
            _, board = await api("GET", f"{livehub_server.http}/api/guides/leaderboard")
            if board["guides"]:
                break
            await asyncio.sleep(0.1)
        top = board["guides"][0]
        assert top["guide_id"] == "b1-g1" and top["sales_cents"] >= 10_000 and top["commission_cents"] > 0
        store_url = f"{livehub_server.http}/api/stores/b1-s1/orders?limit=500"
        status, orders = await api("GET", store_url, None, host_token("host-b1", "b1"))
        assert status == 200 and orders["store"]["id"] == "b1-s1"
        assert (await api("GET", store_url))[0] == 401  # buyers' data: hosts of the brand only
        assert (await api("GET", store_url, None, host_token("host-b2", "b2")))[0] == 403
        status, bad = await api("GET", f"{livehub_server.http}/api/guides/leaderboard?hour=yesterday")
        assert status == 400 and bad["code"] == "bad_request"
    finally:
        await referred.close()


async def test_coupons_are_limited_per_user_and_lower_a_later_buy(livehub_server: LivehubProcess) -> None:
    host = host_token("host-b3", "b3")
    status, drop = await api("POST", f"{livehub_server.http}/api/venues/b3/coupons",
                             {"value_cents": 1000, "min_spend_cents": 0, "total": 3, "per_user_limit": 1,
                              "expires_in_s": 600}, host)  # fmt: skip
    assert status == 201, drop
    coupon = drop["coupon"]["coupon_id"]
    sale = await new_sale(livehub_server, venue="b3", stock=5, price_cents=5000)
    fans = [await buyer(livehub_server, f"coupon-fan-{i}", venue="b3") for i in range(4)]
    try:
        grabs = [await f.request({"type": "coupon.grab", "id": uuid.uuid4().hex, "coupon": coupon}) for f in fans]
        assert [g["status"] for g in grabs] == ["ok", "ok", "ok", "sold_out"]
        again = await fans[0].request({"type": "coupon.grab", "id": uuid.uuid4().hex, "coupon": coupon})
        assert again["status"] in {"limit_reached", "sold_out"}
        with_coupon = await buy(fans[0], sale["sale_id"], coupon=coupon)
        assert with_coupon["status"] == "ok" and with_coupon["amount_cents"] == 4000
        without = await buy(fans[3], sale["sale_id"], coupon=coupon)
        assert without["status"] == "coupon_invalid"
    finally:
        await asyncio.gather(*(f.close() for f in fans))


async def test_payment_callback_needs_the_provider_signature_and_is_idempotent(livehub_server: LivehubProcess) -> None:
    import urllib.request

    sale = await new_sale(livehub_server, stock=3)
    client = await buyer(livehub_server, "card-payer")
    try:
        reservation = (await buy(client, sale["sale_id"]))["reservation"]
        body = orjson.dumps({"reservation": reservation, "payment_ref": "psp-123"})

        def callback(signature: str) -> tuple[int, dict[str, Any]]:
            req = urllib.request.Request(f"{livehub_server.http}/api/payments/callback", data=body, method="POST")
            req.add_header("X-Livehub-Timestamp", timestamp)
            req.add_header("X-Livehub-Signature", signature)
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, orjson.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, orjson.loads(e.read())

        headers = signed_headers(PAYMENT_SECRET, body, time.time())
        timestamp = headers["X-Livehub-Timestamp"]
        assert (await asyncio.to_thread(callback, "sha256=forged"))[0] == 401
        good = headers["X-Livehub-Signature"]
        first = await asyncio.to_thread(callback, good)
        second = await asyncio.to_thread(callback, good)
        assert first[1]["status"] == "paid" and second[1]["status"] == "duplicate"
        assert first[1]["order"] == second[1]["order"]
    finally:
        await client.close()


async def test_hosts_pin_cards_that_reach_every_sub_venue_and_the_snapshot(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    viewer = await buyer(livehub_peer, "card-watcher", venue="b3")
    try:
        status, _ = await api("POST", f"{livehub_server.http}/api/venues/main/cards", {"sku": "b2-sku1"}, host_token())
        assert status == 200
        frame = await viewer.wait_for("event", kind="card.pinned")
        assert frame["ch"] == "main" and frame["data"]["card"]["sku"] == "b2-sku1"
        snap = await viewer.join("b3")
        assert snap["state"]["main"]["card"]["title"]
        status, err = await api("POST", f"{livehub_server.http}/api/venues/b1/cards", {"sku": "b2-sku1"},
                                host_token("host-b1", "b1"))  # fmt: skip
        assert status == 400 and err["code"] == "bad_request"  # another brand's product
        status, _ = await api("DELETE", f"{livehub_server.http}/api/venues/main/cards", None, host_token())
        assert status == 200
        assert (await viewer.wait_for("event", kind="card.unpinned"))["ch"] == "main"
        status, err = await api("POST", f"{livehub_server.http}/api/venues/main/events",
                                {"kind": "sale.started", "data": {}}, host_token())  # fmt: skip
        assert status == 400  # commerce kinds are published by their own endpoints only
    finally:
        await viewer.close()
