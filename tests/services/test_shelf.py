"""The shelf and the pinned card's Buy button over a MemoryBroker and real Redis stores: the shelf
is latest-value state in the host's order with its attachments, checked against the catalogue,
bounded; a card pinned without a sale names a regular-price sale that buys like any other."""

from __future__ import annotations

import pytest

from livehub import errors
from livehub.domain.sale_rules import BuyCode, BuyRequest
from livehub.errors import LivehubError
from livehub.services.sale_registry import SaleRegistry
from livehub.services.shelf import CardSales, Shelf
from livehub.services.venue_controls import SaleDraft, VenueControls
from livehub.settings import Settings
from livehub.store.coupons import CouponSpec
from tests.services.conftest import Stores


@pytest.fixture
def controls(stores: Stores) -> VenueControls:
    registry = SaleRegistry(stores.festival, stores.sales)
    return VenueControls(stores.festival, stores.broker, registry, stores.sales, stores.coupons, max_signal_bytes=256)


@pytest.fixture
def shelf(stores: Stores, controls: VenueControls) -> Shelf:
    return Shelf(stores.festival, stores.broker, controls, max_items=3)


async def test_the_shelf_is_latest_value_state_in_the_hosts_order_with_its_attachments(
    shelf: Shelf, controls: VenueControls, stores: Stores
) -> None:
    sale = await controls.create_sale("b1", SaleDraft(product=stores.festival.products["b1-sku1"], stock=5))
    now = await stores.sales.server_time_ms()
    await stores.coupons.drop(CouponSpec("c1", "b1", "host-b1", 500, 0, 1, 10, now + 60_000, brand="b1"))
    sale_id = sale["sale"]["sale_id"]
    (epoch, offset), data = await shelf.set(
        "b1", [{"sku": "b1-sku2", "group": "gd-7"}, {"sku": "b1-sku1", "sale": sale_id, "coupon": "c1"}]
    )
    snap = await stores.broker.snapshot("b1")
    assert (snap.epoch, snap.offset) == (epoch, offset)
    assert snap.state["shelf"] == data
    items = data["items"]
    assert [i["sku"] for i in items] == ["b1-sku2", "b1-sku1"]
    assert (items[0].get("group"), items[1]["sale"], items[1]["coupon"]) == ("gd-7", sale_id, "c1")
    assert items[0]["title"] == stores.festival.products["b1-sku2"].title
    await shelf.set("b1", [{"sku": "b1-sku1"}, {"sku": "b1-sku2"}])  # reordering: the whole list again
    assert [i["sku"] for i in (await stores.broker.snapshot("b1")).state["shelf"]["items"]] == ["b1-sku1", "b1-sku2"]
    await shelf.clear("b1")
    assert "shelf" not in (await stores.broker.snapshot("b1")).state


@pytest.mark.parametrize(
    ("items", "code", "field"),
    [
        ([{"sku": "b2-sku1"}], errors.BAD_REQUEST, None),  # another brand's product in a brand venue
        ([{"sku": "no-such-sku"}], errors.NOT_FOUND, None),
        ([{"sku": "b1-sku1", "coupon": "no-coupon"}], errors.NOT_FOUND, "items[0].coupon"),
        ([{"sku": "b1-sku1", "sale": "no-sale"}], errors.NOT_FOUND, None),
        ([{"sku": f"b1-sku{i}"} for i in range(4)], errors.BAD_REQUEST, "items"),  # longer than max_items
        ([{"sku": "b1-sku1", "group": "not an id"}], errors.BAD_REQUEST, "items[0].group"),
    ],
)
async def test_a_shelf_the_catalogue_does_not_allow_is_refused_and_nothing_is_published(
    shelf: Shelf, stores: Stores, items: object, code: str, field: str | None
) -> None:
    with pytest.raises(LivehubError) as exc:
        await shelf.set("b1", items)
    assert exc.value.code == code
    if field is not None:
        assert exc.value.details.get("field") == field
    assert (await stores.broker.snapshot("b1")).offset == 0


async def test_a_sale_of_another_sku_cannot_be_attached_to_a_shelf_item(
    shelf: Shelf, controls: VenueControls, stores: Stores
) -> None:
    sale = await controls.create_sale("b1", SaleDraft(product=stores.festival.products["b1-sku1"], stock=5))
    with pytest.raises(LivehubError) as exc:
        await shelf.set("b1", [{"sku": "b1-sku2", "sale": sale["sale"]["sale_id"]}])
    assert exc.value.details.get("field") == "items[0].sale"


async def test_a_card_pinned_without_a_sale_is_bought_at_the_regular_price(
    controls: VenueControls, stores: Stores
) -> None:
    card_sales = CardSales(Settings(card_sale_stock=3, card_sale_per_user_limit=2), controls.registry, stores.sales)
    product = stores.festival.products["b1-sku1"]
    sale_id = await card_sales.ensure("b1", product)
    assert await card_sales.ensure("b1", product) == sale_id  # pinned again: the same sale
    await controls.pin_card("b1", "b1-sku1", None, None, sale_id)
    card = (await stores.broker.snapshot("b1")).state["card"]
    assert card["buy_sale"] == sale_id and "sale" not in card
    bought = await stores.sales.buy(sale_id, "u1", BuyRequest("r1", 2))
    assert bought.code is BuyCode.OK and bought.reservation is not None
    assert bought.reservation.unit_price_cents == product.price_cents
    assert (await stores.sales.buy(sale_id, "u1", BuyRequest("r2"))).code is BuyCode.LIMIT_REACHED
    spec = await stores.sales.get_spec(sale_id)
    assert spec is not None and spec.ends_at_ms - await stores.sales.server_time_ms() >= 86_400_000
