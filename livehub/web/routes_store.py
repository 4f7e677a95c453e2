"""HTTP routes of a store's staff (``Authorization: Bearer <staff token>``; who may call which: the
role table, livehub.domain.access): the pickups to hand over, the hand-over by pickup code (核销),
the stock per sku and its adjustment.  livehub.services.storefront acts."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub.domain.roles import store_or_404
from livehub.domain.topology import Store
from livehub.web.http import JSONResponse, bearer, json_body, node_of, query_int


def _store(request: Request) -> Store:
    return store_or_404(node_of(request).festival, request.path_params["store"])


async def pickups(request: Request) -> Response:
    """The store's latest pickup orders (``?limit=``, at most 500 of its orders): waiting and handed over."""
    limit = query_int(request, "limit", 100, 1, 500)
    return JSONResponse(await node_of(request).storefront.pickups_view(_store(request), limit))


async def verify_pickup(request: Request) -> Response:
    """Hand over the order of the buyer's pickup code, once."""
    store, code = _store(request), request.path_params["code"]
    return JSONResponse(await node_of(request).storefront.verify(store, code, bearer(request).sub))


async def stock(request: Request) -> Response:
    """GET: units on hand and held per sku; POST {id, sku, delta}: adjust one sku (audited, once per id)."""
    store = _store(request)
    front = node_of(request).storefront
    if request.method == "GET":
        return JSONResponse(await front.stock_view(store))
    body = await json_body(request)
    answer = await front.adjust(store, body.get("sku"), body.get("delta"), body.get("id"), bearer(request).sub)
    return JSONResponse(answer)


routes = [
    Route("/api/stores/{store}/pickups", pickups),
    Route("/api/stores/{store}/pickups/{code}", verify_pickup, methods=["POST"]),
    Route("/api/stores/{store}/stock", stock, methods=["GET", "POST"]),
]
