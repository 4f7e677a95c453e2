"""HTTP routes that hand out tokens: a host's login, a guest viewer, tokens minted by admins."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub import errors
from livehub.domain.roles import store_or_404, venue_or_404
from livehub.domain.tokens import HOST, MAX_VENUES, ROLES, VIEWER, mint
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
    """Admins mint tokens (test devices, support, store staff): {user, role?, venue?, venues?, guide?,
    store?}, default a viewer; never hosts (role table: admin).  The venues, guide and store must
    be the festival's (``not_found``)."""
    node = node_of(request)
    festival = node.festival
    body = await json_body(request)
    user = ident(body.get("user"), "user")
    role = body.get("role", VIEWER)
    if role not in ROLES:
        raise errors.bad_request(f"'role' must be one of {', '.join(sorted(ROLES))}", field="role")
    venue = ident(body.get("venue"), "venue", required=False)
    raw_venues = body.get("venues")
    if raw_venues is not None and (not isinstance(raw_venues, list) or len(raw_venues) > MAX_VENUES):
        raise errors.bad_request(f"'venues' must be a list of at most {MAX_VENUES} venue ids", field="venues")
    venues = None if raw_venues is None else frozenset(ident(v, "venues") for v in raw_venues)
    for v in ([venue] if venue else []) + sorted(venues or ()):
        venue_or_404(festival, v)
    guide = ident(body.get("guide"), "guide", required=False)
    if guide is not None and guide not in festival.guides:
        raise errors.not_found(f"unknown guide {guide!r}")
    store = ident(body.get("store"), "store", required=False)
    if store is not None:
        store_or_404(festival, store)
    try:
        token = mint(node.settings.secret, user, role, venue=venue, ttl_s=node.settings.token_ttl_s, venues=venues,
                     guide=guide, store=store)  # fmt: skip
    except ValueError as exc:
        raise errors.bad_request(str(exc)) from None
    return JSONResponse({"token": token, "user": user, "role": role})


routes = [
    Route("/api/auth/host", auth_host, methods=["POST"]),
    Route("/api/auth/guest", auth_guest, methods=["POST"]),
    Route("/api/auth/token", mint_token, methods=["POST"]),
]
