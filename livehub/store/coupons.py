"""Coupon drops on Redis: a host or a guide drops N coupons into a venue; viewers grab them.

Keys of one drop share ``{coupon:<id>}``: the spec, the count left, grabs per
user (held against the per-user limit, for good: using a coupon does not let
the user grab another), the wallet (grabbed coupons not yet used) and the uses.

Grabbing is one atomic step (coupon_grab.lua).  Applying a coupon to a buy
cannot be one step with the buy: the coupon's keys and the sale's keys are in
different Redis Cluster slots, and the coupon is not tied to one sale when
grabbed.  So it is a reservation in two steps with compensation, keyed by the
buy's reservation id (the "use id"), every step idempotent:

1. ``lock`` (coupon_lock.lua) moves one coupon from the user's wallet to
   "locked" for that use, after checking expiry and brand;
2. buy.lua applies the discount (it checks the minimum spend against the
   sale's price) and records the coupon id in the reservation;
3. ``settle``: "release" at once if the buy did not take stock with this
   coupon (the coupon goes back to the wallet), later "commit" when the order
   is paid (the coupon is used) or "release" when the reservation expires.
   The sale's outbox (see ``sales``) retries these until they are done, and
   ``Outbox.reconcile_coupon_locks`` (livehub.store.outbox) releases a lock whose buy never ran
   (the node died between the steps).

A coupon is used at most once; a failed or expired buy gives it back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from redis.asyncio import Redis

from livehub.domain.ids import ID_CHARS, valid_id
from livehub.domain.sale_rules import (
    MAX_PRICE_CENTS,
    MAX_STOCK,
    MAX_TIME_MS,
    SaleSpecError,
    flat_fields,
    now_arg,
    text,
)
from livehub.store.keys import Keys
from livehub.store.scripts import Scripts

log = logging.getLogger("livehub.store.coupons")

MAX_COUPONS_PER_USER = 100


class CouponSpecError(SaleSpecError):
    """A coupon drop field is missing or out of range; ``field`` names it (a LivehubException, via SaleSpecError)."""


class CouponCode(StrEnum):
    OK = "ok"  # grabbed; lock: locked now
    HELD = "held"  # lock: already locked for this use by an earlier call (a retried buy)
    SOLD_OUT = "sold_out"  # grab: none left
    LIMIT_REACHED = "limit_reached"  # grab: the user grabbed their limit
    EXPIRED = "expired"
    NOT_FOUND = "not_found"
    NOT_OWNED = "not_owned"  # lock: the user has no unused coupon of this drop
    USED = "used"  # lock: the coupon of this buy was already used (its order was paid)
    WRONG_BRAND = "wrong_brand"  # lock: the coupon is for another brand
    GUIDE_ONLY = "guide_only"  # grab, lock: only the customers of the coupon's guide may grab and use it
    STORE_ONLY = "store_only"  # lock: only a buy picked up at the coupon's store may use it


@dataclass(frozen=True, slots=True)
class CouponSpec:
    """``total`` coupons worth ``value_cents`` off an order of at least ``min_spend_cents``."""

    coupon_id: str
    venue: str
    issuer: str  # the host's or guide's id
    value_cents: int
    min_spend_cents: int
    per_user_limit: int
    total: int
    expires_at_ms: int
    brand: str | None = None  # only for this brand's sales; None: any brand
    only_guide: str | None = None  # only this guide's attributed customers may grab and use it
    only_store: str | None = None  # only buys picked up at this store may use it

    def __post_init__(self) -> None:
        for name in ("coupon_id", "venue", "issuer"):
            if not valid_id(getattr(self, name)):
                raise CouponSpecError(name, f"must be {ID_CHARS}")
        for name in ("brand", "only_guide", "only_store"):
            if getattr(self, name) is not None and not valid_id(getattr(self, name)):
                raise CouponSpecError(name, f"must be {ID_CHARS}")
        for name, low, high in (
            ("value_cents", 1, MAX_PRICE_CENTS),
            ("min_spend_cents", 0, MAX_PRICE_CENTS),
            ("per_user_limit", 1, MAX_COUPONS_PER_USER),
            ("total", 1, MAX_STOCK),
            ("expires_at_ms", 0, MAX_TIME_MS),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise CouponSpecError(name, f"must be an integer in {low}..{high}, got {value!r}")

    def to_fields(self) -> dict[str, str]:
        return {
            "coupon_id": self.coupon_id,
            "venue": self.venue,
            "issuer": self.issuer,
            "value_cents": str(self.value_cents),
            "min_spend_cents": str(self.min_spend_cents),
            "per_user_limit": str(self.per_user_limit),
            "total": str(self.total),
            "expires_at_ms": str(self.expires_at_ms),
            "brand": self.brand or "",
            "only_guide": self.only_guide or "",
            "only_store": self.only_store or "",
        }

    @classmethod
    def from_fields(cls, f: Mapping[str, str]) -> CouponSpec:
        return cls(
            coupon_id=f["coupon_id"],
            venue=f["venue"],
            issuer=f["issuer"],
            value_cents=int(f["value_cents"]),
            min_spend_cents=int(f["min_spend_cents"]),
            per_user_limit=int(f["per_user_limit"]),
            total=int(f["total"]),
            expires_at_ms=int(f["expires_at_ms"]),
            brand=f["brand"] or None,
            only_guide=f.get("only_guide") or None,
            only_store=f.get("only_store") or None,
        )


@dataclass(frozen=True, slots=True)
class GrabResult:
    code: CouponCode
    left: int  # coupons of the drop still to grab
    grabbed: int  # by this user, ever
    unused: int  # this user's coupons not yet used


@dataclass(frozen=True, slots=True)
class CouponLock:
    code: CouponCode
    value_cents: int
    min_spend_cents: int


class CouponStore:
    """Coupon drops of every venue."""

    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts) -> None:
        self._redis = redis
        self._keys = keys
        self._scripts = scripts

    async def drop(self, spec: CouponSpec) -> bool:
        """Drop the coupons into the venue; False when a drop with this id exists (nothing changed)."""
        k = self._keys
        args: list[str | int] = [spec.total]
        for field, value in spec.to_fields().items():
            args += [field, value]
        created = await self._scripts.run(
            "create_once", [k.coupon_spec(spec.coupon_id), k.coupon_left(spec.coupon_id)], args
        )
        if int(created):
            await self._redis.sadd(k.coupons_of_venue(spec.venue), spec.coupon_id)
        return bool(int(created))

    async def get(self, coupon_id: str) -> CouponSpec | None:
        raw = await self._redis.hgetall(self._keys.coupon_spec(coupon_id))
        return CouponSpec.from_fields(flat_fields(raw)) if raw else None

    async def left(self, coupon_id: str) -> int:
        value = await self._redis.get(self._keys.coupon_left(coupon_id))
        return int(value) if value is not None else 0

    async def unused(self, coupon_id: str, user_id: str) -> int:
        value = await self._redis.hget(self._keys.coupon_wallet(coupon_id), user_id)
        return int(value) if value is not None else 0

    async def coupons_of_venue(self, venue: str) -> list[str]:
        return sorted(text(m) for m in await self._redis.smembers(self._keys.coupons_of_venue(venue)))

    async def grab(
        self, coupon_id: str, user_id: str, now_ms: int | None = None, *, guide: str | None = None
    ) -> GrabResult:
        """Grab one coupon, atomically, within the drop's per-user limit; ``guide`` is the user's
        attributed guide (a guide-only drop refuses everyone else: ``guide_only``)."""
        k = self._keys
        code, left, grabbed, unused = await self._scripts.run(
            "coupon_grab",
            [
                k.coupon_spec(coupon_id),
                k.coupon_left(coupon_id),
                k.coupon_grabs(coupon_id),
                k.coupon_wallet(coupon_id),
            ],
            [user_id, now_arg(now_ms), guide or ""],
        )
        return GrabResult(CouponCode(text(code)), int(left), int(grabbed), int(unused))

    async def lock(
        self, coupon_id: str, user_id: str, use_id: str, brand: str, now_ms: int | None = None,
        *, guide: str | None = None, pickup_store: str | None = None,
    ) -> CouponLock:  # fmt: skip
        """Lock one of the user's coupons for a buy of ``brand`` (idempotent per ``use_id``); ``guide``
        is the guide the buy credits, ``pickup_store`` the store it is picked up at, if chosen."""
        k = self._keys
        code, value, min_spend = await self._scripts.run(
            "coupon_lock",
            [k.coupon_spec(coupon_id), k.coupon_wallet(coupon_id), k.coupon_uses(coupon_id)],
            [user_id, use_id, now_arg(now_ms), brand, guide or "", pickup_store or ""],
        )
        return CouponLock(CouponCode(text(code)), int(value), int(min_spend))

    async def settle(
        self, coupon_id: str, use_id: str, action: Literal["commit", "release"], now_ms: int | None = None
    ) -> bool:
        """Commit (used) or release (back to the wallet) a locked coupon, once; True when this call did it."""
        k = self._keys
        done = await self._scripts.run(
            "coupon_settle",
            [k.coupon_wallet(coupon_id), k.coupon_uses(coupon_id)],
            [use_id, action, now_arg(now_ms)],
        )
        return bool(int(done))

    async def use_state(self, coupon_id: str, use_id: str) -> str | None:
        """ "locked" | "used" | "released" for a use id, None if never locked."""
        value = await self._redis.hget(self._keys.coupon_uses(coupon_id), use_id)
        return text(value).split(":", 1)[0] if value is not None else None
