"""HTTP routes that hand out tokens: a host's login, viewer tokens minted by hosts (guest logins are
the demo's: livehub.web.routes_demo)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub import errors
from livehub.domain.roles import require_host
from livehub.domain.tokens import HOST, VIEWER, mint
from livehub.errors import LivehubError
from livehub.protocol.commands import ident
from livehub.services.host_login import HostLogin
from livehub.web.http import JSONResponse, bearer, json_body, node_of

MAX_KEY_CHARS = 256  # longer keys are refused before any hash is computed


def host_login_of(request: Request) -> HostLogin:
    login: HostLogin = request.app.state.host_login
    return login


async def auth_host(request: Request) -> Response:
    """``{"host", "key"}`` -> a host token; the key is checked against the host's argon2 hashes in a
    worker thread, after the per-host-id and per-IP login limits (livehub.services.host_login)."""
    node = node_of(request)
    body = await json_body(request)
    host_id, key = body.get("host"), body.get("key")
    if not isinstance(host_id, str) or not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
        raise LivehubError(errors.UNAUTHORIZED, "unknown host or wrong key")
    client_ip = request.client.host if request.client else "-"
    host = await host_login_of(request).login(host_id, key, client_ip)
    token = mint(node.settings.secret, host.id, HOST, venue=host.venue, ttl_s=node.settings.token_ttl_s)
    return JSONResponse({"token": token, "host": host.id, "venue": host.venue})


async def mint_token(request: Request) -> Response:
    """Hosts may mint viewer tokens (e.g. for their own test devices)."""
    require_host(bearer(request), "mint tokens")
    body = await json_body(request)
    user = ident(body.get("user"), "user")
    node = node_of(request)
    return JSONResponse({"token": mint(node.settings.secret, user, VIEWER, ttl_s=node.settings.token_ttl_s)})


routes = [
    Route("/api/auth/host", auth_host, methods=["POST"]),
    Route("/api/auth/token", mint_token, methods=["POST"]),
]
