"""HTTP routes of viewers: the buy and grab twins of the websocket commands (for clients that
cannot hold a socket).  The demo's simulated payment is in livehub.web.routes_demo."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub.protocol.commands import ident, parse_buy_args
from livehub.web.http import JSONResponse, bearer, json_body, node_of, viewer_of


async def buy(request: Request) -> Response:
    """The websocket ``buy`` for clients that cannot hold a socket: {id, qty, loc, pickup_store, coupon}."""
    user = viewer_of(request)
    body = await json_body(request)
    args = parse_buy_args({**body, "sale": request.path_params["sale"]})
    node = node_of(request)
    guide = await node.attribution.guide_of(bearer(request), request.query_params.get("guide"))
    result = await node.buying.buy(user, args["sale"], str(body["id"]), args, guide)
    return JSONResponse(result)


async def grab(request: Request) -> Response:
    user = viewer_of(request)
    coupon = ident(request.path_params["coupon"], "coupon")
    node = node_of(request)
    guide = await node.attribution.guide_of(bearer(request), request.query_params.get("guide"))
    return JSONResponse(await node.buying.grab(user, coupon, guide))


routes = [
    Route("/api/sales/{sale}/buy", buy, methods=["POST"]),
    Route("/api/coupons/{coupon}/grab", grab, methods=["POST"]),
]
