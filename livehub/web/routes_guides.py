"""HTTP routes of the guides' own tools: a guide's hours, credited orders and customers' open
reservations, their QR poster (guide tokens only), and the hourly contest's winners (public).
The guide's page itself is ``/guide`` (livehub/web/static/guide.html)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub import errors
from livehub.domain.attribution import HOUR_MS, hour_bucket
from livehub.domain.topology import Guide
from livehub.services.guide_page import poster_svg
from livehub.web.http import JSONResponse, bearer, node_of, query_int

HOUR_RE = re.compile(r"^\d{10}$")


def guide_of(request: Request) -> Guide:
    """The bearer's guide (the role table checked it is one of the festival's)."""
    return node_of(request).festival.guides[bearer(request).guide or ""]


def share_link(request: Request, guide: Guide) -> str:
    """The absolute link the guide's QR poster carries (this server's own address)."""
    return f"{str(request.base_url).rstrip('/')}/watch?guide={guide.share_code}"


async def my_hours(request: Request) -> Response:
    """GET ?hours=N (1..168, default ``guide_page_hours``): the guide's sales, commission, rank and
    latest credited orders per hour, this hour first."""
    node = node_of(request)
    n = query_int(request, "hours", node.settings.guide_page_hours, 1, 168)
    guide = guide_of(request)
    return JSONResponse({**await node.guide_page.hours(guide, n), "link": share_link(request, guide)})


async def my_reservations(request: Request) -> Response:
    """The guide's customers' reservations not yet paid (bounded; ``truncated`` when more exist)."""
    return JSONResponse(await node_of(request).guide_page.open_reservations(guide_of(request)))


async def my_poster(request: Request) -> Response:
    """The guide's QR poster (SVG) for their absolute share link."""
    guide = guide_of(request)
    return Response(poster_svg(guide, share_link(request, guide)), media_type="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=300"})  # fmt: skip


def _hour_param(request: Request, name: str, default: str) -> str:
    value = request.query_params.get(name, default)
    if not HOUR_RE.match(value):
        raise errors.bad_request(f"'{name}' must be YYYYMMDDHH (UTC)", field=name)
    return value


async def winners(request: Request) -> Response:
    """GET ?from=&to= (YYYYMMDDHH UTC, both included; default: the last 24 hours): each hour's recorded winner."""
    node = node_of(request)
    now = await node.guides.server_time_ms()
    last = _hour_param(request, "to", hour_bucket(now))
    first = _hour_param(request, "from", hour_bucket(now - 23 * HOUR_MS))
    try:
        return JSONResponse(await node.contest.winners(first, last))
    except ValueError as exc:
        raise errors.bad_request(str(exc), field="from") from None


routes = [
    Route("/api/guides/me/hours", my_hours),
    Route("/api/guides/me/reservations", my_reservations),
    Route("/api/guides/me/poster.svg", my_poster),
    Route("/api/guides/winners", winners),
]
