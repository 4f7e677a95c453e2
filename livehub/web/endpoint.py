"""The websocket endpoint: handshake, accept or refuse, then hand the connection's frames to
its Session (livehub.web.session).  ``GET /ws?venue=<id>[&token=<token>][&guide=<share code>]``
(no token: an anonymous viewer, who watches).

After the handshake livehub sends ``welcome`` and, when the URL names a
venue, the venue's ``snapshot``; then live frames.  Client frames are parsed
by livehub.protocol.commands; every failure becomes an ``error`` frame (the connection
stays), except the documented closes (livehub.errors).

Two ways in, one path after the handshake (:func:`serve`):

* **directly** (:func:`open_direct`, the common case): livehub's HTTP protocol answered a plain
  upgrade of ``/ws`` itself (livehub.web.transport, ``DIRECT_WS``), with no ASGI app; the 101 is
  corked with the welcome and the snapshot, so a join is one write;
* **through ASGI** (:func:`websocket_endpoint`): any other handshake uvicorn and websockets
  accepted (an unusual one, or a server without the direct path).

Once the frames that came during the join are fed to the session, the endpoint hands the
connection over to the transport (``LivehubWebSocketProtocol.hand_over``) and returns: an idle
viewer holds no task and no parked await chain, only its protocol, Connection and Session; the
transport runs the endpoint's clean-up when the connection ends.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import QueryParams
from starlette.websockets import WebSocket

from livehub import errors
from livehub.domain.tokens import ANONYMOUS_VIEWER, AuthError
from livehub.hub.connection import Connection
from livehub.node import Node
from livehub.protocol import frames
from livehub.protocol.codec import CODECS, Codec, choose_codec
from livehub.protocol.commands import Command
from livehub.protocol.events import now_ms
from livehub.protocol.frames import welcome
from livehub.protocol.handshake import accept_response
from livehub.runtime import log_context
from livehub.web import edge, request_context
from livehub.web.edge import Ticket
from livehub.web.session import Session
from livehub.web.transport import RAW_EXTENSION, DirectUpgrade, LivehubWebSocketProtocol

log = logging.getLogger("livehub.web.endpoint")

WS_PATH = "/ws"


async def websocket_endpoint(ws: WebSocket) -> None:
    """The ASGI route of ``/ws``: the handshakes the transport did not answer itself."""
    node: Node = ws.app.state.node
    raw = ws.scope.get("extensions", {}).get(RAW_EXTENSION)
    codec, subprotocol = choose_codec(ws.scope.get("subprotocols", []))
    if raw is None:  # served by a server other than livehub's transport: refuse clearly
        await ws.close(code=errors.CLOSE_INTERNAL, reason="livehub needs its uvicorn websocket protocol")
        return
    await ws.accept(subprotocol=subprotocol)
    await serve(node, raw, codec, ws.scope)


def open_direct(node: Node, raw: LivehubWebSocketProtocol, request: DirectUpgrade) -> None:
    """An upgrade of ``/ws`` the transport answered itself: the 101 (corked) and the join, in a task."""
    codec, subprotocol = choose_codec(list(request.upgrade.subprotocols))
    raw.open_direct(accept_response(request.upgrade.key, subprotocol, raw.default_headers))
    scope = {"headers": request.headers, "client": request.client, "query_string": request.query}
    task = raw.loop.create_task(_serve_direct(node, raw, codec, scope))
    raw.tasks.add(task)  # uvicorn's graceful shutdown waits for it, as for an ASGI task
    task.add_done_callback(raw.tasks.discard)


async def _serve_direct(node: Node, raw: LivehubWebSocketProtocol, codec: Codec, scope: dict[str, Any]) -> None:
    request_context.enter(scope["headers"], node.id)
    try:
        await serve(node, raw, codec, scope)
    except Exception:
        log.exception("websocket join failed")
        raw.close_with(errors.CLOSE_INTERNAL, "internal error")
    finally:
        raw.flush()  # whatever was written, if serve() did not flush it


async def serve(node: Node, raw: Any, codec: Codec, scope: Mapping[str, Any]) -> None:
    """After the handshake (the 101 written, or corked): admit or refuse, welcome, join, hand over.
    ``scope`` needs ``headers``, ``client`` and ``query_string``, as an ASGI scope has them."""
    params = QueryParams(scope.get("query_string", b""))
    close_code, close_reason, identity = 0, "", None
    if not node.accepting:
        close_code, close_reason = errors.CLOSE_RESTART, "node is shutting down"
    elif len(node.hub.connections) >= node.settings.max_connections:
        close_code, close_reason = errors.CLOSE_OVERLOADED, "node is full: try another node"
    else:
        try:  # no token: an anonymous viewer (watches; commands that need a user id are refused)
            token = params.get("token")
            identity = await node.verifier.verify(token) if token else ANONYMOUS_VIEWER
        except AuthError as exc:
            close_code, close_reason = errors.CLOSE_UNAUTHORIZED, str(exc)
    if identity is not None and node.moderation.banned(identity):
        close_code, close_reason = errors.CLOSE_BANNED, "banned from this festival"
    venue = params.get("venue")
    if identity is not None and venue is not None and venue not in node.festival.venues:
        close_code, close_reason = errors.CLOSE_NOT_FOUND, f"unknown venue {errors.echo(venue)}"
    if not close_code and identity is not None:  # origin, connections per IP and identity (released below)
        ticket = edge.admit(node.quotas, node.settings, scope, identity)
        close_code, close_reason = ticket.refused or (0, "")
    if close_code or identity is None:
        raw.send_frame(codec.frame(frames.refusal(close_code, close_reason)))
        raw.close_with(close_code, close_reason[:120])
        return

    log_context.user.set(identity.sub or None)  # the handshake's and the join's log lines
    log_context.venue.set(venue)
    conn = Connection(node.new_connection_id(), codec, CODECS.index(codec), identity, raw,
                      node.settings.outbound_buffer_bytes, node.stats)  # fmt: skip
    node.hub.add(conn)
    session = Session(node, conn, ticket.key)
    end = functools.partial(_end, node, conn, session, ticket, raw)  # however the connection ends, once
    handed_over = False
    try:
        conn.guide = await node.attribution.guide_of(identity, params.get("guide"))  # once: kept for every buy
        conn.send_message(welcome(conn.id, node.id, identity.sub, identity.role, now_ms()))
        if venue is not None:
            try:
                await session.run_command(Command("join", None, {"venue": venue, "since": None}))
            except errors.LivehubError as exc:  # the join left no half state: say why, ask for a reconnect
                session.fail(exc, None)
                conn.close(errors.CLOSE_TRY_AGAIN, "join failed: reconnect later")
        raw.flush()  # the 101 (direct), welcome and snapshot: one write
        # the frames that came during the join, then every later one, go to the session (see Session);
        # this coroutine ends, and the transport calls end() when the connection does (see transport)
        handed_over = not conn.closed and raw.hand_over(end, session.feed)
    finally:
        if not handed_over:
            end()


def _end(node: Node, conn: Connection, session: Session, ticket: Ticket, raw: Any) -> None:
    """A connection's clean-up (a partial, not a closure: it is kept for as long as the connection lives)."""
    raw.frame_sink = None
    ticket.release()
    session.stop()
    node.hub.remove(conn)
    conn.closed = True
