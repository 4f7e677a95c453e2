"""The Starlette application: routes, error mapping, and the node's lifespan.

``create_app()`` reads Settings from the environment (``LIVEHUB_*``) and the
festival config; the CLI sets those before uvicorn starts its workers, so
every worker builds its own node from the same inputs.  Outside demo mode it
refuses unsafe settings (livehub.config.require_safe) whoever calls it, so
``uvicorn livehub.app:create_app --factory`` cannot bypass the CLI's check;
the demo routes (livehub.web.routes_demo) are mounted only in demo mode.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from livehub import errors
from livehub.domain.topology import Festival
from livehub.errors import LivehubError, error_body
from livehub.node import Node
from livehub.services.host_login import HostLogin
from livehub.settings import Settings, load_settings
from livehub.store.client import redis_client
from livehub.web import openapi, routes_auth, routes_buyer, routes_demo, routes_host, routes_payments, routes_public
from livehub.web.endpoint import WS_PATH, open_direct, websocket_endpoint
from livehub.web.http import JSONResponse, guard_routes
from livehub.web.request_context import RequestContext
from livehub.web.routes_admin import routes as admin_routes
from livehub.web.routes_groups import DEMO_ROUTES as GROUP_DEMO_ROUTES
from livehub.web.routes_groups import ROUTES as GROUP_ROUTES
from livehub.web.routes_guides import routes as guide_routes
from livehub.web.routes_moderation import routes as moderation_routes
from livehub.web.routes_presales import routes as presale_routes
from livehub.web.routes_stats import routes as stats_routes
from livehub.web.routes_store import routes as store_routes
from livehub.web.transport import DIRECT_WS
from livehub.web.transport import configure as configure_transport

log = logging.getLogger("livehub.app")
STATIC = Path(__file__).parent / "web" / "static"


def _page(name: str) -> Route:
    async def page(request: Request) -> Response:
        return FileResponse(STATIC / name, media_type="text/html")

    return Route("/" if name == "index.html" else "/" + name.removesuffix(".html"), page)


def _error(exc: BaseException, status: int) -> Response:
    """Every error answer: ``errors.error_body`` with the status."""
    return JSONResponse(error_body(exc), status_code=status)


async def _livehub_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LivehubError)
    response = _error(exc, exc.http_status)
    if exc.code == errors.TOO_LARGE:  # the rest of the body is never read: this connection cannot carry another
        response.headers["Connection"] = "close"
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no route) and 405 (method), in livehub's error body."""
    assert isinstance(exc, HTTPException)
    return _error(errors.http_error(exc.status_code, exc.detail), exc.status_code)


def _what(request: Request) -> str:
    """``GET /path`` of a request, ``WEBSOCKET /ws`` of a websocket (its handlers get a WebSocket,
    which has no ``method``: starlette runs them and sends nothing for that scope)."""
    return f"{request.scope.get('method', 'WEBSOCKET')} {request.url.path}"


async def _redis_down(request: Request, exc: Exception) -> Response:
    log.warning("request %s: redis failed: %s", _what(request), exc)
    return _error(errors.storage_unavailable(), 503)


async def _crash(request: Request, exc: Exception) -> Response:
    log.exception("request %s failed", _what(request), exc_info=exc)
    return _error(exc, 500)


def load_festival_for(settings: Settings) -> Festival:
    from livehub.config import load_festival

    return load_festival(settings.config_path)


def create_app(settings: Settings | None = None, festival: Festival | None = None) -> Starlette:
    """The application; raises :class:`livehub.config.UnsafeSettings` outside demo mode with unsafe
    settings.  Called with no arguments (uvicorn's factory), it prints that one line and exits 2."""
    from livehub.config import UnsafeSettings, require_safe

    from_env = settings is None
    settings = settings or load_settings()
    festival = festival or load_festival_for(settings)
    try:
        require_safe(settings, festival)
    except UnsafeSettings as exc:
        if not from_env:
            raise
        print(f"livehub: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    configure_transport(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        if not settings.redis_url:
            raise RuntimeError("LIVEHUB_REDIS_URL is not set (the CLI starts an embedded Redis and sets it)")
        redis = redis_client(settings)
        node = Node(settings, festival, redis)
        app.state.node = node
        node.festival_listeners.append(app.state.host_login.adopt)  # host logins check the latest hosts' keys
        await node.start()
        try:
            # the transport answers plain upgrades of /ws itself and hands them to the endpoint (web.transport)
            yield {DIRECT_WS: (WS_PATH.encode(), functools.partial(open_direct, node))}
        finally:
            await node.stop()
            await redis.aclose()

    routes = guard_routes([  # every route's need: livehub.domain.access (trust-tokens)
        WebSocketRoute(WS_PATH, websocket_endpoint),
        *routes_public.routes,
        *routes_auth.routes,
        *routes_host.routes,
        *routes_buyer.routes,
        *routes_payments.routes,
        *admin_routes,
        *stats_routes,
        *moderation_routes,
        *guide_routes,
        *store_routes,
        *presale_routes,
        *(routes_demo.routes if settings.demo else []),
        *openapi.routes,
        *GROUP_ROUTES,
        *(GROUP_DEMO_ROUTES if settings.demo else []),
        *[_page(p.name) for p in sorted(STATIC.glob("*.html"))],
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ])
    handlers = {LivehubError: _livehub_error, HTTPException: _http_error, RedisError: _redis_down, Exception: _crash}
    middleware = [Middleware(RequestContext)]  # the request id of each request, in its log lines and answer
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers, middleware=middleware)
    app.state.host_login = HostLogin(settings, festival)
    return app
