"""Pickup codes on Redis: issued once per confirmed pickup order, verified once at the store (核销).

Keys (all under the store's hash tag ``{store:<id>}``, so each script stays on one slot):
``pickups`` (order id -> ``<code>`` while waiting, ``<code>|<ms>|<staff>`` once handed over),
``pickup-codes`` (code -> order id: unique per store), ``pickup-misses`` (wrong codes in the
current window) and the store's ``audit`` stream.

* **Issue** (pickup_issue.lua) runs where a confirmed order is indexed at its store
  (``OrderStore.publish``, itself run again by the outbox relay after a crash): an order that
  has a code keeps it, so publishing twice issues one code.  A code is ``CODE_CHARS`` characters
  drawn with :mod:`secrets` from ``ALPHABET`` (no 0/O, 1/I/L: read aloud and typed by hand),
  32^8 ~ 10^12 codes; a candidate that is another order's code at the store is drawn again.
* **Verify** (pickup_verify.lua): the first verify of a code hands the order over and records
  when and by whom; every later one answers ``already_picked_up`` with that record.  A wrong
  code counts against the store's window (``pickup_misses`` per ``pickup_miss_window_s``); past
  it every verify at the store is refused until the window ends, so guessing is bounded at
  ``pickup_misses`` tries per window per store, on every node together.

The code is shown to the buyer only (their orders, livehub.services.my_orders); the storefront
shows whether a pickup waits or was handed over, never its code.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from redis.asyncio import Redis

from livehub.domain.sale_rules import now_arg, text
from livehub.store.keys import Keys
from livehub.store.scripts import Scripts

log = logging.getLogger("livehub.store.pickups")

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0 O 1 I L: codes are read aloud and typed
CODE_CHARS = 8
CODE_RE = re.compile(f"^[{ALPHABET}]{{{CODE_CHARS}}}$")
MAX_DRAWS = 8  # candidates tried before giving up (a collision is ~1e-9 per draw at 1,000 open codes)


def normalize_code(raw: str) -> str | None:
    """A typed code as stored (upper case, no spaces or dashes); None when it cannot be a code."""
    code = raw.strip().replace("-", "").replace(" ", "").upper()
    return code if CODE_RE.match(code) else None


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARS))


class VerifyCode(StrEnum):
    PICKED_UP = "picked_up"  # this verify handed the order over
    ALREADY_PICKED_UP = "already_picked_up"  # handed over before: when and by whom
    NOT_FOUND = "not_found"  # no such code at this store (counted against the window)
    RATE_LIMITED = "rate_limited"  # too many wrong codes at this store: wait for the window to end


@dataclass(frozen=True, slots=True)
class Pickup:
    """One pickup order's code and hand-over at its store."""

    store_id: str
    order_id: str
    code: str
    picked_up_at_ms: int | None = None
    picked_up_by: str | None = None

    @classmethod
    def parse(cls, store_id: str, order_id: str, value: str) -> Pickup:
        code, _, rest = value.partition("|")
        if not rest:
            return cls(store_id, order_id, code)
        at, _, who = rest.partition("|")
        return cls(store_id, order_id, code, int(at), who)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    code: VerifyCode
    order_id: str | None = None
    picked_up_at_ms: int | None = None
    picked_up_by: str | None = None
    retry_after_ms: int = 0  # rate_limited: when the store's window ends


class Pickups:
    """Pickup codes of every store."""

    def __init__(
        self, redis: Redis, keys: Keys, scripts: Scripts, *, misses: int = 20, miss_window_s: float = 60.0,
        audit_maxlen: int = 1_000,
    ) -> None:  # fmt: skip
        self._redis = redis
        self._keys = keys
        self._scripts = scripts
        self.misses = misses
        self.miss_window_ms = max(1, int(miss_window_s * 1000))
        self.audit_maxlen = audit_maxlen

    async def issue(self, store_id: str, order_id: str) -> str:
        """The order's pickup code: issued now, or the one it already has."""
        k = self._keys
        for _ in range(MAX_DRAWS):
            outcome, code = await self._scripts.run(
                "pickup_issue", [k.store_pickups(store_id), k.store_pickup_codes(store_id)], [order_id, new_code()]
            )
            if text(outcome) != "taken":
                return text(code)
        raise RuntimeError(f"store {store_id}: no free pickup code in {MAX_DRAWS} draws")  # never expected

    async def of_orders(self, pairs: Sequence[tuple[str, str]]) -> list[Pickup | None]:
        """Each (store id, order id)'s pickup, None for an order without one (one pipelined round trip)."""
        if not pairs:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for store_id, order_id in pairs:
            pipe.hget(self._keys.store_pickups(store_id), order_id)
        values = await pipe.execute()
        return [
            None if value is None else Pickup.parse(store_id, order_id, text(value))
            for (store_id, order_id), value in zip(pairs, values, strict=True)
        ]

    async def verify(self, store_id: str, code: str, staff: str, now_ms: int | None = None) -> VerifyResult:
        """Hand over the order of ``code`` at ``store_id`` (once); ``code`` as typed (normalized here)."""
        normalized = normalize_code(code)
        k = self._keys
        outcome, order_id, at, who = await self._scripts.run(
            "pickup_verify",
            [k.store_pickup_codes(store_id), k.store_pickups(store_id), k.store_pickup_misses(store_id),
             k.store_audit(store_id)],
            [normalized or "-", now_arg(now_ms), staff, self.misses, self.miss_window_ms, self.audit_maxlen],
        )  # fmt: skip
        result = VerifyCode(text(outcome))
        if result is VerifyCode.RATE_LIMITED:
            log.warning("store %s: pickup verifies refused: too many wrong codes", store_id)
            return VerifyResult(result, retry_after_ms=int(at))
        if result is VerifyCode.NOT_FOUND:
            return VerifyResult(result)
        if result is VerifyCode.PICKED_UP:
            log.info("store %s: order %s picked up", store_id, text(order_id))
        return VerifyResult(result, text(order_id), int(at), text(who))
