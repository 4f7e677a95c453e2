"""HTTP routes anyone may call: health, readiness, metrics, the festival, a venue's snapshot,
a sale's state and the guide leaderboard; and a guide's own page (guide tokens only)."""

from __future__ import annotations

import re

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub import errors
from livehub.protocol.commands import ident
from livehub.runtime.metrics import CONTENT_TYPE
from livehub.services.views import festival_view
from livehub.web.http import JSONResponse, bearer, node_of, query_int
from livehub.web.openapi import Param, declare, id_param, int_param

HOUR_RE = re.compile(r"^\d{10}$")


@declare(summary="Liveness: the node answers", answers={200: "{status: ok, node}"})
async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "node": node_of(request).id})


@declare(
    summary="Readiness: the node accepts and Redis answers",
    answers={200: "{status: ready, node}", 503: "not ready (starting, stopping, or Redis down)"},
)
async def readyz(request: Request) -> Response:
    node = node_of(request)
    if node.accepting and await node.ready():
        return JSONResponse({"status": "ready", "node": node.id})
    return JSONResponse({"status": "not ready", "node": node.id}, status_code=503)


@declare(media_type="text/plain", answers={200: "Prometheus text format; X-Livehub-Node names the answering node"})
async def metrics(request: Request) -> Response:
    """Prometheus metrics: every worker's series (``--workers N``) and the live sales' stock."""
    node = node_of(request)
    try:
        stock: list[tuple[str, str, int]] | None = await node.jobs.live_stock()
    except RedisError:  # the node's own series are still worth answering: the stock gauge is left out
        stock = None
    body = node.metrics.render(stock=stock)
    return Response(body, media_type=CONTENT_TYPE, headers={"X-Livehub-Node": node.id})


@declare(summary="The festival: its venues, brands, products, stores and guides", answers={200: "the festival"})
async def festival(request: Request) -> Response:
    return JSONResponse(festival_view(node_of(request).festival))


@declare(
    summary="A venue's snapshot: its latest-value state and channel position",
    path={"venue": id_param("a venue of the festival")},
    answers={200: "the snapshot"},
)
async def venue(request: Request) -> Response:
    return JSONResponse(await node_of(request).recovery.venue_snapshot(request.path_params["venue"]))


@declare(
    summary="A flash sale's state: stock available, reserved, sold, expired",
    path={"sale": id_param("a sale id")},
    answers={200: "the sale's state"},
)
async def sale(request: Request) -> Response:
    sale_id = ident(request.path_params["sale"], "sale")
    return JSONResponse(await node_of(request).controls.sale_state(sale_id))


@declare(
    summary="The guides' hourly leaderboard",
    query={
        "hour": Param("string", "the hour, YYYYMMDDHH (UTC); default: this hour", schema={"pattern": "^[0-9]{10}$"}),
        "n": int_param("rows (default 10)", minimum=1, maximum=100),
    },
    answers={200: "{hour, guides: [{guide_id, sales_cents, ...}]}"},
)
async def leaderboard(request: Request) -> Response:
    hour = request.query_params.get("hour")
    if hour is not None and not HOUR_RE.match(hour):
        raise errors.bad_request("'hour' must be YYYYMMDDHH (UTC)")
    n = query_int(request, "n", 10, 1, 100)
    return JSONResponse(await node_of(request).leaderboard.top(hour, n))


@declare(answers={200: "{guide, name, store, brand, share_code, link, hour, rank, sales_cents, commission_cents}"})
async def guide_me(request: Request) -> Response:
    """A guide's own share code and link, and this hour's figures (their row of the leaderboard
    when they are in its top 100, and their commission)."""
    node = node_of(request)
    guide = node.festival.guides[bearer(request).guide or ""]  # the role table checked it exists
    board = await node.leaderboard.top(None, 100)
    row = next((r for r in board["guides"] if r["guide_id"] == guide.id), None)
    rank = None if row is None else board["guides"].index(row) + 1
    commission = await node.guides.commission(board["hour"], guide.id)
    return JSONResponse({
        "guide": guide.id, "name": guide.name, "store": guide.store, "brand": guide.brand,
        "share_code": guide.share_code, "link": f"/watch?guide={guide.share_code}", "hour": board["hour"],
        "rank": rank, "sales_cents": row["sales_cents"] if row else 0, "commission_cents": commission,
    })  # fmt: skip


routes = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/metrics", metrics),
    Route("/api/festival", festival),
    Route("/api/venues/{venue}", venue),
    Route("/api/sales/{sale}", sale),
    Route("/api/guides/leaderboard", leaderboard),
    Route("/api/guides/me", guide_me),
]
