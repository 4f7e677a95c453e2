"""HTTP endpoints: health, metrics, auth, venue reads, and the host controls.

Every error is a JSON body ``{"type": "error", "code": ..., "message": ...}``
with the status from livehub.errors; host controls need
``Authorization: Bearer <host token>``.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub import errors
from livehub.backplane.broker import StateOp
from livehub.domain.tokens import HOST, VIEWER, AuthError, Identity, mint, verify
from livehub.domain.topology import BRAND, MAIN
from livehub.errors import LivehubError
from livehub.node import Node
from livehub.protocol.commands import ident
from livehub.protocol.events import now_ms
from livehub.runtime.metrics import CONTENT_TYPE

MAX_BODY = 16_384
KIND_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,39}$")
RESERVED_KINDS = ("card.", "sale.", "coupon.", "cta.", "cohost.")  # only their own endpoints publish these


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def node_of(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise LivehubError(errors.TOO_LARGE, f"body larger than {MAX_BODY} bytes")
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.bad_request(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise errors.bad_request("body must be a JSON object")
    return body


def bearer(request: Request) -> Identity:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    try:
        if scheme.lower() != "bearer":
            raise AuthError("missing bearer token")
        return verify(node_of(request).settings.secret, token.strip())
    except AuthError as exc:
        raise LivehubError(errors.UNAUTHORIZED, str(exc)) from None


def host_of(request: Request, venue: str) -> Identity:
    identity = bearer(request)
    node = node_of(request)
    if not node.may_drive(identity, venue):
        raise errors.forbidden(f"this token may not drive venue {venue!r}")
    return identity


# ---- health and metrics ------------------------------------------------------------------
async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "node": node_of(request).id})


async def readyz(request: Request) -> Response:
    node = node_of(request)
    if node.accepting and await node.ready():
        return JSONResponse({"status": "ready", "node": node.id})
    return JSONResponse({"status": "not ready", "node": node.id}, status_code=503)


async def metrics(request: Request) -> Response:
    return Response(node_of(request).metrics.render(), media_type=CONTENT_TYPE)


# ---- auth -------------------------------------------------------------------------------------
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


# ---- venue reads --------------------------------------------------------------------------------
async def festival(request: Request) -> Response:
    f = node_of(request).festival
    venues = [{"id": v.id, "kind": v.kind, "title": v.title, "brand": v.brand} for v in f.venues.values()]
    products = [
        {"sku": p.sku, "brand": p.brand, "title": p.title, "price_cents": p.price_cents,
         "list_price_cents": p.list_price_cents, "image_url": p.image_url}
        for p in f.products.values()
    ]  # fmt: skip
    return JSONResponse({"id": f.id, "title": f.title, "main_venue": f.main_venue, "venues": venues,
                         "products": products})  # fmt: skip


async def venue(request: Request) -> Response:
    return JSONResponse(await node_of(request).venue_snapshot(request.path_params["venue"]))


# ---- host controls -------------------------------------------------------------------------------
def _venue_param(request: Request) -> str:
    return node_of(request).venue_or_404(request.path_params["venue"])


async def publish_event(request: Request) -> Response:
    """Publish a free-form host event (an announcement, a bench tick) in a venue."""
    venue_id = _venue_param(request)
    host_of(request, venue_id)
    body = await json_body(request)
    kind = body.get("kind")
    if not isinstance(kind, str) or not KIND_RE.match(kind):
        raise errors.bad_request("'kind' must match " + KIND_RE.pattern)
    if kind.startswith(RESERVED_KINDS):
        raise errors.bad_request(f"'kind' {kind!r} is reserved: use its own endpoint")
    epoch, offset = await node_of(request).publish(venue_id, kind, body.get("data"))
    return JSONResponse({"epoch": epoch, "offset": offset})


def _main_venue_host(request: Request, what: str) -> tuple[Node, str, Identity]:
    """The main venue of the path and its host's identity (``what`` is driven from main only)."""
    node = node_of(request)
    venue_id = _venue_param(request)
    if node.festival.venues[venue_id].kind != MAIN:
        raise errors.bad_request(f"{what} are driven from the main venue")
    return node, venue_id, host_of(request, venue_id)


def _brand_venue(node: Node, value: Any, name: str) -> str:
    venue = ident(value, name)
    if venue not in node.festival.venues or node.festival.venues[venue].kind != BRAND:
        raise errors.not_found(f"unknown brand venue {venue!r}")
    return venue


async def visit_cta(request: Request) -> Response:
    """The main host sends its audience into a brand room: a ``cta.visit`` event on main."""
    node, venue_id, identity = _main_venue_host(request, "visit calls to action")
    body = await json_body(request)
    target = _brand_venue(node, body.get("target"), "target")
    title = node.festival.venues[target].title
    data = {"target": target, "title": title, "by": identity.sub, "text": str(body.get("text", ""))[:200],
            "at": now_ms()}  # fmt: skip
    epoch, offset = await node.publish(venue_id, "cta.visit", data, (StateOp("cta", data),))
    return JSONResponse({"epoch": epoch, "offset": offset})


async def cohost(request: Request) -> Response:
    """Start (POST) or end (DELETE) a co-host link-up between the main venue and a brand venue.

    The co-host state is latest-value state of the main channel (every viewer of the
    festival sees it) and of the brand channel; each change is an event on both.
    """
    node, venue_id, identity = _main_venue_host(request, "co-host link-ups")
    if request.method == "DELETE":
        current = (await node.broker.snapshot(venue_id)).state.get("cohost")
        data: dict[str, Any] = {"active": False, "by": identity.sub, "since": now_ms()}
        if isinstance(current, dict) and isinstance(current.get("brand_venue"), str):
            await node.publish(current["brand_venue"], "cohost.ended", data, (StateOp("cohost", None),))
        epoch, offset = await node.publish(venue_id, "cohost.ended", data, (StateOp("cohost", None),))
        return JSONResponse({"epoch": epoch, "offset": offset, "cohost": data})
    body = await json_body(request)
    brand_venue = _brand_venue(node, body.get("brand_venue"), "brand_venue")
    brand_hosts = node.festival.venues[brand_venue].hosts
    data = {"active": True, "main_host": identity.sub, "brand_venue": brand_venue,
            "brand_host": brand_hosts[0] if brand_hosts else None, "since": now_ms()}  # fmt: skip
    await node.publish(brand_venue, "cohost.started", data, (StateOp("cohost", data),))
    epoch, offset = await node.publish(venue_id, "cohost.started", data, (StateOp("cohost", data),))
    return JSONResponse({"epoch": epoch, "offset": offset, "cohost": data})


async def mint_token(request: Request) -> Response:
    """Hosts may mint viewer tokens (e.g. for their own test devices)."""
    identity = bearer(request)
    if not identity.is_host:
        raise errors.forbidden("only hosts mint tokens")
    body = await json_body(request)
    user = ident(body.get("user"), "user")
    node = node_of(request)
    return JSONResponse({"token": mint(node.settings.secret, user, VIEWER, ttl_s=node.settings.token_ttl_s)})


routes = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/metrics", metrics),
    Route("/api/auth/host", auth_host, methods=["POST"]),
    Route("/api/auth/guest", auth_guest, methods=["POST"]),
    Route("/api/auth/token", mint_token, methods=["POST"]),
    Route("/api/festival", festival),
    Route("/api/venues/{venue}", venue),
    Route("/api/venues/{venue}/events", publish_event, methods=["POST"]),
    Route("/api/venues/{venue}/cta", visit_cta, methods=["POST"]),
    Route("/api/venues/{venue}/cohost", cohost, methods=["POST", "DELETE"]),
]
