"""HTTP routes of the live numbers (livehub.services.stats): a venue's, for its hosts and the main
host, and the festival's, for the main host and admins (the role table, livehub.domain.access).
The same figures reach connected hosts once a second in the ``stats`` and ``festival_stats`` frames."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub.web.http import JSONResponse, node_of, query_int, venue_param


def _minutes(request: Request) -> int:
    """``?minutes=``: how many minutes of orders per minute (default ``stats_chart_minutes``)."""
    s = node_of(request).settings
    return query_int(request, "minutes", s.stats_chart_minutes, 1, s.stats_minutes_kept)


async def venue_stats(request: Request) -> Response:
    """A venue's GMV, orders, orders per minute, reservations, conversion, online now and peak, sales."""
    venue = venue_param(request)
    return JSONResponse(await node_of(request).live_stats.venue_stats(venue, _minutes(request)))


async def festival_stats(request: Request) -> Response:
    """The festival's numbers, per brand, per store, per guide (this hour), and every venue's."""
    return JSONResponse(await node_of(request).live_stats.festival_stats(_minutes(request)))


routes = [
    Route("/api/venues/{venue}/stats", venue_stats),
    Route("/api/festival/stats", festival_stats),
]
