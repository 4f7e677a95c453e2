"""HTTP routes of viewers: the buy and grab twins of the websocket commands (for clients that
cannot hold a socket).  The demo's simulated payment is in livehub.web.routes_demo."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub.domain.attribution import attribute
from livehub.protocol.commands import ident, parse_buy_args
from livehub.web.http import JSONResponse, json_body, node_of, viewer_of


async def buy(request: Request) -> Response:
    """The websocket ``buy`` for clients that cannot hold a socket: {id, qty, loc, pickup_store, coupon}."""
    user = viewer_of(request)
    body = await json_body(request)
    args = parse_buy_args({**body, "sale": request.path_params["sale"]})
    node = node_of(request)
    guide = attribute(request.query_params.get("guide"), node.festival)
    result = await node.buying.buy(user, args["sale"], str(body["id"]), args, guide.id if guide else None)
    return JSONResponse(result)


async def grab(request: Request) -> Response:
    user = viewer_of(request)
    coupon = ident(request.path_params["coupon"], "coupon")
    return JSONResponse(await node_of(request).buying.grab(user, coupon))


async def my_orders(request: Request) -> Response:
    """The buyer's reservations, orders and pickups, newest first (the websocket ``orders`` twin)."""
    return JSONResponse(await node_of(request).my_orders.of_user(viewer_of(request)))


routes = [
    Route("/api/sales/{sale}/buy", buy, methods=["POST"]),
    Route("/api/coupons/{coupon}/grab", grab, methods=["POST"]),
    Route("/api/me/orders", my_orders),
]
