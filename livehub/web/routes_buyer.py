"""HTTP routes of viewers: the buy and grab twins of the websocket commands (for clients that
cannot hold a socket).  The demo's simulated payment is in livehub.web.routes_demo."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub.protocol.commands import ident, parse_buy_args
from livehub.web.http import JSONResponse, bearer, json_body, node_of, viewer_of
from livehub.web.openapi import Param, declare, id_param, int_param


@declare(
    path={"sale": id_param("the flash sale")},
    query={"guide": Param("string", "a guide's share code")},
    body={
        "id": Param(
            "string",
            "the idempotency key: a retry with the same id gets the first answer",
            required=True,
            schema={"minLength": 1, "maxLength": 64},
        ),
        "qty": int_param("units (default 1)", minimum=1),
        "loc": Param(
            "array",
            "[lat, lon]: routes the order to the nearest store",
            schema={"items": {"type": "number"}, "minItems": 2, "maxItems": 2},
        ),
        "pickup_store": id_param("pick up in this store"),
        "coupon": id_param("a coupon grabbed before"),
    },
    answers={200: "{status: ok | duplicate | sold_out | limit_reached | ..., sale, available, reservation?}"},
)
async def buy(request: Request) -> Response:
    """The websocket ``buy`` for clients that cannot hold a socket: {id, qty, loc, pickup_store, coupon}."""
    user = viewer_of(request)
    body = await json_body(request)
    args = parse_buy_args({**body, "sale": request.path_params["sale"]})
    node = node_of(request)
    guide = await node.attribution.guide_of(bearer(request), request.query_params.get("guide"))
    result = await node.buying.buy(user, args["sale"], str(body["id"]), args, guide)
    return JSONResponse(result)


@declare(
    path={"coupon": id_param("the coupon drop")},
    answers={200: "{status: ok | sold_out | limit_reached | expired, coupon, left, grabbed, unused}"},
)
async def grab(request: Request) -> Response:
    """Grab a coupon of a drop (the websocket ``coupon.grab`` for clients that cannot hold a socket)."""
    user = viewer_of(request)
    coupon = ident(request.path_params["coupon"], "coupon")
    node = node_of(request)
    guide = await node.attribution.guide_of(bearer(request), request.query_params.get("guide"))
    return JSONResponse(await node.buying.grab(user, coupon, guide))


async def my_orders(request: Request) -> Response:
    """The buyer's reservations, orders and pickups, newest first (the websocket ``orders`` twin)."""
    return JSONResponse(await node_of(request).my_orders.of_user(viewer_of(request)))


routes = [
    Route("/api/sales/{sale}/buy", buy, methods=["POST"]),
    Route("/api/coupons/{coupon}/grab", grab, methods=["POST"]),
    Route("/api/me/orders", my_orders),
]
