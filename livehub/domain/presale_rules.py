"""Pre-sale (定金) rules (pure, no I/O): the spec, the deposit's life cycle, the answers, the ids.

A pre-sale sells ``stock`` units of one sku in two steps: a **deposit** now (in the deposit
window), the **balance** (price - deposit) later (in the balance window, which opens at or
after the deposit window closes).  A deposit takes its units from the stock when it is placed,
so a pre-sale never sells more than its stock.

The life cycle of one deposit (each move is one Lua script, checked and changed atomically):

============ ===========================================================================
deposit_due  placed: units taken, the deposit waits for payment until its deadline
             (placed + ``deposit_ttl_s``)
balance_due  the deposit is paid; the balance waits for the balance window
completed    the balance is paid: an order exists (routed to a store at that moment)
lapsed       the deposit was not paid by its deadline: units back, nothing was charged
forfeited    the balance was not paid by the balance window's end and the pre-sale's
             rule is ``forfeit``: the deposit is kept (the usual 定金 rule), units back
refunded     ... and the rule is ``refund``: the deposit is refunded (a refund record is
             written in the same step), units back
============ ===========================================================================

Moves: deposit_due -> balance_due | lapsed; balance_due -> completed | forfeited | refunded.
Units of lapsed, forfeited and refunded deposits go back to the available stock (after the
balance window the pre-sale is over, so they are simply unsold), hence the conservation
invariant at rest: ``stock == available + deposit_due + balance_due + completed`` (units).

Deadlines are hard: a deposit payment after its deadline answers ``lapsed`` and a balance
payment after the balance window answers ``forfeited`` / ``refunded`` before any sweeper ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from livehub.domain.ids import ID_CHARS, valid_id
from livehub.domain.sale_rules import (
    MAX_PER_USER_LIMIT,
    MAX_PRICE_CENTS,
    MAX_RESERVATION_TTL_S,
    MAX_STOCK,
    MAX_TIME_MS,
    MAX_WINDOW_MS,
    SaleSpecError,
    derived_id,
    split_derived,
)

UnpaidRule = Literal["forfeit", "refund"]
UNPAID_RULES: tuple[UnpaidRule, ...] = ("forfeit", "refund")
DepositState = Literal["deposit_due", "balance_due", "completed", "lapsed", "forfeited", "refunded"]
DEPOSIT_STATES: tuple[DepositState, ...] = ("deposit_due", "balance_due", "completed", "lapsed", "forfeited",
                                           "refunded")  # fmt: skip


class DepositCode(StrEnum):
    """The answers of placing a deposit."""

    OK = "ok"  # units taken, the deposit is due (pay it by deadline_ms)
    DUPLICATE = "duplicate"  # a retried request id: the first answer's deposit, never taken twice
    NOT_STARTED = "not_started"  # the deposit window has not opened (carries its start)
    ENDED = "ended"  # the deposit window has closed
    SOLD_OUT = "sold_out"  # fewer units available than asked
    LIMIT_REACHED = "limit_reached"  # the user's held units plus this exceed the per-user limit
    BAD_QUANTITY = "bad_quantity"  # qty < 1 or above the per-user limit
    NOT_FOUND = "not_found"  # no such pre-sale
    BAD_REQUEST = "bad_request"  # malformed input

    @property
    def took_stock(self) -> bool:
        return self in (DepositCode.OK, DepositCode.DUPLICATE)


class PayStage(StrEnum):
    DEPOSIT = "deposit"
    BALANCE = "balance"


class PresalePayCode(StrEnum):
    """The answers of paying a deposit or a balance."""

    PAID = "paid"  # this call moved the deposit on (deposit: -> balance_due; balance: -> completed)
    DUPLICATE = "duplicate"  # this stage was paid before (same deposit / same order)
    NOT_STARTED = "not_started"  # balance: the balance window has not opened yet (carries its start)
    DEPOSIT_DUE = "deposit_due"  # balance: the deposit itself is not paid yet
    LAPSED = "lapsed"  # the deposit was not paid by its deadline (a late deposit payment: refund it)
    FORFEITED = "forfeited"  # the balance window ended: the deposit is kept (a late balance: refund it)
    REFUNDED = "refunded"  # the balance window ended: the deposit is refunded (a late balance too)
    NOT_FOUND = "not_found"  # no such deposit


def _int_in(field: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise SaleSpecError(field, f"must be an integer, got {value!r}")
    if not low <= value <= high:
        raise SaleSpecError(field, f"must be in {low}..{high}, got {value}")


@dataclass(frozen=True, slots=True)
class PresaleSpec:
    """``stock`` units of ``sku`` at ``price_cents``: ``deposit_cents`` in the deposit window
    [deposit_starts_at_ms, deposit_ends_at_ms), the balance in [balance_starts_at_ms, balance_ends_at_ms)."""

    presale_id: str
    venue: str
    brand: str
    sku: str
    stock: int
    price_cents: int
    deposit_cents: int
    per_user_limit: int
    deposit_starts_at_ms: int
    deposit_ends_at_ms: int
    balance_starts_at_ms: int
    balance_ends_at_ms: int
    deposit_ttl_s: int = 900
    unpaid: UnpaidRule = "forfeit"

    def __post_init__(self) -> None:
        for name in ("presale_id", "venue", "brand", "sku"):
            if not valid_id(getattr(self, name)):
                raise SaleSpecError(name, f"must be {ID_CHARS}")
        _int_in("stock", self.stock, 1, MAX_STOCK)
        _int_in("price_cents", self.price_cents, 2, MAX_PRICE_CENTS)
        _int_in("deposit_cents", self.deposit_cents, 1, self.price_cents - 1)
        _int_in("per_user_limit", self.per_user_limit, 1, MAX_PER_USER_LIMIT)
        for name in ("deposit_starts_at_ms", "deposit_ends_at_ms", "balance_starts_at_ms", "balance_ends_at_ms"):
            _int_in(name, getattr(self, name), 0, MAX_TIME_MS)
        if self.deposit_ends_at_ms <= self.deposit_starts_at_ms:
            raise SaleSpecError("deposit_ends_at_ms", "must be after deposit_starts_at_ms")
        if self.balance_starts_at_ms < self.deposit_ends_at_ms:
            raise SaleSpecError("balance_starts_at_ms", "must not be before deposit_ends_at_ms")
        if self.balance_ends_at_ms <= self.balance_starts_at_ms:
            raise SaleSpecError("balance_ends_at_ms", "must be after balance_starts_at_ms")
        if self.balance_ends_at_ms - self.deposit_starts_at_ms > MAX_WINDOW_MS:
            raise SaleSpecError("balance_ends_at_ms", f"pre-sale longer than {MAX_WINDOW_MS} ms")
        _int_in("deposit_ttl_s", self.deposit_ttl_s, 1, MAX_RESERVATION_TTL_S)
        if self.unpaid not in UNPAID_RULES:
            raise SaleSpecError("unpaid", f"must be one of {', '.join(UNPAID_RULES)}")

    @property
    def balance_cents(self) -> int:
        return self.price_cents - self.deposit_cents

    def phase(self, now_ms: int) -> str:
        """scheduled, deposit, waiting (between the windows), balance, ended."""
        if now_ms < self.deposit_starts_at_ms:
            return "scheduled"
        if now_ms < self.deposit_ends_at_ms:
            return "deposit"
        if now_ms < self.balance_starts_at_ms:
            return "waiting"
        return "balance" if now_ms < self.balance_ends_at_ms else "ended"

    def to_fields(self) -> dict[str, str]:
        return {
            "presale_id": self.presale_id,
            "venue": self.venue,
            "brand": self.brand,
            "sku": self.sku,
            "stock": str(self.stock),
            "price_cents": str(self.price_cents),
            "deposit_cents": str(self.deposit_cents),
            "per_user_limit": str(self.per_user_limit),
            "deposit_starts_at_ms": str(self.deposit_starts_at_ms),
            "deposit_ends_at_ms": str(self.deposit_ends_at_ms),
            "balance_starts_at_ms": str(self.balance_starts_at_ms),
            "balance_ends_at_ms": str(self.balance_ends_at_ms),
            "deposit_ttl_s": str(self.deposit_ttl_s),
            "unpaid": self.unpaid,
        }

    @classmethod
    def from_fields(cls, f: Mapping[str, str]) -> PresaleSpec:
        try:
            unpaid = f["unpaid"]
            return cls(
                presale_id=f["presale_id"], venue=f["venue"], brand=f["brand"], sku=f["sku"],
                stock=int(f["stock"]), price_cents=int(f["price_cents"]), deposit_cents=int(f["deposit_cents"]),
                per_user_limit=int(f["per_user_limit"]),
                deposit_starts_at_ms=int(f["deposit_starts_at_ms"]), deposit_ends_at_ms=int(f["deposit_ends_at_ms"]),
                balance_starts_at_ms=int(f["balance_starts_at_ms"]), balance_ends_at_ms=int(f["balance_ends_at_ms"]),
                deposit_ttl_s=int(f["deposit_ttl_s"]),
                unpaid="refund" if unpaid == "refund" else "forfeit",
            )  # fmt: skip
        except KeyError as exc:
            raise SaleSpecError(str(exc.args[0]), "missing") from exc


def unpaid_state(rule: UnpaidRule) -> DepositState:
    """The state of a deposit whose balance was not paid by the end of the balance window."""
    return "refunded" if rule == "refund" else "forfeited"


@dataclass(frozen=True, slots=True)
class PresaleCounts:
    """Units per state (cumulative for the settled ones) and the units available now."""

    stock: int
    available: int
    deposit_due: int = 0
    balance_due: int = 0
    completed: int = 0
    lapsed: int = 0
    forfeited: int = 0
    refunded: int = 0

    @property
    def balanced(self) -> bool:
        """The conservation invariant: stock == available + deposit_due + balance_due + completed."""
        return self.stock == self.available + self.deposit_due + self.balance_due + self.completed


# ---- ids ----------------------------------------------------------------------
# A deposit id is derived from (pre-sale, user, request id), like a reservation id, so the
# deposit hash is its own idempotency record.  Its tail starts with "d", its order's with "p",
# so neither can be mistaken for a flash sale's reservation ("r") or order ("o").


def deposit_id(presale_id: str, user_id: str, request_id: str) -> str:
    return derived_id(presale_id, "d", user_id, request_id)


def presale_order_id(deposit_id_: str) -> str:
    """The one order a deposit's paid balance becomes."""
    presale_id, tail = split_presale_id(deposit_id_)
    return f"{presale_id}:p{tail[1:]}"


def split_presale_id(any_id: str) -> tuple[str, str]:
    """(pre-sale id, "d<hex>" | "p<hex>") of a deposit or pre-sale order id; ValueError otherwise."""
    return split_derived(any_id, "dp", "deposit or pre-sale order id")


def is_presale_id(any_id: str) -> bool:
    try:
        split_presale_id(any_id)
    except ValueError:
        return False
    return True
