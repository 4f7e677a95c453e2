"""Host controls over a MemoryBroker and real Redis stores: free-form events and their reserved
kinds, visit calls to action, co-host link-ups on both channels, signal relay, cards and sales."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from livehub import errors
from livehub.domain.tokens import HOST, VIEWER, Identity
from livehub.errors import LivehubError
from livehub.services.sale_registry import SaleRegistry
from livehub.services.venue_controls import CouponDraft, SaleDraft, VenueControls
from tests.services.conftest import Stores


@pytest.fixture
def controls(stores: Stores) -> VenueControls:
    registry = SaleRegistry(stores.festival, stores.sales)
    return VenueControls(stores.festival, stores.broker, registry, stores.sales, stores.coupons, max_signal_bytes=256)


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


async def state(stores: Stores, channel: str) -> dict[str, Any]:
    return (await stores.broker.snapshot(channel)).state


async def test_a_free_form_event_is_published_and_reserved_or_malformed_kinds_are_refused(
    controls: VenueControls, stores: Stores
) -> None:
    epoch = (await stores.broker.snapshot("b1")).epoch
    assert await controls.publish_event("b1", "announce", {"text": "hi"}) == (epoch, 1)
    for kind in ("sale.started", "card.pinned", "cohost.x", "Bad Kind", 7, None):
        with pytest.raises(LivehubError) as exc:
            await controls.publish_event("b1", kind, {})
        assert exc.value.code == errors.BAD_REQUEST
    assert (await stores.broker.snapshot("b1")).offset == 1


async def test_free_form_event_data_nested_deeper_than_frames_re_encode_is_refused_naming_the_field(
    controls: VenueControls, stores: Stores
) -> None:
    with pytest.raises(LivehubError) as exc:
        await controls.publish_event("b1", "announce", {"deep": nested(300)})
    assert (exc.value.code, exc.value.details) == (errors.BAD_REQUEST, {"field": "data"})
    assert (await stores.broker.snapshot("b1")).offset == 0
    await controls.publish_event("b1", "announce", {"deep": nested(100)})
    assert (await stores.broker.snapshot("b1")).offset == 1


async def test_a_visit_cta_is_latest_value_state_of_main_and_names_the_brand_room(
    controls: VenueControls, stores: Stores
) -> None:
    await controls.visit_cta("main", "host-main", "b2", "x" * 300)
    cta = (await state(stores, "main"))["cta"]
    assert cta["target"] == "b2" and cta["title"] == stores.festival.venues["b2"].title
    assert cta["by"] == "host-main" and len(cta["text"]) == 200
    with pytest.raises(LivehubError) as exc:
        await controls.visit_cta("main", "host-main", "main", "")
    assert exc.value.code == errors.NOT_FOUND


async def test_a_cohost_link_up_is_state_of_both_channels_and_ending_it_clears_both(
    controls: VenueControls, stores: Stores
) -> None:
    (_epoch, offset), data = await controls.cohost_start("main", "host-main", "b1")
    assert offset == 1 and data["brand_host"] == "host-b1" and data["active"] is True
    assert (await state(stores, "main"))["cohost"] == data == (await state(stores, "b1"))["cohost"]
    (_epoch, offset), ended = await controls.cohost_end("main", "host-main")
    assert offset == 2 and ended["active"] is False
    assert "cohost" not in await state(stores, "main") and "cohost" not in await state(stores, "b1")
    assert (await stores.broker.snapshot("b1")).offset == 2  # started and ended on the brand channel too


async def events_of(stores: Stores, channel: str) -> list[tuple[str, dict[str, Any]]]:
    snap = await stores.broker.snapshot(channel)
    found = await stores.broker.history(channel, snap.epoch, 0, 100)
    assert found is not None
    return [(body["kind"], body["data"]) for body in (orjson.loads(e.body) for e in found)]


async def test_moving_a_cohost_link_up_to_another_brand_ends_the_first_brands_as_delete_does(
    controls: VenueControls, stores: Stores
) -> None:
    await controls.cohost_start("main", "host-main", "b1")
    _, data = await controls.cohost_start("main", "host-main", "b2")
    assert "cohost" not in await state(stores, "b1")
    [*_, (kind, ended)] = await events_of(stores, "b1")
    assert kind == "cohost.ended" and ended["active"] is False and ended["by"] == "host-main"
    assert (await state(stores, "b2"))["cohost"] == data == (await state(stores, "main"))["cohost"]
    assert data["brand_venue"] == "b2"
    assert [k for k, _ in await events_of(stores, "b2")] == ["cohost.started"]
    await controls.cohost_start("main", "host-main", "b2")  # the same brand again: nothing to end
    assert [k for k, _ in await events_of(stores, "b2")] == ["cohost.started", "cohost.started"]
    await controls.cohost_end("main", "host-main")
    assert [v for v in ("main", "b1", "b2") if "cohost" in await state(stores, v)] == []
    assert [k for k, _ in await events_of(stores, "b1")] == ["cohost.started", "cohost.ended"]


async def test_signals_are_relayed_between_hosts_only_to_known_hosts_and_bounded_in_size(
    controls: VenueControls, stores: Stores
) -> None:
    sent: list[tuple[str, dict[str, Any]]] = []

    async def record(channel: str, key: str, message: dict[str, Any]) -> None:
        sent.append((channel, message))

    stores.broker.publish_volatile = record  # type: ignore[method-assign]
    await controls.signal(Identity("host-main", HOST, "main"), "host-b1", {"sdp": "offer"})
    assert [(c, m["type"], m["from"], m["data"]) for c, m in sent] == [("host:host-b1", "signal", "host-main",
                                                                         {"sdp": "offer"})]  # fmt: skip
    refusals = [
        (Identity("u1", VIEWER), "host-b1", {}, errors.FORBIDDEN),
        (Identity("host-main", HOST, "main"), "host-zz", {}, errors.NOT_FOUND),
        (Identity("host-main", HOST, "main"), "host-b1", {"sdp": "x" * 300}, errors.TOO_LARGE),
        (Identity("host-main", HOST, "main"), "host-b1", {"sdp": nested(300)}, errors.BAD_REQUEST),
        (Identity("host-main", HOST, "main"), "host-b1", {"sdp": b"\x00"}, errors.BAD_REQUEST),  # msgpack bytes
    ]
    for sender, to, data, code in refusals:
        with pytest.raises(LivehubError) as exc:
            await controls.signal(sender, to, data)
        assert exc.value.code == code
    assert len(sent) == 1


async def test_a_created_sale_is_announced_registered_and_its_defaults_follow_the_product(
    controls: VenueControls, stores: Stores
) -> None:
    out = await controls.create_sale("b1", SaleDraft(stores.festival.products["b1-sku1"], sale_id="s-one", stock=5))
    sale = out["sale"]
    product = stores.festival.products["b1-sku1"]
    assert sale["price_cents"] == product.price_cents and sale["per_user_limit"] == 1
    assert sale["ends_at_ms"] - sale["starts_at_ms"] == 600_000
    assert (await state(stores, "b1"))["sale:s-one"] == sale
    assert controls.registry.venue_sales["b1"] == ["s-one"] and "s-one" in controls.registry.specs
    with pytest.raises(LivehubError) as exc:
        await controls.create_sale("b1", SaleDraft(stores.festival.products["b1-sku1"], sale_id="s-one", stock=5))
    assert exc.value.code == errors.BAD_REQUEST  # exists already
    assert controls.product_of_venue("main", "b2-sku1").brand == "b2"  # the main venue sells every brand
    for sku, code in (("nope", errors.NOT_FOUND), (None, errors.BAD_REQUEST), (7, errors.BAD_REQUEST),
                      ("b2-sku1", errors.BAD_REQUEST)):  # fmt: skip
        with pytest.raises(LivehubError) as exc:
            controls.product_of_venue("b1", sku)
        assert exc.value.code == code
    with pytest.raises(LivehubError) as missing:
        controls.product_of_venue("b1", None)
    assert missing.value.details == {"field": "sku"}  # a missing sku names the field (it is not an unknown one)


async def test_a_coupon_drop_is_issued_by_the_host_or_its_brands_guide_for_the_venues_brand(
    controls: VenueControls, stores: Stores
) -> None:
    assert controls.coupon_issuer("b1", "host-b1", None) == "host-b1"
    assert controls.coupon_issuer("b1", "host-b1", "b1-g1") == "b1-g1"
    assert controls.coupon_brand("b1") == "b1" and controls.coupon_brand("main") is None
    assert controls.coupon_brand("main", "b2") == "b2"
    refusals = [
        (lambda: controls.coupon_issuer("b1", "host-b1", "nobody"), errors.NOT_FOUND),
        (lambda: controls.coupon_issuer("b1", "host-b1", 7), errors.NOT_FOUND),
        (lambda: controls.coupon_issuer("b2", "host-b2", "b1-g1"), errors.FORBIDDEN),
        (lambda: controls.coupon_brand("b1", "b2"), errors.FORBIDDEN),
        (lambda: controls.coupon_brand("b1", None), errors.FORBIDDEN),
    ]
    for call, code in refusals:
        with pytest.raises(LivehubError) as exc:
            call()
        assert exc.value.code == code
    out = await controls.drop_coupons("b1", CouponDraft("b1-g1", "b1", coupon_id="c-one", value_cents=100, total=5))
    assert out["coupon"]["issuer"] == "b1-g1" and out["coupon"]["total"] == 5
    assert (await state(stores, "b1"))["coupon:c-one"] == out["coupon"]
    with pytest.raises(LivehubError) as exc:
        await controls.drop_coupons("b1", CouponDraft("b1-g1", "b1", coupon_id="c-one", value_cents=100, total=5))
    assert exc.value.code == errors.BAD_REQUEST  # exists already


async def test_a_pinned_card_checks_its_sale_and_coupon_and_unpinning_clears_it(
    controls: VenueControls, stores: Stores
) -> None:
    await controls.create_sale("b1", SaleDraft(stores.festival.products["b1-sku1"], sale_id="s-card", stock=5))
    await controls.pin_card("b1", "b1-sku1", "s-card", None)
    card = (await state(stores, "b1"))["card"]
    assert card["sku"] == "b1-sku1" and card["sale"] == "s-card" and "coupon" not in card
    with pytest.raises(LivehubError) as exc:
        await controls.pin_card("b1", "b1-sku2", "s-card", None)
    assert exc.value.code == errors.BAD_REQUEST  # the sale sells another sku
    with pytest.raises(LivehubError) as exc:
        await controls.pin_card("b1", "b1-sku1", None, "no-such-coupon")
    assert exc.value.code == errors.NOT_FOUND
    await controls.unpin_card("b1")
    assert "card" not in await state(stores, "b1")
