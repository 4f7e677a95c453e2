"""Errors are values on the wire: the documented codes, the root of every
livehub exception, and the one place that maps exceptions to error bodies,
HTTP statuses and websocket close codes.

Every exception class livehub defines derives from :class:`LivehubException`;
the ones that carry a wire code are :class:`LivehubError`.  The HTTP and
websocket layers build no error body by hand: :func:`error_body` for an
exception, :func:`http_error` for a Starlette ``HTTPException`` (given its
status and detail, so this module imports no web framework),
:func:`storage_unavailable` for a Redis failure, :func:`close_error_code` for
the error frame sent before a refusing close.

docs/protocol.md lists every code; keep the two in step.
"""

from __future__ import annotations

from typing import Any

# ---- error codes carried in {"type": "error", "code": ...} frames and HTTP bodies ----
BAD_FRAME = "bad_frame"  # not decodable in the connection's codec, or not an object with a "type"
UNKNOWN_TYPE = "unknown_type"  # "type" names no message livehub knows
TOO_LARGE = "too_large"  # frame larger than max_frame_bytes (the connection stays open)
BAD_REQUEST = "bad_request"  # a field is missing, of the wrong type or out of range
UNAUTHORIZED = "unauthorized"  # token missing, malformed, expired or wrongly signed
FORBIDDEN = "forbidden"  # valid token, but the role may not do this
NOT_FOUND = "not_found"  # unknown venue, sale, store, coupon ...
RATE_LIMITED = "rate_limited"  # too many frames / comments / likes / buys / grabs; retry after retry_after_ms
UNAVAILABLE = "unavailable"  # Redis unreachable or node shutting down; retry later
INTERNAL = "internal"  # a bug; logged with a traceback on the node
ALREADY_PICKED_UP = "already_picked_up"  # a pickup code verified before: the order was handed over then

HTTP_STATUS = {
    BAD_FRAME: 400,
    UNKNOWN_TYPE: 400,
    TOO_LARGE: 413,
    BAD_REQUEST: 400,
    UNAUTHORIZED: 401,
    FORBIDDEN: 403,
    NOT_FOUND: 404,
    RATE_LIMITED: 429,
    UNAVAILABLE: 503,
    INTERNAL: 500,
    ALREADY_PICKED_UP: 409,
}

# ---- websocket close codes ----
CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008  # too many bad frames in a row
CLOSE_TOO_BIG = 1009  # frame above ws_max_size (sent by the websocket layer)
CLOSE_INTERNAL = 1011
CLOSE_RESTART = 1012  # node shutting down: reconnect (to another node) and resume
CLOSE_TRY_AGAIN = 1013  # the join of the URL's venue failed (Redis unavailable): reconnect later
CLOSE_UNAUTHORIZED = 4001  # bad token on connect
CLOSE_FORBIDDEN = 4003  # the handshake's Origin is not an allowed origin (livehub.web.edge)
CLOSE_NOT_FOUND = 4004  # unknown venue on connect
CLOSE_SLOW = 4008  # fell too far behind (outbound buffer full): reconnect and resume
CLOSE_RESYNC = 4009  # channel history broke (epoch changed): reconnect and resume
CLOSE_OVERLOADED = 4013  # node at max_connections: try another node later
CLOSE_TOO_MANY = 4029  # this identity or IP holds its connection limit on this node (livehub.web.edge)

# ---- what an error may echo of client input ----
MAX_ECHO_CHARS = 64  # of one client-supplied value quoted in a message (echo) or a detail
MAX_MESSAGE_CHARS = 160  # of a whole error message: fixed text plus at most one or two echoes


class LivehubException(Exception):
    """The root of every exception livehub defines (config, spec, request, auth, codec, runtime)."""


class LivehubError(LivehubException):
    """An error that has a code on the wire."""

    code: str = INTERNAL

    def __init__(self, code: str, message: str, retry_after_ms: int | None = None, **details: Any) -> None:
        message = _bounded(message, MAX_MESSAGE_CHARS)
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = {k: _bounded(v, MAX_ECHO_CHARS) if isinstance(v, str) else v for k, v in details.items()}
        self.retry_after_ms = retry_after_ms  # rate_limited: when the same request may succeed
        self.request_id: str | int | None = None  # set when the failing request's id is known

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 400)


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def echo(value: object) -> str:
    """A client-supplied value quoted in an error message: its repr, at most ``MAX_ECHO_CHARS`` characters.

    Every :class:`LivehubError` also caps its whole message (``MAX_MESSAGE_CHARS``) and its string
    details (``MAX_ECHO_CHARS``), so no error answer repeats unbounded input."""
    return _bounded(repr(value), MAX_ECHO_CHARS)


def rate_limited(message: str, retry_after_s: float) -> LivehubError:
    """``rate_limited`` (HTTP 429) with ``retry_after_ms``: when the same request would pass."""
    wait = retry_after_s if retry_after_s < 3600 else 3600.0  # inf (more than the burst): an hour, honestly never
    return LivehubError(RATE_LIMITED, message, retry_after_ms=max(1, int(wait * 1000 + 0.999)))


def bad_request(message: str, **details: Any) -> LivehubError:
    return LivehubError(BAD_REQUEST, message, **details)


def not_found(message: str, **details: Any) -> LivehubError:
    return LivehubError(NOT_FOUND, message, **details)


def forbidden(message: str) -> LivehubError:
    return LivehubError(FORBIDDEN, message)


def storage_unavailable() -> LivehubError:
    """What a Redis failure becomes on the wire: ``unavailable``, retry later (HTTP 503)."""
    return LivehubError(UNAVAILABLE, "storage unavailable: retry")


_HTTP_CODES = {404: NOT_FOUND, 405: BAD_REQUEST}


def http_error(status_code: int, detail: object) -> LivehubError:
    """A Starlette ``HTTPException`` (no route, wrong method, ...) as a wire error.

    The response keeps the exception's own status: send it with
    ``status_code=status_code``, not :func:`http_status`.
    """
    return LivehubError(_HTTP_CODES.get(status_code, BAD_REQUEST), str(detail))


_CLOSE_CODES = {CLOSE_UNAUTHORIZED: UNAUTHORIZED, CLOSE_NOT_FOUND: NOT_FOUND, CLOSE_FORBIDDEN: FORBIDDEN,
                CLOSE_TOO_MANY: RATE_LIMITED}


def close_error_code(close_code: int) -> str:
    """The error code of the frame sent right before a refusing close (bad token, unknown venue, full)."""
    return _CLOSE_CODES.get(close_code, UNAVAILABLE)


def error_body(exc: BaseException, request_id: Any = None) -> dict[str, Any]:
    """The frame / HTTP JSON body for any exception (unknown ones become ``internal``)."""
    if isinstance(exc, LivehubError):
        body: dict[str, Any] = {"type": "error", "code": exc.code, "message": exc.message}
        if exc.details:
            body["details"] = exc.details
        if exc.retry_after_ms is not None:
            body["retry_after_ms"] = exc.retry_after_ms
    else:
        body = {"type": "error", "code": INTERNAL, "message": "internal error"}
    if request_id is None and isinstance(exc, LivehubError):
        request_id = exc.request_id
    if request_id is not None:
        body["id"] = request_id
    return body


def http_status(exc: BaseException) -> int:
    return exc.http_status if isinstance(exc, LivehubError) else 500
