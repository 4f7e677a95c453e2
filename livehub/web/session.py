"""One websocket connection's inbound side (Session): rate limit, parse, dispatch, answer,
with the connection's frames handled in order and a bounded backlog (docs/architecture.md,
"Inbound frames").  Commands the services answer come from the node's command table.

Two kinds of rate limit: frames per *connection* (``inbound_rate``: what one socket may make
the node parse), and comments and likes per *identity* (``node.quotas``, keyed by ``who``: the
user id, or the IP of an anonymous viewer), shared by all of that identity's connections on the
node, so more connections buy no more comments.  Buys and grabs are limited per identity in
livehub.services.buying, for the websocket and HTTP alike.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any

from redis.exceptions import RedisError

from livehub import errors
from livehub.domain.access import check_command
from livehub.domain.ratelimit import TokenBucket
from livehub.domain.roles import venue_or_404
from livehub.errors import LivehubError, error_body
from livehub.hub.connection import Connection
from livehub.node import Node
from livehub.protocol.commands import Command, Limits, parse, request_id
from livehub.protocol.events import now_ms
from livehub.protocol.frames import reply

log = logging.getLogger("livehub.web.session")

IMMEDIATE = frozenset({"ping", "like", "leave"})  # answered without an await


@functools.lru_cache(maxsize=8)  # one per distinct settings: every connection of a node shares it
def _limits(max_frame_bytes: int, comment_max_chars: int, like_max_per_frame: int) -> Limits:
    return Limits(max_frame_bytes, comment_max_chars, like_max_per_frame)


class Session:
    """One connection's inbound side: rate limit, parse, dispatch, answer.

    The transport hands every complete client frame to :meth:`feed` as it is parsed, without
    the ASGI receive queue (livehub.web.transport).  A connection's frames are handled one after
    the other, in order: ``ping``, ``like`` and ``leave`` at once, the others (join, buy, ...)
    in a task; frames that arrive while a task runs wait in a backlog of at most
    ``inbound_backlog`` frames, and while the backlog is full the transport stops reading the
    socket (TCP backpressure on that one client).

    An idle connection holds no more than this object: the backlog exists only while frames wait,
    the rate bucket from the connection's first frame on (a bucket starts full, so one made at the
    first frame answers exactly as one made at the handshake), the parse limits are the node's.
    """

    __slots__ = ("allowed", "backlog", "conn", "errors", "inbound", "limits", "loop", "max_backlog", "node", "task",
                 "who")  # fmt: skip

    def __init__(self, node: Node, conn: Connection, who: str) -> None:
        s = node.settings
        self.node = node
        self.conn = conn
        self.who = who  # whom the per-identity limits count (livehub.domain.quotas.identity_key, via web.edge)
        self.limits = _limits(s.max_frame_bytes, s.comment_max_chars, s.like_max_per_frame)
        self.inbound: TokenBucket | None = None  # made at the first frame
        # command types the role table allowed this connection's identity (fixed for its life, and
        # websocket commands have no target: one check per type); made at the first allowed command
        self.allowed: set[str] | None = None
        self.errors = 0
        self.task: asyncio.Task[None] | None = None
        self.backlog: deque[str | bytes] | None = None  # frames waiting behind the running task (None: none)
        self.max_backlog = s.inbound_backlog
        self.loop = asyncio.get_running_loop()

    def feed(self, payload: str | bytes) -> bool:
        """A client frame, in arrival order; False asks the transport to stop reading for now.
        Once the connection is closed frames are dropped unhandled."""
        if self.conn.closed:
            return True
        if self.task is not None:
            backlog = self.backlog
            if backlog is None:
                backlog = self.backlog = deque()
            backlog.append(payload)
            return len(backlog) < self.max_backlog
        self._handle_in_order(payload)
        return True

    def _handle_in_order(self, payload: str | bytes) -> None:
        while True:
            work = self._start(payload)
            if work is not None:
                self.task = self.loop.create_task(work)
                self.task.add_done_callback(self._finished)
                return
            if self.conn.closed or not self.backlog:  # closed (e.g. 1008 by the frame just handled): drop the rest
                self.backlog = None
                return
            payload = self.backlog.popleft()

    def _finished(self, _: asyncio.Task[None]) -> None:
        self.task = None
        if self.conn.closed:
            self.backlog = None
        elif self.backlog:
            self._handle_in_order(self.backlog.popleft())
            if self.backlog is None or len(self.backlog) < self.max_backlog:
                self.conn.raw.resume_frames()

    def _start(self, payload: str | bytes) -> Coroutine[Any, Any, None] | None:
        """Parse and answer what needs no await; the rest comes back as a coroutine to run."""
        rid = None
        try:
            now = time.monotonic()
            bucket = self.inbound
            if bucket is None:
                s = self.node.settings
                bucket = self.inbound = TokenBucket(s.inbound_rate, s.inbound_burst, now)
            if not bucket.take(now):
                rid = request_id(payload, self.conn.codec, self.limits)  # its answer carries its id
                raise errors.rate_limited("too many frames: slow down", bucket.wait_s())
            command = parse(payload, self.conn.codec, self.limits)
            rid = command.id
            allowed = self.allowed
            if allowed is None or command.type not in allowed:
                check_command(command.type, self.conn.identity, self.node.festival)  # the role table
                if allowed is None:
                    allowed = self.allowed = set()
                allowed.add(command.type)  # command types are the parser's (a bounded set)
            if command.type in IMMEDIATE:
                self.run_now(command)
                return None
            return self._run(command)
        except Exception as exc:
            self._failed(exc, rid)
            return None

    async def _run(self, command: Command) -> None:
        try:
            await self.run_command(command)
        except Exception as exc:
            self._failed(exc, command.id)

    def stop(self) -> None:
        """The connection is gone: drop the waiting frames; a running command finishes (its answer
        goes nowhere, exactly as when a client disconnects after sending), so no buy is cut in half."""
        self.backlog = None

    def _failed(self, exc: Exception, request_id: Any) -> None:
        if isinstance(exc, RedisError):
            log.warning("redis failed for connection %s: %s", self.conn.id, exc)
            exc = errors.storage_unavailable()
        elif not isinstance(exc, LivehubError):
            log.error("command failed on connection %s", self.conn.id, exc_info=exc)
        self.fail(exc, request_id)

    def fail(self, exc: BaseException, request_id: Any) -> None:
        self.node.stats.inbound_errors += 1
        self.errors += 1
        self.conn.send_message(error_body(exc, request_id))
        if self.errors >= self.node.settings.max_errors:
            self.conn.close(errors.CLOSE_POLICY, "too many bad frames")

    def run_now(self, cmd: Command) -> None:
        """The commands answered without waiting on anything (``IMMEDIATE``)."""
        node, conn = self.node, self.conn
        kind = cmd.type
        if kind == "ping":
            conn.send_message(reply(cmd.id, {"server_time": now_ms()}))
        elif kind == "leave":
            node.hub.leave(conn)
            conn.venue = None
            conn.send_message(reply(cmd.id, {}))
        elif kind == "like":
            if conn.venue is None:
                raise errors.bad_request("join a venue first")
            wait = node.quotas.likes.take(self.who, time.monotonic(), cmd.args["n"])
            if wait:
                raise errors.rate_limited("too many likes: slow down", wait)
            node.signals.like(conn.venue, cmd.args["n"])
            if cmd.id is not None:
                conn.send_message(reply(cmd.id, {}))

    async def run_command(self, cmd: Command) -> None:
        node, conn = self.node, self.conn
        kind = cmd.type
        if kind in IMMEDIATE:
            self.run_now(cmd)
        elif kind == "join":
            node.moderation.refuse_banned(conn.identity)
            await node.recovery.join(conn, venue_or_404(node.festival, cmd.args["venue"]), cmd.args["since"], cmd.id)
            if conn.venue is not None:
                node.live_stats.saw_viewer(conn.venue, self.who)
        elif kind == "comment":
            if conn.venue is None:
                raise errors.bad_request("join a venue first")
            wait = node.quotas.comments.take(self.who, time.monotonic())
            if wait:
                raise errors.rate_limited("too many comments: slow down", wait)
            node.moderation.check_comment(conn.venue, conn.identity, cmd.args["text"])  # node-local view
            shown = await node.signals.comment(conn.venue, conn.identity.sub, cmd.args["text"])
            if cmd.id is not None:
                conn.send_message(reply(cmd.id, {"sampled_out": not shown}))
        elif kind == "signal":
            await node.controls.signal(conn.identity, cmd.args["to"], cmd.args["data"])
            if cmd.id is not None:
                conn.send_message(reply(cmd.id, {}))
        else:
            handler = node.commands.get(kind)
            if handler is None:
                raise LivehubError(errors.UNAVAILABLE, f"{kind!r} is not enabled on this node")
            conn.send_message(reply(cmd.id, await handler(conn, cmd)))
