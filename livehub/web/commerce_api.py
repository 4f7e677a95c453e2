"""HTTP endpoints of commerce: host controls, the buy/grab twins of the websocket
requests, the payment callback, stores' order lists and the guide leaderboard."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub import errors
from livehub.errors import LivehubError
from livehub.protocol.commands import ident, parse_buy_args
from livehub.services.commerce import SIGNATURE_HEADER, Commerce
from livehub.web.http_api import JSONResponse, bearer, host_of, json_body, node_of

HOUR_RE = re.compile(r"^\d{10}$")


def commerce_of(request: Request) -> Commerce:
    commerce: Commerce = request.app.state.commerce
    return commerce


def _venue(request: Request) -> str:
    return node_of(request).venue_or_404(request.path_params["venue"])


def _viewer(request: Request) -> str:
    identity = bearer(request)
    if identity.is_host:
        raise errors.forbidden("hosts do not buy; use a viewer token")
    return identity.sub


async def cards(request: Request) -> Response:
    """POST {sku, sale?, coupon?}: pin a product card; DELETE: unpin."""
    venue = _venue(request)
    host_of(request, venue)
    commerce = commerce_of(request)
    if request.method == "DELETE":
        epoch, offset = await commerce.unpin_card(venue)
    else:
        body = await json_body(request)
        sku = ident(body.get("sku"), "sku")
        sale = ident(body.get("sale"), "sale", required=False)
        coupon = ident(body.get("coupon"), "coupon", required=False)
        epoch, offset = await commerce.pin_card(venue, sku, sale, coupon)
    return JSONResponse({"epoch": epoch, "offset": offset})


async def create_sale(request: Request) -> Response:
    """{sku, stock, price_cents, per_user_limit, starts_in_s | starts_at_ms, duration_s | ends_at_ms,
    reservation_ttl_s, sale_id?}"""
    venue = _venue(request)
    host_of(request, venue)
    return JSONResponse(await commerce_of(request).create_sale(venue, await json_body(request)), status_code=201)


async def sale_window(request: Request) -> Response:
    venue = _venue(request)
    host_of(request, venue)
    action = request.path_params["action"]
    if action not in ("start", "end"):
        raise errors.not_found(f"unknown action {action!r}")
    sale_id = ident(request.path_params["sale"], "sale")
    return JSONResponse(await commerce_of(request).sale_window(venue, sale_id, action))


async def sale(request: Request) -> Response:
    sale_id = ident(request.path_params["sale"], "sale")
    return JSONResponse(await commerce_of(request).sale_state(sale_id))


async def buy(request: Request) -> Response:
    """The websocket ``buy`` for clients that cannot hold a socket: {id, qty, loc, pickup_store, coupon}."""
    user = _viewer(request)
    body = await json_body(request)
    args = parse_buy_args({**body, "sale": request.path_params["sale"]})
    guide_code = request.query_params.get("guide")
    guide = node_of(request).festival.guide_by_code(guide_code) if guide_code else None
    result = await commerce_of(request).buy(user, args["sale"], str(body["id"]), args, guide.id if guide else None)
    return JSONResponse(result)


async def grab(request: Request) -> Response:
    user = _viewer(request)
    coupon = ident(request.path_params["coupon"], "coupon")
    return JSONResponse(await commerce_of(request).grab(user, coupon))


async def drop_coupons(request: Request) -> Response:
    """{value_cents, min_spend_cents, total, per_user_limit, expires_in_s | expires_at_ms, guide?, brand?}"""
    venue = _venue(request)
    identity = host_of(request, venue)
    body = await json_body(request)
    return JSONResponse(await commerce_of(request).drop_coupons(venue, identity.sub, body), status_code=201)


async def pay_reservation(request: Request) -> Response:
    """The demo's simulated payment: the buyer pays their own reservation."""
    user = _viewer(request)
    rid = request.path_params["reservation"]
    return JSONResponse(await commerce_of(request).pay(rid, "demo-" + user, user=user))


async def payment_callback(request: Request) -> Response:
    """The payment provider's callback: ``{"reservation": ..., "payment_ref": ...}``, signed with
    ``X-Livehub-Signature: sha256=<hex HMAC-SHA256 of the raw body with LIVEHUB_SECRET>``.

    Answers ``paid`` (this call confirmed the order), ``duplicate`` (confirmed before: same
    order), ``expired`` (the payment deadline passed: refund it).  Idempotent: providers retry.
    """
    commerce = commerce_of(request)
    raw = await request.body()
    commerce.verify_payment(raw, request.headers.get(SIGNATURE_HEADER))
    body = await json_body(request)
    rid, ref = body.get("reservation"), body.get("payment_ref", "")
    if not isinstance(rid, str) or not isinstance(ref, str) or len(ref) > 128:
        raise errors.bad_request("'reservation' and 'payment_ref' must be strings")
    return JSONResponse(await commerce.pay(rid, ref))


async def store_orders(request: Request) -> Response:
    """A store's storefront: its latest orders and pickups (``?limit=``, at most 500).

    Buyers' ids and payment references are in there: a host of the store's brand (or the
    main host) only."""
    node = node_of(request)
    store_id = request.path_params["store"]
    store = node.festival.stores.get(store_id)
    if store is None:
        raise errors.not_found(f"unknown store {store_id!r}")
    host_of(request, node.festival.brands[store.brand].venue)
    limit = _query_int(request, "limit", 50, 1, 500)
    orders = await commerce_of(request).orders.orders_of_store(store_id, limit)
    rows = [order.to_fields() for order in orders]
    return JSONResponse({"store": {"id": store.id, "name": store.name, "brand": store.brand}, "orders": rows,
                         "pickups": [r for r in rows if r.get("mode") == "pickup"]})  # fmt: skip


async def leaderboard(request: Request) -> Response:
    hour = request.query_params.get("hour")
    if hour is not None and not HOUR_RE.match(hour):
        raise errors.bad_request("'hour' must be YYYYMMDDHH (UTC)")
    n = _query_int(request, "n", 10, 1, 100)
    return JSONResponse(await commerce_of(request).leaderboard(hour, n))


def _query_int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.bad_request(f"'{name}' must be an integer") from None
    if not lo <= value <= hi:
        raise LivehubError(errors.BAD_REQUEST, f"'{name}' must be between {lo} and {hi}", min=lo, max=hi)
    return value


routes = [
    Route("/api/venues/{venue}/cards", cards, methods=["POST", "DELETE"]),
    Route("/api/venues/{venue}/sales", create_sale, methods=["POST"]),
    Route("/api/venues/{venue}/sales/{sale}/{action}", sale_window, methods=["POST"]),
    Route("/api/venues/{venue}/coupons", drop_coupons, methods=["POST"]),
    Route("/api/sales/{sale}", sale),
    Route("/api/sales/{sale}/buy", buy, methods=["POST"]),
    Route("/api/coupons/{coupon}/grab", grab, methods=["POST"]),
    Route("/api/reservations/{reservation}/pay", pay_reservation, methods=["POST"]),
    Route("/api/payments/callback", payment_callback, methods=["POST"]),
    Route("/api/stores/{store}/orders", store_orders),
    Route("/api/guides/leaderboard", leaderboard),
]
