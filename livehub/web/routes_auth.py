"""HTTP routes that hand out tokens: a host's login and tokens minted by admins (guest logins are
the demo's: livehub.web.routes_demo)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub import errors
from livehub.domain.roles import store_or_404, venue_or_404
from livehub.domain.tokens import HOST, MAX_VENUES, ROLES, VIEWER, mint
from livehub.errors import LivehubError
from livehub.protocol.commands import ident
from livehub.services.host_login import HostLogin
from livehub.web.http import JSONResponse, json_body, node_of
from livehub.web.openapi import Param, declare, id_param

MAX_KEY_CHARS = 256  # longer keys are refused before any hash is computed


def host_login_of(request: Request) -> HostLogin:
    login: HostLogin = request.app.state.host_login
    return login


@declare(
    body={
        "host": Param("string", "the host id", required=True),
        "key": Param("string", "the host's key", required=True, schema={"maxLength": MAX_KEY_CHARS}),
    },
    answers={200: "{token, host, venue}"},
)
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


@declare(body={
    "user": id_param("the token's user id", required=True),
    "role": Param("string", "default: viewer", schema={"enum": sorted(ROLES)}),
    "venue": id_param("host: the venue they drive"),
    "venues": Param("array", "moderator: the venues they moderate", schema={"items": {"type": "string"},
                                                                             "maxItems": MAX_VENUES}),
    "guide": id_param("guide: their guide id"), "store": id_param("staff: their store"),
}, answers={200: "{token, user, role}"})  # fmt: skip
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
    Route("/api/auth/token", mint_token, methods=["POST"]),
]
