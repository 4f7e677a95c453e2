"""The presentation dicts of commerce: what buyers, hosts and viewers get for a reservation, a
buy, a payment, a sale, a card, a coupon, the leaderboard, a store's orders, the festival,
and the server frames commerce pushes."""

from __future__ import annotations

from livehub.domain.routing import Fulfilment
from livehub.domain.sale_rules import BuyCode, SaleSpec
from livehub.domain.topology import Festival
from livehub.services import views
from livehub.store.coupons import CouponCode, CouponSpec, GrabResult
from livehub.store.guides import GuideRank
from livehub.store.orders import Order
from livehub.store.sales import BuyResult, Reservation, SaleState


def spec(**kw: object) -> SaleSpec:
    fields: dict[str, object] = {
        "sale_id": "s1", "venue": "b1", "brand": "b1", "sku": "b1-sku1", "stock": 10, "price_cents": 900,
        "per_user_limit": 2, "starts_at_ms": 1000, "ends_at_ms": 2000,
    }  # fmt: skip
    fields.update(kw)
    return SaleSpec(**fields)  # type: ignore[arg-type]


def reservation(fulfilment: Fulfilment | None) -> Reservation:
    return Reservation(
        reservation_id="r1", sale_id="s1", user_id="u1", request_id="q1", state="reserved", qty=2,
        unit_price_cents=900, subtotal_cents=1800, discount_cents=100, amount_cents=1700, coupon_id="c1",
        guide_id=None, guide_store=None, created_at_ms=5, deadline_ms=305_005, fulfilment=fulfilment, order_id=None,
    )  # fmt: skip


def order(mode: str, store: str | None) -> Order:
    return Order(
        order_id="o1", reservation_id="r1", sale_id="s1", venue="b1", brand="b1", sku="b1-sku1", user_id="u1",
        qty=1, unit_price_cents=900, subtotal_cents=900, discount_cents=0, amount_cents=900, coupon_id=None,
        fulfilment=Fulfilment(mode, store, 1.0 if store else None),  # type: ignore[arg-type]
        guide_id="b1-g1", guide_store=None, payment_ref="p", created_at_ms=7,
    )  # fmt: skip


def test_a_routed_reservation_shows_its_pickup_store_and_rounded_distance() -> None:
    view = views.reservation_view(reservation(Fulfilment("pickup", "b1-s1", 1.23456, fallback=True)))
    assert view["reservation"] == "r1" and view["pay_by"] == 305_005 and view["amount_cents"] == 1700
    routed = (view["mode"], view["store"], view["distance_km"], view["pickup_fallback"])
    assert routed == ("pickup", "b1-s1", 1.235, True)


def test_an_unrouted_reservation_has_no_mode_store_or_distance() -> None:
    view = views.reservation_view(reservation(None))
    assert (view["mode"], view["store"], view["distance_km"], view["pickup_fallback"]) == (None, None, None, False)


def test_a_buy_view_carries_the_reservation_when_there_is_one_and_only_the_extras_that_are_set() -> None:
    ok = views.buy_view(BuyResult(BuyCode.OK, "s1", available=3, reservation=reservation(None)))
    assert ok["status"] == "ok" and ok["available"] == 3 and ok["reservation"] == "r1"
    assert "starts_at_ms" not in ok and "detail" not in ok
    early = views.buy_view(BuyResult(BuyCode.NOT_STARTED, "s1", starts_at_ms=1000))
    assert early == {"status": "not_started", "sale": "s1", "available": 0, "starts_at_ms": 1000}
    bad = views.buy_view(BuyResult(BuyCode.COUPON_INVALID, "s1", detail="expired"))
    assert bad == {"status": "coupon_invalid", "sale": "s1", "available": 0, "detail": "expired"}


def test_a_grab_view_and_an_order_view() -> None:
    assert views.grab_view("c1", GrabResult(CouponCode.OK, left=4, grabbed=1, unused=1)) == {
        "status": "ok", "coupon": "c1", "left": 4, "grabbed": 1, "unused": 1}  # fmt: skip
    assert views.order_view(order("pickup", "b1-s1")) == {
        "order": "o1", "sale": "s1", "sku": "b1-sku1", "qty": 1, "amount_cents": 900, "mode": "pickup",
        "store": "b1-s1", "guide": "b1-g1"}  # fmt: skip


def test_a_public_sale_takes_title_and_image_from_the_catalogue_and_falls_back_to_the_sku(festival: Festival) -> None:
    known = views.sale_public(festival, spec(), sold_out=True)
    product = festival.products["b1-sku1"]
    assert known["title"] == product.title and known["list_price_cents"] == product.list_price_cents
    assert known["sold_out"] is True and known["price_cents"] == 900 and known["reservation_ttl_s"] == 300
    unknown = views.sale_public(festival, spec(sku="gone-sku"))
    assert (unknown["title"], unknown["image_url"], unknown["list_price_cents"]) == ("gone-sku", None, None)


def test_a_sale_state_view_adds_counts_phase_and_whether_they_balance(festival: Festival) -> None:
    state = SaleState(spec(), available=6, reserved=3, sold=1, expired=2)
    view = views.sale_state_view(festival, state, "open")
    assert (view["available"], view["reserved"], view["sold"], view["expired"]) == (6, 3, 1, 2)
    assert view["phase"] == "open" and view["balanced"] is True and view["sale_id"] == "s1"
    assert views.sale_state_view(festival, SaleState(spec(), 6, 3, 2, 0), "ended")["balanced"] is False


def test_a_card_names_its_sale_and_coupon_only_when_attached(festival: Festival) -> None:
    product = festival.products["b1-sku1"]
    bare = views.card_view(product, 42, None, None)
    assert bare["sku"] == "b1-sku1" and bare["pinned_at"] == 42 and "sale" not in bare and "coupon" not in bare
    full = views.card_view(product, 42, "s1", "c1")
    assert (full["sale"], full["coupon"]) == ("s1", "c1")


def test_a_public_coupon_is_every_field_of_its_spec() -> None:
    coupon = CouponSpec("c1", "b1", "host-b1", 100, 500, 1, 10, 9_999, brand="b1")
    assert views.coupon_public(coupon) == {
        "coupon_id": "c1", "venue": "b1", "issuer": "host-b1", "value_cents": 100, "min_spend_cents": 500,
        "per_user_limit": 1, "total": 10, "expires_at_ms": 9_999, "brand": "b1", "only_guide": None,
        "only_store": None}  # fmt: skip


def test_leaderboard_rows_name_known_guides_and_keep_unknown_ones_by_id(festival: Festival) -> None:
    board = views.leaderboard_view(festival, "2026120100", [GuideRank("b1-g1", 900, 90), GuideRank("gone", 5, 0)])
    known, unknown = board["guides"]
    guide = festival.guides["b1-g1"]
    assert board["hour"] == "2026120100"
    assert known == {"guide_id": "b1-g1", "sales_cents": 900, "commission_cents": 90, "name": guide.name,
                     "store": guide.store, "brand": guide.brand}  # fmt: skip
    assert (unknown["name"], unknown["store"], unknown["brand"]) == ("gone", None, None)


def test_a_store_view_lists_its_orders_and_the_pickups_among_them(festival: Festival) -> None:
    store = festival.stores["b1-s1"]
    view = views.store_orders_view(store, [order("pickup", "b1-s1"), order("delivery", None)])
    assert view["store"] == {"id": "b1-s1", "name": store.name, "brand": "b1"}
    assert len(view["orders"]) == 2 and [r["mode"] for r in view["pickups"]] == ["pickup"]


def test_the_festival_view_lists_every_venue_and_product(festival: Festival) -> None:
    view = views.festival_view(festival)
    assert view["main_venue"] == "main" and [v["id"] for v in view["venues"]] == list(festival.venues)
    assert {p["sku"] for p in view["products"]} == set(festival.products)
