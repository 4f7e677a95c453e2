"""Moderation: what moderators and hosts do to a festival's audience, and every node's view of it.

Actions (``act``): delete a comment (a ``comment.deleted`` frame on the room, on every node),
mute a viewer in a venue for a duration, ban a user from the festival for a duration (their
connections on every node are closed with 4030, their next connect is refused with 4030 and
their HTTP requests with 403), slow a room (one comment per viewer per interval), and lift
each of those.  Each is one atomic step in Redis with its audit entry and its backplane message
(livehub.store.moderation); who may do which is the role table's (livehub.domain.access) and
:func:`check_scope` (bans: from the main venue only).

The checks on the hot path (``check_comment``, ``refuse_banned``) read this node's
:class:`~livehub.domain.moderation.ModerationView`: no Redis round trip per comment.  The view
is loaded from Redis when the node starts (after subscribing to the moderation channel, so no
action falls between the two), updated by every action's backplane message, and reloaded every
``moderation_refresh_s`` (a message lost in a pub/sub outage is corrected by then; a user banned
meanwhile is disconnected then).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from livehub import errors
from livehub.backplane.broker import Broker
from livehub.domain.moderation import (
    BAN,
    DELETE,
    FESTIVAL_WIDE,
    MUTE,
    SLOW,
    BlockedWords,
    ModerationView,
    exempt,
)
from livehub.domain.roles import require_main_venue
from livehub.domain.tokens import Identity
from livehub.domain.topology import Festival, room_channel
from livehub.hub.connection import UNDROPPABLE
from livehub.hub.fanout import Hub
from livehub.protocol import frames
from livehub.protocol.events import Volatile, now_ms
from livehub.runtime.periodic import every
from livehub.settings import Settings
from livehub.store.moderation import Action, ModerationStore

log = logging.getLogger("livehub.services.moderation")

CHANNEL = "mod:festival"  # the backplane channel of moderation messages (":" is in no entity id)
DELETED = UNDROPPABLE + "d"  # key prefix of a deletion frame: queued for a slow connection, never dropped


def check_scope(festival: Festival, action: str, venue: str) -> None:
    """Bans are festival-wide: moderators of the main venue and the main host ban, from the main venue."""
    if action in FESTIVAL_WIDE:
        require_main_venue(festival, venue, "bans")


class Moderation:
    def __init__(self, settings: Settings, festival: Festival, hub: Hub, broker: Broker,
                 store: ModerationStore) -> None:  # fmt: skip
        self.settings = settings
        self.festival = festival
        self.hub = hub
        self.broker = broker
        self.store = store
        self.view = ModerationView(settings.identity_max_tracked)
        self.words = BlockedWords.from_setting(settings.moderation_blocked_words)
        self._task: asyncio.Task[None] | None = None
        self._subscribed = False

    # ---- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:  # Redis not answering yet: the periodic refresh subscribes and loads
            log.warning("loading the moderation state failed: %r", exc)
        self._task = asyncio.create_task(every(self.settings.moderation_refresh_s, self.refresh, "moderation"),
                                         name="livehub-moderation")  # fmt: skip

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def refresh(self) -> None:
        """Reload the view from Redis; disconnect users banned since the last look.  The first time,
        subscribe to the moderation channel before reading: an action from then on reaches the view."""
        if not self._subscribed:
            await self.broker.subscribe(CHANNEL)
            self._subscribed = True
        for user in self.view.replace(await self.store.load(now_ms())):
            self.disconnect(user)

    def on_message(self, item: Volatile) -> None:
        """A moderation action's backplane message (from any node, this one included)."""
        try:
            user = self.view.apply(item.message)
        except ValueError:
            log.warning("ignoring a malformed moderation message")
            return
        if user is not None:
            self.disconnect(user)

    def disconnect(self, user: str) -> None:
        """Close the connections of a banned user on this node (4030, after an error frame)."""
        closed = 0
        for conn in list(self.hub.connections.values()):
            if conn.identity.sub == user and not exempt(conn.identity):
                conn.send_message(frames.refusal(errors.CLOSE_BANNED, "banned from this festival"))
                conn.close(errors.CLOSE_BANNED, "banned from this festival")
                closed += 1
        if closed:
            log.info("closed %d connection(s) of a banned user", closed)

    # ---- the hot path -----------------------------------------------------------------------
    def check_comment(self, venue: str, identity: Identity, text: str) -> None:
        """Refuse a comment (blocked word, banned, muted, slow mode): see ModerationView.check_comment."""
        self.view.check_comment(venue, identity, text, self.words, now_ms(), time.monotonic())

    def refuse_banned(self, identity: Identity) -> None:
        self.view.refuse_banned(identity, now_ms())

    def banned(self, identity: Identity) -> bool:
        return not exempt(identity) and self.view.banned_until(identity.sub, now_ms()) is not None

    # ---- actions ------------------------------------------------------------------------------
    async def act(self, by: Identity, venue: str, action: str, target: str, amount: int = 0,
                  request_id: str | None = None) -> dict[str, Any]:  # fmt: skip
        """One moderation action in ``venue`` (a ban's venue is the main venue); ``amount`` is a
        mute's or ban's duration (s) or a slow mode's interval (s, 0: off)."""
        check_scope(self.festival, action, venue)
        wide = action in FESTIVAL_WIDE
        millis = amount * 1000 if action in (MUTE, BAN) else amount
        request = Action(action, "" if wide else venue, target, by.sub, by.role, millis, request_id)
        if action == DELETE:
            frame = frames.comment_deleted(venue, target)
            outcome = await self.store.act(request, room_channel=room_channel(venue), frame=frame,
                                           frame_key=DELETED + target)  # fmt: skip
        else:
            outcome = await self.store.act(request)
        if outcome.status == "full":
            kind = "bans" if action == BAN else "mutes"
            raise errors.LivehubError(errors.UNAVAILABLE,
                                      f"{self.store.max_entries} {kind} are in force: lift one or wait")  # fmt: skip
        log.info("moderation %s by %s in %s: %s", action, by.sub, venue, outcome.status)
        answer: dict[str, Any] = {"status": outcome.status, "action": action, "venue": None if wide else venue,
                                  "target": target, "at": outcome.at_ms}  # fmt: skip
        if outcome.until_ms:
            answer["until"] = outcome.until_ms
        if action == SLOW:
            answer["interval_s"] = amount
        return answer

    async def audit(self, count: int) -> list[dict[str, Any]]:
        return await self.store.audit(count)
