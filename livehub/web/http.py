"""What every HTTP route shares: the JSON response, the JSON body, the bearer token and the
host check, and the parsing of query and body integers.

Every error is a JSON body ``{"type": "error", "code": ..., "message": ...}`` with the
status from livehub.errors (built by ``errors.error_body`` in livehub.app's handlers).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from livehub import errors
from livehub.domain.roles import may_drive, require_viewer, venue_or_404
from livehub.domain.tokens import AuthError, Identity, verify
from livehub.errors import LivehubError
from livehub.node import Node
from livehub.protocol.commands import check_nesting

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
    """The bearer's identity if it may drive ``venue`` (``forbidden`` otherwise)."""
    identity = bearer(request)
    if not may_drive(node_of(request).festival, identity, venue):
        raise errors.forbidden(f"this token may not drive venue {venue!r}")
    return identity


def viewer_of(request: Request) -> str:
    """The bearer's user id if it is a viewer (hosts do not buy)."""
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
