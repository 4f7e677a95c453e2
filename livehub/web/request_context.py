"""The request id of every HTTP request and websocket handshake (a pure ASGI middleware).

The id is the caller's ``X-Request-Id`` when it has the shape livehub.runtime.log_context
accepts, else a fresh one; it is set in the log context (every log line of the request carries
it) and echoed in the HTTP answer's ``X-Request-Id`` header.  The node's id is set alongside.
A websocket's messages pass through untouched: the middleware costs nothing per frame.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livehub.runtime import log_context

_HEADER = log_context.REQUEST_ID_HEADER.encode()


def enter(headers: Iterable[tuple[bytes, bytes]], node_id: str | None) -> str:
    """Set the request id (the caller's, else a fresh one) and the node's id in the log context of the
    current task (each request and each direct websocket handshake runs in a task of its own); the id."""
    raw = next((value for name, value in headers if name == _HEADER), None)
    rid = log_context.accept_request_id(raw.decode("latin-1") if raw is not None else None)
    log_context.request_id.set(rid)
    if node_id is not None:
        log_context.node.set(node_id)
    return rid


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        node = getattr(getattr(scope.get("app"), "state", None), "node", None)
        rid = enter(scope["headers"], node.id if node is not None else None)
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        header = (_HEADER, rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)
