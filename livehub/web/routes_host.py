"""HTTP routes of hosts (``Authorization: Bearer <host token>``; who may call which: the role
table, livehub.domain.access, checked before these run): free-form events, the main
venue's visit calls to action and co-host link-ups, product cards, flash sales, coupon
drops, and a store's orders.  Bodies are parsed here; livehub.services.venue_controls acts."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub import errors
from livehub.domain.roles import require_main_venue, store_or_404
from livehub.domain.tokens import Identity
from livehub.domain.topology import Product
from livehub.protocol.commands import ident
from livehub.services.venue_controls import CouponDraft, Published, SaleDraft
from livehub.services.views import store_orders_view
from livehub.web.http import JSONResponse, bearer, body_int, body_opt_int, json_body, node_of, query_int, venue_param
from livehub.web.openapi import Param, declare, id_param, int_param

PUBLISHED = {200: "{epoch, offset}: the event's position in the venue's channel"}


def _published(published: Published, **extra: Any) -> Response:
    epoch, offset = published
    return JSONResponse({"epoch": epoch, "offset": offset, **extra})


def _main_venue_host(request: Request, what: str) -> tuple[str, Identity]:
    """The main venue of the path and its host's identity (``what`` is driven from main only)."""
    venue = venue_param(request)
    require_main_venue(node_of(request).festival, venue, what)
    return venue, bearer(request)


@declare(
    path={"venue": id_param("a venue of the festival")},
    body={
        "kind": Param("string", "the event's kind (not a reserved one: those have their own routes)", required=True),
        "data": Param("object", "the event's data, delivered as is"),
    },
    answers=PUBLISHED,
)
async def publish_event(request: Request) -> Response:
    """Publish a free-form host event (an announcement, a bench tick) in a venue."""
    venue = venue_param(request)
    body = await json_body(request)
    return _published(await node_of(request).controls.publish_event(venue, body.get("kind"), body.get("data")))


@declare(
    path={"venue": id_param("a venue of the festival")},
    body={
        "target": id_param("the brand venue to visit", required=True),
        "text": Param("string", "the call's text (200 characters kept)"),
    },
    answers=PUBLISHED,
)
async def visit_cta(request: Request) -> Response:
    """The main host sends its audience into a brand room: a ``cta.visit`` event on main."""
    venue, identity = _main_venue_host(request, "visit calls to action")
    body = await json_body(request)
    target = ident(body.get("target"), "target")
    if not isinstance(body.get("text", ""), str):  # a non-string used to be sent as its repr
        raise errors.bad_request("'text' must be a string", field="text")
    controls = node_of(request).controls
    return _published(await controls.visit_cta(venue, identity.sub, target, str(body.get("text", ""))))


@declare(
    path={"venue": id_param("a venue of the festival")},
    body={"brand_venue": id_param("POST: the brand venue to link up with", required=True)},
    answers={200: "{epoch, offset, cohost}"},
)
async def cohost(request: Request) -> Response:
    """Start (POST) or end (DELETE) a co-host link-up between the main venue and a brand venue.

    The co-host state is latest-value state of the main channel (every viewer of the
    festival sees it) and of the brand channel; each change is an event on both.
    """
    venue, identity = _main_venue_host(request, "co-host link-ups")
    controls = node_of(request).controls
    if request.method == "DELETE":
        published, data = await controls.cohost_end(venue, identity.sub)
        return _published(published, cohost=data)
    body = await json_body(request)
    brand_venue = ident(body.get("brand_venue"), "brand_venue")
    published, data = await controls.cohost_start(venue, identity.sub, brand_venue)
    return _published(published, cohost=data)


@declare(
    path={"venue": id_param("a venue of the festival")},
    body={
        "sku": id_param("the product to pin", required=True),
        "sale": id_param("its flash sale"),
        "coupon": id_param("a coupon drop shown with it"),
    },
    answers=PUBLISHED,
)
async def cards(request: Request) -> Response:
    """POST {sku, sale?, coupon?}: pin a product card; DELETE: unpin."""
    venue = venue_param(request)
    controls = node_of(request).controls
    if request.method == "DELETE":
        return _published(await controls.unpin_card(venue))
    body = await json_body(request)
    sku = ident(body.get("sku"), "sku")
    sale = ident(body.get("sale"), "sale", required=False)
    coupon = ident(body.get("coupon"), "coupon", required=False)
    buy_sale = None  # a card without a sale is bought at the regular price (livehub.services.shelf)
    if sale is None:
        buy_sale = await node_of(request).card_sales.ensure(venue, controls.product_of_venue(venue, sku))
    return _published(await controls.pin_card(venue, sku, sale, coupon, buy_sale))


def sale_draft(product: Product, body: dict[str, Any]) -> SaleDraft:
    """{stock, price_cents, per_user_limit, starts_in_s | starts_at_ms, duration_s | ends_at_ms,
    reservation_ttl_s, sale_id?} (and ``sku``, resolved to ``product`` before)"""
    return SaleDraft(
        product=product,
        starts_in_s=body_int(body, "starts_in_s", 0), starts_at_ms=body_opt_int(body, "starts_at_ms"),
        duration_s=body_int(body, "duration_s", 600), ends_at_ms=body_opt_int(body, "ends_at_ms"),
        sale_id=body.get("sale_id"), stock=body_int(body, "stock", 0), price_cents=body_opt_int(body, "price_cents"),
        per_user_limit=body_int(body, "per_user_limit", 1), reservation_ttl_s=body_int(body, "reservation_ttl_s", 300),
    )  # fmt: skip


@declare(
    path={"venue": id_param("a venue of the festival")},
    body={
        "sku": id_param("a product of the venue's brand", required=True),
        "stock": int_param("units on sale", minimum=0),
        "price_cents": int_param("default: the product's price", minimum=0),
        "per_user_limit": int_param("units one user may buy (default 1)", minimum=1),
        "starts_in_s": int_param("opens this many seconds from now (default 0)", minimum=0),
        "starts_at_ms": int_param("... or at this unix time (ms)", minimum=0),
        "duration_s": int_param("open this long (default 600)", minimum=1),
        "ends_at_ms": int_param("... or until (ms)"),
        "reservation_ttl_s": int_param("a reservation's time to pay (default 300)", minimum=1),
        "sale_id": id_param("an id of your choosing (default: generated)"),
    },
    answers={201: "{sale}: the scheduled sale"},
)
async def create_sale(request: Request) -> Response:
    """Schedule a flash sale: {sku, ...} (:func:`sale_draft`).  The sku is checked before the numbers."""
    venue = venue_param(request)
    body = await json_body(request)
    controls = node_of(request).controls
    draft = sale_draft(controls.product_of_venue(venue, body.get("sku")), body)
    return JSONResponse(await controls.create_sale(venue, draft), status_code=201)


@declare(
    path={
        "venue": id_param("a venue of the festival"),
        "sale": id_param("a sale of the venue"),
        "action": Param("string", "open or close the sale now", schema={"enum": ["start", "end"]}),
    },
    answers={200: "the sale's new window"},
)
async def sale_window(request: Request) -> Response:
    """Open (``start``) or close (``end``) a flash sale now."""
    venue = venue_param(request)
    action = request.path_params["action"]
    if action not in ("start", "end"):
        raise errors.not_found(f"unknown action {action!r}")
    sale_id = ident(request.path_params["sale"], "sale")
    return JSONResponse(await node_of(request).controls.sale_window(venue, sale_id, action))


def coupon_draft(issuer: str, brand: Any, body: dict[str, Any]) -> CouponDraft:
    """{value_cents, min_spend_cents, total, per_user_limit, expires_in_s | expires_at_ms, coupon_id?,
    only_guide?, only_store?} (and ``guide?``, ``brand?``, resolved to ``issuer`` and ``brand`` before)"""
    return CouponDraft(
        issuer=issuer, brand=brand, coupon_id=body.get("coupon_id"),
        value_cents=body_int(body, "value_cents", 0), min_spend_cents=body_int(body, "min_spend_cents", 0),
        per_user_limit=body_int(body, "per_user_limit", 1), total=body_int(body, "total", 0),
        expires_in_s=body_int(body, "expires_in_s", 3600), expires_at_ms=body_opt_int(body, "expires_at_ms"),
        only_guide=body.get("only_guide"), only_store=body.get("only_store"),
    )  # fmt: skip


@declare(
    path={"venue": id_param("a venue of the festival")},
    body={
        "value_cents": int_param("the discount", minimum=0),
        "min_spend_cents": int_param("spend needed to use one", minimum=0),
        "total": int_param("coupons in the drop", minimum=1),
        "per_user_limit": int_param("per user (default 1)", minimum=1),
        "expires_in_s": int_param("usable this long (default 3600)", minimum=1),
        "expires_at_ms": int_param("... or until (unix ms)"),
        "coupon_id": id_param("an id of your choosing"),
        "guide": id_param("issued in a guide's name"),
        "brand": id_param("the brand it is for (main venue: any)"),
    },
    answers={201: "{coupon}: the drop"},
)
async def drop_coupons(request: Request) -> Response:
    """Drop coupons into a venue (:func:`coupon_draft`); the guide and brand are checked before the numbers."""
    venue = venue_param(request)
    identity = bearer(request)
    body = await json_body(request)
    controls = node_of(request).controls
    issuer = controls.coupon_issuer(venue, identity.sub, body.get("guide"))
    brand = controls.coupon_brand(venue, body["brand"]) if "brand" in body else controls.coupon_brand(venue)
    return JSONResponse(await controls.drop_coupons(venue, coupon_draft(issuer, brand, body)), status_code=201)


@declare(
    path={"store": id_param("a store of the festival")},
    query={"limit": int_param("orders (default 50)", minimum=1, maximum=500)},
    answers={200: "{store, orders: [...], pickups: [...]}"},
)
async def store_orders(request: Request) -> Response:
    """A store's storefront: its latest orders and pickups (``?limit=``, at most 500).

    Buyers' ids and payment references are in there: the store's staff, a host of the store's
    brand (or the main host), an admin only (livehub.domain.access)."""
    node = node_of(request)
    store = store_or_404(node.festival, request.path_params["store"])
    limit = query_int(request, "limit", 50, 1, 500)
    return JSONResponse(store_orders_view(store, await node.orders.orders_of_store(store.id, limit)))


routes = [
    Route("/api/venues/{venue}/events", publish_event, methods=["POST"]),
    Route("/api/venues/{venue}/cta", visit_cta, methods=["POST"]),
    Route("/api/venues/{venue}/cohost", cohost, methods=["POST", "DELETE"]),
    Route("/api/venues/{venue}/cards", cards, methods=["POST", "DELETE"]),
    Route("/api/venues/{venue}/sales", create_sale, methods=["POST"]),
    Route("/api/venues/{venue}/sales/{sale}/{action}", sale_window, methods=["POST"]),
    Route("/api/venues/{venue}/coupons", drop_coupons, methods=["POST"]),
    Route("/api/stores/{store}/orders", store_orders),
]
