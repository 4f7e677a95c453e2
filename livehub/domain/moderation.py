"""Moderation rules (pure): who moderation applies to, the keyword filter, and a node's view of
the mutes, bans and slow modes in force.

The truth is in Redis (livehub.store.moderation); every node keeps this :class:`ModerationView`
of it, loaded at start, refreshed periodically and kept fresh by the backplane messages that
every moderation action publishes (livehub.services.moderation), so checking a comment or a
connect costs dictionary look-ups, never a Redis round trip.

* Mutes are per (venue, user) and bans per user, each until a time (unix ms); an expired entry
  is forgotten when next looked at, or at the next refresh.  Redis caps how many are active at
  once (``moderation_max_entries`` each), so a view holds no more.
* Slow mode is per venue: a viewer may comment once per ``interval_s`` in that room.  The time
  of each viewer's last comment in a slowed room is kept in an LRU map of at most
  ``max_tracked`` entries (a forgotten viewer may comment at once: one extra comment, at worst).
* Hosts, moderators and admins are never muted, banned or slowed (:func:`exempt`).
* The keyword filter refuses a comment that contains a blocked word as a whole word, compared
  case-insensitively after Unicode NFKC normalisation (full-width letters are the plain ones).

The clocks are arguments (``now_ms``: unix ms; ``now_s``: a monotonic clock); nothing here does I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from livehub import errors
from livehub.domain.tokens import ADMIN, HOST, MODERATOR, Identity

DELETE, MUTE, UNMUTE, BAN, UNBAN, SLOW = "delete", "mute", "unmute", "ban", "unban", "slow"
ACTIONS = (DELETE, MUTE, UNMUTE, BAN, UNBAN, SLOW)
FESTIVAL_WIDE = frozenset({BAN, UNBAN})  # driven from the main venue only
EXEMPT_ROLES = frozenset({HOST, MODERATOR, ADMIN})
MAX_BLOCKED_WORDS = 1000
MAX_SLOW_INTERVAL_S = 3600


def exempt(identity: Identity) -> bool:
    """Hosts, moderators and admins are never muted, banned or slowed; anonymous viewers cannot comment."""
    return identity.role in EXEMPT_ROLES or identity.is_anonymous


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


class BlockedWords:
    """The keyword filter: whole words, case-insensitive, NFKC-normalised."""

    __slots__ = ("_pattern", "words")

    def __init__(self, words: Iterable[str]) -> None:
        folded = sorted({_fold(w.strip()) for w in words if w.strip()}, key=len, reverse=True)
        if len(folded) > MAX_BLOCKED_WORDS:
            raise ValueError(f"at most {MAX_BLOCKED_WORDS} blocked words")
        self.words = tuple(folded)
        self._pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, folded)) + r")(?!\w)") if folded else None

    @classmethod
    def from_setting(cls, text: str) -> BlockedWords:
        """The ``moderation_blocked_words`` setting: words separated by commas."""
        return cls(text.split(","))

    def find(self, text: str) -> str | None:
        """The first blocked word in ``text``, or None."""
        if self._pattern is None:
            return None
        found = self._pattern.search(_fold(text))
        return found.group(0) if found else None


@dataclass(frozen=True, slots=True)
class Loaded:
    """The moderation state as read from Redis: mutes ``{(venue, user): until_ms}``, bans
    ``{user: until_ms}``, slow modes ``{venue: interval_s}``."""

    mutes: Mapping[tuple[str, str], int]
    bans: Mapping[str, int]
    slow: Mapping[str, int]


class ModerationView:
    """One node's view of the mutes, bans and slow modes (see the module's docstring)."""

    __slots__ = ("_last", "bans", "max_tracked", "mutes", "slow")

    def __init__(self, max_tracked: int) -> None:
        if max_tracked < 1:
            raise ValueError("max_tracked must be at least 1")
        self.max_tracked = max_tracked
        self.mutes: dict[tuple[str, str], int] = {}
        self.bans: dict[str, int] = {}
        self.slow: dict[str, int] = {}
        self._last: OrderedDict[tuple[str, str], float] = OrderedDict()

    # ---- keeping it fresh ----------------------------------------------------------------
    def replace(self, loaded: Loaded) -> set[str]:
        """Take the state read from Redis; returns the users banned now who were not before."""
        before = set(self.bans)
        self.mutes = dict(loaded.mutes)
        self.bans = dict(loaded.bans)
        self.slow = {venue: interval for venue, interval in loaded.slow.items() if interval > 0}
        return set(self.bans) - before

    def apply(self, message: Mapping[str, Any]) -> str | None:
        """A backplane message of a moderation action; returns the user to disconnect for a ban.
        A malformed message is ignored (ValueError), the next refresh corrects the view."""
        action = message.get("action")
        venue, user = message.get("venue"), message.get("user")
        until, interval = message.get("until"), message.get("interval")
        if action == MUTE and isinstance(venue, str) and isinstance(user, str) and isinstance(until, int):
            self.mutes[(venue, user)] = until
        elif action == UNMUTE and isinstance(venue, str) and isinstance(user, str):
            self.mutes.pop((venue, user), None)
        elif action == BAN and isinstance(user, str) and isinstance(until, int):
            self.bans[user] = until
            return user
        elif action == UNBAN and isinstance(user, str):
            self.bans.pop(user, None)
        elif action == SLOW and isinstance(venue, str) and isinstance(interval, int):
            if interval > 0:
                self.slow[venue] = interval
            else:
                self.slow.pop(venue, None)
        else:
            raise ValueError(f"not a moderation message: {action!r}")
        return None

    # ---- the checks ---------------------------------------------------------------------------
    def banned_until(self, user: str, now_ms: int) -> int | None:
        until = self.bans.get(user)
        if until is None:
            return None
        if until <= now_ms:
            del self.bans[user]
            return None
        return until

    def muted_until(self, venue: str, user: str, now_ms: int) -> int | None:
        until = self.mutes.get((venue, user))
        if until is None:
            return None
        if until <= now_ms:
            del self.mutes[(venue, user)]
            return None
        return until

    def slow_wait(self, venue: str, user: str, now_s: float) -> float:
        """Seconds ``user`` must still wait to comment in ``venue`` (0.0: may; the comment is recorded)."""
        interval = self.slow.get(venue)
        if interval is None:
            return 0.0
        key = (venue, user)
        last = self._last.get(key)
        if last is not None and now_s - last < interval:
            return interval - (now_s - last)
        self._last[key] = now_s
        self._last.move_to_end(key)
        if len(self._last) > self.max_tracked:
            self._last.popitem(last=False)
        return 0.0

    def refuse_banned(self, identity: Identity, now_ms: int) -> None:
        """``forbidden`` if ``identity`` is banned from the festival."""
        if not exempt(identity) and self.banned_until(identity.sub, now_ms) is not None:
            raise errors.forbidden("you are banned from this festival")

    def check_comment(self, venue: str, identity: Identity, text: str, words: BlockedWords, now_ms: int,
                      now_s: float) -> None:  # fmt: skip
        """Refuse a comment: blocked word (``bad_request`` naming ``text``, for everyone), banned or
        muted (``forbidden``, with ``until``), slow mode (``rate_limited``, with ``retry_after_ms``)."""
        word = words.find(text)
        if word is not None:
            raise errors.bad_request("this comment contains a blocked word", field="text")
        if exempt(identity):
            return
        self.refuse_banned(identity, now_ms)
        until = self.muted_until(venue, identity.sub, now_ms)
        if until is not None:
            raise errors.LivehubError(errors.FORBIDDEN, "you are muted in this room", until=until)
        wait = self.slow_wait(venue, identity.sub, now_s)
        if wait:
            raise errors.rate_limited("slow mode: one comment per viewer every few seconds", wait)
