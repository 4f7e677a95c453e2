"""HTTP routes that hand out tokens: a host's login, a guest viewer, viewer tokens minted by admins."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub import errors
from livehub.domain.tokens import HOST, VIEWER, mint
from livehub.errors import LivehubError
from livehub.protocol.commands import ident
from livehub.web.http import JSONResponse, json_body, node_of


async def auth_host(request: Request) -> Response:
    node = node_of(request)
    body = await json_body(request)
    host_id, key = body.get("host"), body.get("key")
    host = node.festival.hosts.get(host_id) if isinstance(host_id, str) else None
    if host is None or not isinstance(key, str) or not secrets.compare_digest(host.key.encode(), key.encode()):
        raise LivehubError(errors.UNAUTHORIZED, "unknown host or wrong key")
    token = mint(node.settings.secret, host.id, HOST, venue=host.venue, ttl_s=node.settings.token_ttl_s)
    return JSONResponse({"token": token, "host": host.id, "venue": host.venue})


async def auth_guest(request: Request) -> Response:
    """A viewer token for a fresh guest id (the demo's stand-in for the platform's login)."""
    node = node_of(request)
    user = "guest-" + secrets.token_hex(6)
    return JSONResponse({"token": mint(node.settings.secret, user, VIEWER, ttl_s=node.settings.token_ttl_s),
                         "user": user})  # fmt: skip


async def mint_token(request: Request) -> Response:
    """Admins mint viewer tokens {user} (test devices, support); never hosts (role table: admin)."""
    body = await json_body(request)
    user = ident(body.get("user"), "user")
    node = node_of(request)
    return JSONResponse({"token": mint(node.settings.secret, user, VIEWER, ttl_s=node.settings.token_ttl_s)})


routes = [
    Route("/api/auth/host", auth_host, methods=["POST"]),
    Route("/api/auth/guest", auth_guest, methods=["POST"]),
    Route("/api/auth/token", mint_token, methods=["POST"]),
]
