"""The websocket endpoint: handshake, accept or refuse, then hand the connection's frames to
its Session (livehub.web.session).  ``GET /ws?venue=<id>[&token=<token>][&guide=<share code>]``
(no token: an anonymous viewer, who watches).

After the handshake livehub sends ``welcome`` and, when the URL names a
venue, the venue's ``snapshot``; then live frames.  Client frames are parsed
by livehub.protocol.commands; every failure becomes an ``error`` frame (the connection
stays), except the documented closes (livehub.errors).

Once the frames that came during the join are fed to the session, the endpoint hands the
connection over to the transport (``LivehubWebSocketProtocol.hand_over``) and returns: an idle
viewer holds no task and no parked await chain, only its protocol, Connection and Session; the
transport runs the endpoint's clean-up when the connection ends.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from starlette.websockets import WebSocket

from livehub import errors
from livehub.domain.tokens import ANONYMOUS_VIEWER, AuthError
from livehub.hub.connection import Connection
from livehub.node import Node
from livehub.protocol import frames
from livehub.protocol.codec import CODECS, OP_TEXT, choose_codec
from livehub.protocol.commands import Command
from livehub.protocol.events import now_ms
from livehub.protocol.frames import welcome
from livehub.runtime import log_context
from livehub.web import edge
from livehub.web.edge import Ticket
from livehub.web.session import Session
from livehub.web.transport import RAW_EXTENSION

log = logging.getLogger("livehub.web.endpoint")


async def websocket_endpoint(ws: WebSocket) -> None:
    node: Node = ws.app.state.node
    raw = ws.scope.get("extensions", {}).get(RAW_EXTENSION)
    codec, subprotocol = choose_codec(ws.scope.get("subprotocols", []))
    if raw is None:  # served by a server other than livehub's transport: refuse clearly
        await ws.close(code=errors.CLOSE_INTERNAL, reason="livehub needs its uvicorn websocket protocol")
        return
    await ws.accept(subprotocol=subprotocol)
    params = ws.query_params
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
        ticket = edge.admit(node.quotas, node.settings, ws.scope, identity)
        close_code, close_reason = ticket.refused or (0, "")
    if close_code or identity is None:
        payload = codec.encode(frames.refusal(close_code, close_reason))
        if codec.opcode == OP_TEXT:
            await ws.send_text(payload.decode())
        else:
            await ws.send_bytes(payload)
        await ws.close(code=close_code, reason=close_reason[:120])
        return

    log_context.user.set(identity.sub or None)  # the handshake's and the join's log lines
    log_context.venue.set(venue)
    conn = Connection(node.new_connection_id(), codec, CODECS.index(codec), identity, raw,
                      node.settings.outbound_buffer_bytes, node.stats)  # fmt: skip
    conn.guide = await node.attribution.guide_of(identity, params.get("guide"))  # once: kept for every buy
    node.hub.add(conn)
    session = Session(node, conn, ticket.key)
    end = functools.partial(_end, node, conn, session, ticket, raw)  # however the connection ends, once
    handed_over = False
    try:
        conn.send_message(welcome(conn.id, node.id, identity.sub, identity.role, now_ms()))
        if venue is not None:
            try:
                await session.run_command(Command("join", None, {"venue": venue, "since": None}))
            except errors.LivehubError as exc:  # the join left no half state: say why, ask for a reconnect
                session.fail(exc, None)
                conn.close(errors.CLOSE_TRY_AGAIN, "join failed: reconnect later")
        raw.frame_sink = session.feed  # from now on frames go straight to the session (see Session)
        while not conn.closed:
            if raw.hand_over(end):  # nothing queued: this coroutine ends, the transport calls end() (see transport)
                handed_over = True
                return
            message = await ws.receive()  # frames that came during the join, or the disconnect
            if message["type"] != "websocket.receive":
                break
            text = message.get("text")
            session.feed(text if text is not None else (message.get("bytes") or b""))
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
