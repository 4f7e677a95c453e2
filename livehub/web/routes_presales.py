"""HTTP routes of pre-sales (定金) and the shelf: a host schedules a pre-sale and sets the venue's
shelf, anyone reads a pre-sale, a buyer places a deposit.  Paying: the demo's simulated payment
(livehub.web.routes_demo) and the provider's signed callback (livehub.web.routes_payments).
Bodies are parsed here; livehub.services.presales and livehub.services.shelf act."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub.domain.topology import Product
from livehub.protocol.commands import ident, parse_buy_args
from livehub.services.presales import PresaleDraft
from livehub.web.http import JSONResponse, body_int, body_opt_int, json_body, node_of, venue_param, viewer_of


def presale_draft(product: Product, body: dict[str, Any]) -> PresaleDraft:
    """{stock, deposit_cents, price_cents?, per_user_limit, deposit_starts_in_s, deposit_duration_s,
    balance_starts_in_s?, balance_duration_s, deposit_ttl_s, unpaid ("forfeit" | "refund"), presale_id?}"""
    return PresaleDraft(
        product=product, presale_id=ident(body.get("presale_id"), "presale_id", required=False),
        stock=body_int(body, "stock", 0), price_cents=body_opt_int(body, "price_cents"),
        deposit_cents=body_int(body, "deposit_cents", 0), per_user_limit=body_int(body, "per_user_limit", 1),
        deposit_starts_in_s=body_int(body, "deposit_starts_in_s", 0),
        deposit_duration_s=body_int(body, "deposit_duration_s", 600),
        balance_starts_in_s=body_opt_int(body, "balance_starts_in_s"),
        balance_duration_s=body_int(body, "balance_duration_s", 600),
        deposit_ttl_s=body_int(body, "deposit_ttl_s", 900), unpaid=body.get("unpaid", "forfeit"),
    )  # fmt: skip


async def create_presale(request: Request) -> Response:
    """Schedule a pre-sale: {sku, ...} (:func:`presale_draft`); the sku is checked before the numbers."""
    venue = venue_param(request)
    body = await json_body(request)
    node = node_of(request)
    draft = presale_draft(node.controls.product_of_venue(venue, body.get("sku")), body)
    return JSONResponse(await node.presales.create(venue, draft), status_code=201)


async def presale_state(request: Request) -> Response:
    presale = ident(request.path_params["presale"], "presale")
    return JSONResponse(await node_of(request).presales.state(presale))


async def deposit(request: Request) -> Response:
    """Place a deposit: {id, qty?, loc?, pickup_store?} (the location routes the order at the balance)."""
    user = viewer_of(request)
    body = await json_body(request)
    args = parse_buy_args({**body, "sale": request.path_params["presale"]})
    return JSONResponse(await node_of(request).presales.deposit(user, args["sale"], str(body["id"]), args))


async def shelf(request: Request) -> Response:
    """POST {items: [{sku, sale?, group?, coupon?}, ...]} (in the host's order): set the shelf; DELETE: clear it."""
    venue = venue_param(request)
    service = node_of(request).shelf
    if request.method == "DELETE":
        epoch, offset = await service.clear(venue)
        return JSONResponse({"epoch": epoch, "offset": offset, "shelf": None})
    body = await json_body(request)
    (epoch, offset), data = await service.set(venue, body.get("items"))
    return JSONResponse({"epoch": epoch, "offset": offset, "shelf": data})


routes = [
    Route("/api/venues/{venue}/presales", create_presale, methods=["POST"]),
    Route("/api/venues/{venue}/shelf", shelf, methods=["POST", "DELETE"]),
    Route("/api/presales/{presale}", presale_state),
    Route("/api/presales/{presale}/deposit", deposit, methods=["POST"]),
]
