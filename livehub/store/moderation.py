"""The festival's moderation state in Redis: mutes, bans, slow modes, deleted comments and the
audit log, all under the ``{mod}`` hash tag (livehub.store.keys).

Every action is one call of ``moderate.lua``: the state change, the audit entry and the
backplane message that updates every node's view (or, for a delete, the room's deletion frame)
in one atomic step, so no node can miss an action that happened, and nothing is audited that did
not happen.  Mutes and bans carry their end (``until``, Redis' own clock); expired ones are
removed by the next action of their kind and never loaded.  A request with an id is done once:
its retry answers ``duplicate`` with the first answer (a once-marker, ``once_ttl_s``); a comment
is deleted once (its marker lives ``deleted_ttl_s``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from livehub.domain.moderation import BAN, DELETE, MUTE, SLOW, UNBAN, UNMUTE, Loaded
from livehub.store.keys import Keys
from livehub.store.scripts import Scripts

log = logging.getLogger("livehub.store.moderation")


@dataclass(frozen=True, slots=True)
class Action:
    """One moderation action as requested: ``target`` is the user (the comment id for a delete);
    ``amount`` is the duration (ms) of a mute or ban, the interval (s) of a slow mode."""

    action: str
    venue: str  # "" for a ban / unban (festival-wide)
    target: str
    by: str
    role: str
    amount: int = 0
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # "ok", "duplicate" or "full"
    at_ms: int
    until_ms: int  # 0: none
    audit_id: str


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ModerationStore:
    def __init__(
        self, redis: Redis, keys: Keys, scripts: Scripts, *, channel: str, audit_max: int, max_entries: int,
        once_ttl_s: int = 86_400, deleted_ttl_s: int = 86_400,
    ) -> None:  # fmt: skip
        self._redis = redis
        self._keys = keys
        self._scripts = scripts
        self.channel = keys.pubsub(channel)  # the backplane channel every node's view listens on
        self.audit_max = audit_max
        self.max_entries = max_entries
        self.once_ttl_s = once_ttl_s
        self.deleted_ttl_s = deleted_ttl_s

    def _state_key(self, action: Action) -> str:
        k = self._keys
        if action.action == DELETE:
            return k.moderation_deleted(action.venue, action.target)
        if action.action in (MUTE, UNMUTE):
            return k.moderation_mutes()
        if action.action in (BAN, UNBAN):
            return k.moderation_bans()
        if action.action == SLOW:
            return k.moderation_slow()
        raise ValueError(f"unknown moderation action {action.action!r}")

    async def act(self, action: Action, *, room_channel: str = "", frame: dict[str, Any] | None = None,
                  frame_key: str = "") -> Outcome:  # fmt: skip
        """Apply ``action``; a delete publishes ``frame`` (key ``frame_key``) on ``room_channel``,
        every other action its message on the moderation channel."""
        k = self._keys
        once = k.moderation_once(action.by, action.request_id or "-")
        is_delete = action.action == DELETE
        args = [
            action.action, action.venue, action.target, action.amount, self.max_entries, self.audit_max,
            self.once_ttl_s * 1000 if action.request_id else 0,
            self._keys.pubsub(room_channel) if is_delete else self.channel,
            frame_key if is_delete else "m", orjson.dumps(frame) if frame is not None else b"",
            action.by, action.role, self.deleted_ttl_s * 1000,
        ]  # fmt: skip
        status, at, until, audit_id = await self._scripts.run(
            "moderate", [once, self._state_key(action), k.moderation_audit()], args
        )
        return Outcome(_text(status), int(at), int(until), _text(audit_id))

    async def load(self, now_ms: int) -> Loaded:
        """The mutes and bans in force at ``now_ms`` and the slow modes (at most ``max_entries`` each)."""
        k = self._keys
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(k.moderation_mutes(), f"({now_ms}", "+inf", 0, self.max_entries, withscores=True)
            pipe.zrangebyscore(k.moderation_bans(), f"({now_ms}", "+inf", 0, self.max_entries, withscores=True)
            pipe.hgetall(k.moderation_slow())
            mutes, bans, slow = await pipe.execute()
        muted: dict[tuple[str, str], int] = {}
        for member, score in mutes:
            venue, _, user = _text(member).partition("|")
            muted[(venue, user)] = int(score)
        return Loaded(
            mutes=muted,
            bans={_text(user): int(score) for user, score in bans},
            slow={_text(venue): int(interval) for venue, interval in slow.items()},
        )

    async def audit(self, count: int) -> list[dict[str, Any]]:
        """The latest ``count`` audit entries, newest first."""
        entries = await self._redis.xrevrange(self._keys.moderation_audit(), count=count)
        out = []
        for entry_id, fields in entries or ():
            row: dict[str, Any] = {"id": _text(entry_id)}
            for name, value in (fields or {}).items():
                key = _text(name)
                row[key] = int(value) if key in ("at", "until", "interval") else _text(value)
            out.append(row)
        return out
