"""A buyer's own orders over real Redis stores (livehub.services.my_orders): what a buy notes, what a
failed buy takes back, how a reservation and a pickup order are shown, and other kinds' resolvers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from livehub.domain.admission import Admission
from livehub.domain.tokens import VIEWER, Identity
from livehub.protocol.commands import Command
from livehub.services.buying import Buying
from livehub.services.my_orders import MyOrders
from livehub.services.sale_registry import SaleRegistry
from livehub.services.venue_controls import SaleDraft, VenueControls
from livehub.store.keys import Keys
from livehub.store.my_orders import RESERVATION, Entry, UserOrders
from livehub.store.pickups import Pickups
from tests.services.conftest import Stores


@dataclass
class Conn:
    identity: Identity
    guide: str | None = None


@pytest.fixture
def mine(redis: aioredis.Redis, keys: Keys, stores: Stores) -> MyOrders:
    return MyOrders(stores.festival, UserOrders(redis, keys, stores.scripts), Pickups(redis, keys, stores.scripts))


@pytest.fixture
async def buying(stores: Stores, mine: MyOrders) -> Buying:
    await stores.stores.load()
    registry = SaleRegistry(stores.festival, stores.sales)
    controls = VenueControls(stores.festival, stores.broker, registry, stores.sales, stores.coupons,
                             max_signal_bytes=1024)  # fmt: skip
    product = stores.festival.products["b1-sku1"]
    await controls.create_sale("b1", SaleDraft(product, sale_id="s-mine", stock=2, per_user_limit=1))
    return Buying(stores.festival, registry, stores.sales, stores.coupons, Admission(), stores.broker, my_orders=mine)


async def test_a_buy_is_in_the_buyers_orders_with_its_product_and_pay_by(buying: Buying, mine: MyOrders) -> None:
    answer = await buying.buy("u1", "s-mine", "q1", {"qty": 1}, None)

    (order,) = (await mine.of_user("u1"))["orders"]

    assert (order["kind"], order["venue"], order["reservation"], order["state"]) == (
        RESERVATION, "b1", answer["reservation"], "reserved")  # fmt: skip
    assert (order["pay_by"], order["sku"], order["title"]) == (answer["pay_by"], "b1-sku1", "Longjing green tea 250g")
    assert "pickup" not in order  # delivered from the warehouse
    assert (await mine.of_user("u2"))["orders"] == []


async def test_every_buy_of_a_buyer_in_one_sale_is_listed_from_one_entry_noted_once(
    buying: Buying, mine: MyOrders, stores: Stores, redis: aioredis.Redis, keys: Keys
) -> None:
    controls = VenueControls(stores.festival, stores.broker, buying.registry, stores.sales, stores.coupons,
                             max_signal_bytes=1024)  # fmt: skip
    product = stores.festival.products["b1-sku1"]  # s-mine allows one unit per buyer: a sale allowing two
    await controls.create_sale("b1", SaleDraft(product, sale_id="s-two", stock=5, per_user_limit=2))
    first = await buying.buy("u1", "s-two", "q1", {"qty": 1}, None)
    second = await buying.buy("u1", "s-two", "q2", {"qty": 1}, None)

    listed = [o["reservation"] for o in (await mine.of_user("u1"))["orders"]]
    assert listed == [second["reservation"], first["reservation"]]  # newest first
    assert len(await mine.index.entries("u1")) == 1  # one entry for the sale
    # the second buy wrote no note: the sale's entry counts one attempt
    assert await redis.hgetall(keys.user_orders_pending("u1")) == {b"sale|b1|s-two": b"1"}


async def test_a_failed_buy_leaves_nothing_in_the_list_and_a_retry_one_entry(buying: Buying, mine: MyOrders) -> None:
    await buying.buy("u1", "s-mine", "q1", {"qty": 1}, None)
    refused = await buying.buy("u1", "s-mine", "q2", {"qty": 1}, None)  # per-user limit 1
    retry = await buying.buy("u1", "s-mine", "q1", {"qty": 1}, None)

    assert (refused["status"], retry["status"]) == ("limit_reached", "duplicate")
    assert [o["reservation"] for o in (await mine.of_user("u1"))["orders"]] == [retry["reservation"]]
    assert len(await mine.index.entries("u1")) == 1


async def test_a_paid_pickup_order_shows_its_store_address_distance_and_code(
    buying: Buying, mine: MyOrders, stores: Stores
) -> None:
    answer = await buying.buy("u1", "s-mine", "q1", {"qty": 1, "pickup_store": "b1-s1", "loc": (31.2407, 121.4726)},
                              None)  # fmt: skip
    before = (await mine.of_user("u1"))["orders"][0]["pickup"]
    await stores.sales.pay(answer["reservation"], "p1")

    (order,) = (await mine.of_user("u1"))["orders"]

    assert before["code"] is None  # no code before the payment
    pickup = order["pickup"]
    assert (order["state"], pickup["store"], pickup["name"], pickup["address"]) == (
        "paid", "b1-s1", "Lotus Tea People's Square", "200 Nanjing Road East, Huangpu")  # fmt: skip
    assert pickup["distance_km"] == pytest.approx(1.0, abs=0.01) and pickup["picked_up_at_ms"] is None
    assert len(pickup["code"]) == 8
    picked = await mine.pickups.verify("b1-s1", pickup["code"], "clerk-1")
    assert (await mine.of_user("u1"))["orders"][0]["pickup"]["picked_up_at_ms"] == picked.picked_up_at_ms


async def test_the_websocket_orders_command_answers_the_same_list(buying: Buying, mine: MyOrders) -> None:
    await buying.buy("u1", "s-mine", "q1", {"qty": 1}, None)

    answer = await mine.ws_orders(Conn(Identity("u1", VIEWER)), Command("orders", 1))  # type: ignore[arg-type]

    assert answer == await mine.of_user("u1")


async def test_an_entry_pointing_at_nothing_or_at_someone_elses_reservation_is_hidden(
    buying: Buying, mine: MyOrders
) -> None:
    theirs = await buying.buy("u2", "s-mine", "q1", {"qty": 1}, None)
    await mine.index.note("u1", RESERVATION, "b1", theirs["reservation"], 0)  # forged: not u1's
    await mine.index.note("u1", RESERVATION, "b1", "s-mine:r" + "0" * 32, 0)  # a buy that never ran

    assert (await mine.of_user("u1"))["orders"] == []
    assert await mine.index.entries("u1") == []  # both long past the grace: pruned


async def test_another_kind_shows_through_its_own_resolver_and_an_unknown_kind_is_kept_unshown(
    mine: MyOrders,
) -> None:
    async def group_buys(user: str, entries: Sequence[Entry]) -> list[dict[str, Any] | None]:
        return [{"group": e.id, "members": 3} for e in entries]

    mine.resolvers["group_buy"] = group_buys
    await mine.index.note("u1", "group_buy", "b2", "g7", 1_000)
    await mine.index.note("u1", "pre_sale", "b2", "p1", 2_000)  # a kind this node has no resolver for

    assert (await mine.of_user("u1"))["orders"] == [
        {"kind": "group_buy", "venue": "b2", "noted_at_ms": 1_000, "group": "g7", "members": 3}]  # fmt: skip
    assert len(await mine.index.entries("u1")) == 2


async def test_a_buy_that_fails_after_its_script_ran_is_still_in_the_list_for_the_retry(
    buying: Buying, mine: MyOrders, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def routing_lost(*args: Any, **kwargs: Any) -> Any:
        raise RedisConnectionError("the node lost Redis after buy.lua answered")

    monkeypatch.setattr(buying.sales, "_route", routing_lost)
    with pytest.raises(RedisConnectionError):  # the buyer gets no answer (an error)
        await buying.buy("u1", "s-mine", "q1", {"qty": 1, "loc": (31.2407, 121.4726)}, None)

    (order,) = (await mine.of_user("u1"))["orders"]  # but the reservation is listed
    assert order["state"] == "reserved" and order["mode"] is None  # not routed yet
