"""What every HTTP route shares: the role-table guard in front of every route (:func:`guard_routes`),
the JSON response, the JSON body, the bearer's identity, and the parsing of query and body integers.

Every error is a JSON body ``{"type": "error", "code": ..., "message": ...}`` with the
status from livehub.errors (built by ``errors.error_body`` in livehub.app's handlers).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from livehub import errors
from livehub.domain.access import HTTP, TOKENLESS, WEBSOCKET, Need, Rule, Target, check
from livehub.domain.roles import may_drive, require_viewer, store_or_404, venue_or_404
from livehub.domain.tokens import ANONYMOUS_VIEWER, AuthError, Identity
from livehub.errors import LivehubError
from livehub.node import Node
from livehub.protocol.commands import check_nesting
from livehub.runtime import log_context

MAX_BODY = 16_384


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def node_of(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def _too_large() -> LivehubError:
    return LivehubError(errors.TOO_LARGE, f"body larger than {MAX_BODY} bytes")


async def raw_body(request: Request) -> bytes:
    """The request's body, at most ``MAX_BODY`` bytes: a larger declared ``Content-Length`` is refused
    before anything is read, and a chunked body as soon as it passes the cap (the rest is never buffered)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > MAX_BODY:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's body as a JSON object (empty: ``{}``), read with :func:`raw_body`."""
    return json_object(await raw_body(request))


def json_object(raw: bytes) -> dict[str, Any]:
    """A body already read (:func:`raw_body`) as a JSON object; every field nests at most
    ``commands.MAX_NESTING`` deep (``bad_request`` naming it)."""
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.bad_request(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise errors.bad_request("body must be a JSON object")
    for name, value in body.items():
        if isinstance(value, (dict, list)):
            check_nesting(value, name[:64])
    return body


def _token(request: Request) -> str | None:
    """The bearer token, None without an ``Authorization`` header (``unauthorized`` for another scheme)."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise LivehubError(errors.UNAUTHORIZED, "missing bearer token")
    return token.strip()


async def authorize(request: Request, rule: Rule) -> Identity:
    """The request's identity checked against its route's ``rule`` (livehub.domain.access): 401 for a
    wrong token or an anonymous caller the rule needs signed in, 403 for a role the rule refuses."""
    if rule.need in TOKENLESS:
        return ANONYMOUS_VIEWER
    node = node_of(request)
    token = _token(request)
    try:
        identity = ANONYMOUS_VIEWER if token is None else await node.verifier.verify(token)
    except AuthError as exc:
        raise LivehubError(errors.UNAUTHORIZED, str(exc)) from None
    node.moderation.refuse_banned(identity)  # a banned user's token opens nothing (livehub.services.moderation)
    params = request.path_params
    venue = venue_or_404(node.festival, params["venue"]) if "venue" in params else None
    store = store_or_404(node.festival, params["store"]).id if "store" in params else None
    check(rule.need, identity, node.festival, Target(venue=venue, store=store))
    log_context.user.set(identity.sub or None)  # the request's log lines name who and where
    log_context.venue.set(venue)
    return identity


Endpoint = Callable[[Request], Awaitable[Response]]


def _guarded(endpoint: Endpoint, rules: dict[str, Rule]) -> Endpoint:
    async def guarded(request: Request) -> Response:
        rule = rules.get("GET" if request.method == "HEAD" else request.method)
        if rule is None:  # a method the route does not serve: starlette answers 405 before this
            raise errors.bad_request(f"method {request.method} not allowed")
        request.state.identity = await authorize(request, rule)
        return await endpoint(request)

    guarded.__name__ = getattr(endpoint, "__name__", "endpoint")
    guarded.__doc__ = endpoint.__doc__
    guarded.__wrapped__ = endpoint  # type: ignore[attr-defined]  # its declarations: livehub.web.openapi
    return guarded


def guard_routes(routes: list[BaseRoute]) -> list[BaseRoute]:
    """Every HTTP route with its role-table check in front (livehub.domain.access.HTTP).

    A route the table does not name is a bug: refused here, when the app is built."""
    guarded: list[BaseRoute] = []
    for route in routes:
        if isinstance(route, Route):
            methods = sorted((route.methods or {"GET"}) - {"HEAD"})
            missing = [m for m in methods if (m, route.path) not in HTTP]
            if missing:
                raise LookupError(f"route {missing} {route.path} has no entry in livehub.domain.access.HTTP")
            rules = {m: HTTP[(m, route.path)] for m in methods}
            route = Route(route.path, _guarded(route.endpoint, rules), methods=methods, name=route.name)
        elif isinstance(route, Mount) and HTTP.get(("GET", route.path)) != Rule(Need.PUBLIC):
            raise LookupError(f"mount {route.path}: only public mounts (static files) are served unguarded")
        elif isinstance(route, WebSocketRoute) and HTTP.get((WEBSOCKET, route.path)) != Rule(Need.WATCH):
            raise LookupError(f"websocket route {route.path}: its table entry must be watch (commands: WS)")
        guarded.append(route)
    return guarded


def bearer(request: Request) -> Identity:
    """The identity the route's guard established (:func:`guard_routes`); without a guard (a route
    built elsewhere), the bearer token verified with the keys at hand."""
    identity = getattr(request.state, "identity", None)
    if isinstance(identity, Identity):
        return identity
    try:
        token = _token(request)
        if token is None:
            raise AuthError("missing bearer token")
        return node_of(request).verifier.verify_known(token)
    except AuthError as exc:
        raise LivehubError(errors.UNAUTHORIZED, str(exc)) from None


def host_of(request: Request, venue: str) -> Identity:
    """The bearer's identity if it may drive ``venue`` (``forbidden`` otherwise)."""
    identity = bearer(request)
    if not may_drive(node_of(request).festival, identity, venue):
        raise errors.forbidden(f"this token may not drive venue {venue!r}")
    return identity


def viewer_of(request: Request) -> str:
    """The bearer's verified user id if it may buy (hosts do not buy)."""
    return require_viewer(bearer(request))


def venue_param(request: Request) -> str:
    """The path's ``{venue}`` if the festival has it."""
    return venue_or_404(node_of(request).festival, request.path_params["venue"])


def query_int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.bad_request(f"'{name}' must be an integer") from None
    if not lo <= value <= hi:
        raise LivehubError(errors.BAD_REQUEST, f"'{name}' must be between {lo} and {hi}", min=lo, max=hi)
    return value


def body_int(body: dict[str, Any], name: str, default: int) -> int:
    """``body[name]`` if it is there (an integer, not a boolean), else ``default``."""
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.bad_request(f"'{name}' must be an integer", field=name)
    return value


def body_opt_int(body: dict[str, Any], name: str) -> int | None:
    """``body[name]`` if it is there (an integer, not a boolean), else None (the caller's default)."""
    return body_int(body, name, 0) if name in body else None
