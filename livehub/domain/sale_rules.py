"""Flash-sale rules (pure, no I/O): the sale spec, buy requests, the buy answers, reservation ids.

The answers of a buy, each a distinct code (``BuyCode``):

============== ==============================================================
ok             stock taken, a reservation waits for payment until its deadline
duplicate      a retried request id (same sale, same user): carries the FIRST
               answer (the reservation, in its current state); never takes
               stock twice.  Only answers that took stock are remembered: a
               retry of a refused request is evaluated again (it took nothing).
not_started    the sale window has not opened yet (the answer carries the start)
ended          the sale window has closed
sold_out       fewer units are available than asked (usually none; the answer
               carries how many are left)
limit_reached  the user's held units (reserved + paid) plus this buy exceed the
               per-user limit
bad_quantity   qty < 1 or qty > the per-user limit: can never succeed
coupon_invalid the coupon is not the user's, used, expired, of another brand or
               the order is below its minimum spend; nothing was taken
busy           shed by the node's admission control before Redis (try again)
not_found      no such sale
bad_request    malformed input (request id, location, store id, coupon id)
============== ==============================================================

Money is integer cents, times are unix milliseconds (UTC).  Ids that go into
Redis key names (sale, venue, brand, sku, store, coupon) follow the one entity
id grammar of :mod:`livehub.domain.ids`, the festival's, so they can never
break a key's hash tag and every festival sku can be put on sale.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from livehub.domain.ids import ID_CHARS, REQUEST_ID_RE, valid_id
from livehub.errors import LivehubException

_match_request_id = REQUEST_ID_RE.fullmatch  # the flash-sale path: no extra call
MAX_STOCK = 10_000_000
MAX_PRICE_CENTS = 100_000_000  # one million yuan
MAX_PER_USER_LIMIT = 1_000
MAX_WINDOW_MS = 30 * 86_400_000  # a sale is open for at most 30 days
MAX_RESERVATION_TTL_S = 86_400
MAX_TIME_MS = 4_102_444_800_000  # 2100-01-01


class BuyCode(StrEnum):
    OK = "ok"
    DUPLICATE = "duplicate"
    NOT_STARTED = "not_started"
    ENDED = "ended"
    SOLD_OUT = "sold_out"
    LIMIT_REACHED = "limit_reached"
    BAD_QUANTITY = "bad_quantity"
    COUPON_INVALID = "coupon_invalid"
    BUSY = "busy"
    NOT_FOUND = "not_found"
    BAD_REQUEST = "bad_request"

    @property
    def took_stock(self) -> bool:
        """True for the answers that carry a reservation."""
        return self in (BuyCode.OK, BuyCode.DUPLICATE)


class SaleSpecError(LivehubException, ValueError):
    """A sale spec field is missing or out of range; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class BuyRequestError(LivehubException, ValueError):
    """A buy request is invalid; ``code`` is BAD_REQUEST or BAD_QUANTITY, ``field`` names the field."""

    def __init__(self, code: BuyCode, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.code = code
        self.field = field


def _int_in(field: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise SaleSpecError(field, f"must be an integer, got {value!r}")
    if not low <= value <= high:
        raise SaleSpecError(field, f"must be in {low}..{high}, got {value}")


@dataclass(frozen=True, slots=True)
class SaleSpec:
    """A flash sale: ``stock`` units of ``sku`` at ``price_cents`` in [starts_at_ms, ends_at_ms)."""

    sale_id: str
    venue: str
    brand: str
    sku: str
    stock: int
    price_cents: int
    per_user_limit: int
    starts_at_ms: int
    ends_at_ms: int
    reservation_ttl_s: int = 300

    def __post_init__(self) -> None:
        for name in ("sale_id", "venue", "brand", "sku"):
            if not valid_id(getattr(self, name)):
                raise SaleSpecError(name, f"must be {ID_CHARS}")
        _int_in("stock", self.stock, 1, MAX_STOCK)
        _int_in("price_cents", self.price_cents, 1, MAX_PRICE_CENTS)
        _int_in("per_user_limit", self.per_user_limit, 1, MAX_PER_USER_LIMIT)
        _int_in("starts_at_ms", self.starts_at_ms, 0, MAX_TIME_MS)
        _int_in("ends_at_ms", self.ends_at_ms, 0, MAX_TIME_MS)
        if self.ends_at_ms < self.starts_at_ms:  # equal: an empty window (a sale ended before it began)
            raise SaleSpecError("ends_at_ms", "must not be before starts_at_ms")
        if self.ends_at_ms - self.starts_at_ms > MAX_WINDOW_MS:
            raise SaleSpecError("ends_at_ms", f"window longer than {MAX_WINDOW_MS} ms")
        _int_in("reservation_ttl_s", self.reservation_ttl_s, 1, MAX_RESERVATION_TTL_S)

    def to_fields(self) -> dict[str, str]:
        """The spec hash as stored in Redis."""
        return {
            "sale_id": self.sale_id,
            "venue": self.venue,
            "brand": self.brand,
            "sku": self.sku,
            "stock": str(self.stock),
            "price_cents": str(self.price_cents),
            "per_user_limit": str(self.per_user_limit),
            "starts_at_ms": str(self.starts_at_ms),
            "ends_at_ms": str(self.ends_at_ms),
            "reservation_ttl_s": str(self.reservation_ttl_s),
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> SaleSpec:
        try:
            return cls(
                sale_id=fields["sale_id"],
                venue=fields["venue"],
                brand=fields["brand"],
                sku=fields["sku"],
                stock=int(fields["stock"]),
                price_cents=int(fields["price_cents"]),
                per_user_limit=int(fields["per_user_limit"]),
                starts_at_ms=int(fields["starts_at_ms"]),
                ends_at_ms=int(fields["ends_at_ms"]),
                reservation_ttl_s=int(fields["reservation_ttl_s"]),
            )
        except KeyError as exc:
            raise SaleSpecError(str(exc.args[0]), "missing") from exc


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lon: float

    def __post_init__(self) -> None:
        for name, bound in (("lat", 90.0), ("lon", 180.0)):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
                raise BuyRequestError(BuyCode.BAD_REQUEST, name, f"must be a number, got {value!r}")
            if not -bound <= value <= bound:
                raise BuyRequestError(BuyCode.BAD_REQUEST, name, f"must be in -{bound}..{bound}")
        if abs(self.lat) > 85.05112878:  # beyond what Redis GEO can index
            raise BuyRequestError(BuyCode.BAD_REQUEST, "lat", "must be in -85.05..85.05")


@dataclass(frozen=True, slots=True)
class BuyRequest:
    """One buy as the client sent it, checked on the node before Redis.  ``qty`` is checked
    here against the absolute bound only; against the sale's per-user limit by buy.lua, as are
    the price and the coupon's discount and minimum spend (tests/store/test_sales.py pins them)."""

    request_id: str
    qty: int = 1
    location: Location | None = None
    pickup_store: str | None = None
    coupon_id: str | None = None

    def __post_init__(self) -> None:
        if type(self.request_id) is not str or _match_request_id(self.request_id) is None:
            raise BuyRequestError(
                BuyCode.BAD_REQUEST, "request_id", "must be 1-64 printable ASCII characters"
            )
        if not isinstance(self.qty, int) or isinstance(self.qty, bool):
            raise BuyRequestError(BuyCode.BAD_REQUEST, "qty", f"must be an integer, got {self.qty!r}")
        if not 1 <= self.qty <= MAX_PER_USER_LIMIT:
            raise BuyRequestError(BuyCode.BAD_QUANTITY, "qty", f"must be in 1..{MAX_PER_USER_LIMIT}")
        for name in ("pickup_store", "coupon_id"):
            value = getattr(self, name)
            if value is not None and not valid_id(value):
                raise BuyRequestError(BuyCode.BAD_REQUEST, name, f"must be {ID_CHARS}")

    @classmethod
    def from_args(cls, request_id: str, args: Mapping[str, Any]) -> BuyRequest:
        """Build from the arguments of a buy as :func:`livehub.protocol.commands.parse_buy_args`
        returns them (websocket frame or HTTP body): qty?, loc? = (lat, lon), pickup_store?, coupon?."""
        loc = args.get("loc")
        return cls(
            request_id=request_id,
            qty=args.get("qty", 1),
            location=Location(loc[0], loc[1]) if loc else None,
            pickup_store=args.get("pickup_store"),
            coupon_id=args.get("coupon"),
        )


# ---- ids ----------------------------------------------------------------------
# A reservation id is derived from (sale, user, request id), so the reservation
# itself is the idempotency record: a retry finds it.  128 bits of BLAKE2b make
# a collision between two requests of one sale practically impossible; buy.lua
# still checks that a found reservation belongs to the same user and request.


def derived_id(parent_id: str, tag: str, user_id: str, request_id: str) -> str:
    """``<parent>:<tag><32 hex>``: the id one (user, request id) gets under ``parent_id`` (a sale's
    reservation, a pre-sale's deposit), the same on every retry."""
    digest = hashlib.blake2b(f"{user_id}\n{request_id}".encode(), digest_size=16).hexdigest()
    return f"{parent_id}:{tag}{digest}"


def split_derived(any_id: str, tags: str, what: str) -> tuple[str, str]:
    """(parent id, "<tag><hex>") of an id :func:`derived_id` made with one of ``tags``; ValueError
    (``not a <what>``) otherwise."""
    parent_id, sep, tail = any_id.rpartition(":")
    if not sep or not valid_id(parent_id) or len(tail) != 33 or tail[0] not in tags:
        raise ValueError(f"not a {what}: {any_id!r}")
    try:
        int(tail[1:], 16)
    except ValueError:
        raise ValueError(f"not a {what}: {any_id!r}") from None
    return parent_id, tail


def reservation_id(sale_id: str, user_id: str, request_id: str) -> str:
    return derived_id(sale_id, "r", user_id, request_id)


def order_id_for(reservation_id_: str) -> str:
    """The one order id a reservation can become: paying twice names the same order."""
    sale_id, tail = split_id(reservation_id_)
    return f"{sale_id}:o{tail[1:]}"


def split_id(any_id: str) -> tuple[str, str]:
    """(sale id, "r<hex>" | "o<hex>") of a reservation or order id; ValueError otherwise."""
    return split_derived(any_id, "ro", "reservation or order id")


def sale_of(any_id: str) -> str:
    return split_id(any_id)[0]


# ---- Redis replies (pure helpers shared by the commerce modules) ------------------


def text(value: object) -> str:
    """A reply value as text, whether or not the client decodes responses."""
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def flat_fields(reply: list[Any] | Mapping[Any, Any]) -> dict[str, str]:
    """HGETALL as a str dict, from a script's flat field/value list or redis-py's dict."""
    if isinstance(reply, Mapping):
        return {text(k): text(v) for k, v in reply.items()}
    return {text(reply[i]): text(reply[i + 1]) for i in range(0, len(reply) - 1, 2)}


def now_arg(now_ms: int | None) -> str:
    """The "now" argument of the scripts: empty means the server's TIME (the default)."""
    return "" if now_ms is None else str(int(now_ms))
