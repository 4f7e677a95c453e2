"""Group-buy (拼团) rules (pure, no I/O): the deal spec, group and member ids, the answers.

A host opens a *group deal* on a product: groups of ``group_size`` buyers pay
``group_price_cents`` each; ``groups`` groups can be started until ``ends_at_ms``;
each group has ``group_ttl_s`` from its start to fill up.

**Joining is paying.**  A viewer pays the group price when starting or joining a
group (no seat is held unpaid): the group completes at the N-th paid member, and
every member's order is confirmed at once; a group not full at its deadline
expires and every paid member is refunded (exactly once), and the deal's stock of
groups gets the group back.  So there is no pending payment to chase, no seat to
reclaim, and a group's member count is exactly its paid members.

The answers of a start or a join, each a distinct code (``JoinCode``):

============== ==============================================================
joined         paid and in the group; the group still fills up
completed      this payment was the N-th: the group is complete, every
               member's order is confirmed
duplicate      a retried request id (same group, same user): the group as it
               is now; nothing was paid twice
already_member the user is in this group already (under another request id)
full           the group completed without this user (it has N members)
expired        the group's deadline passed (or it expired): no join any more
no_stock       (start) no group left to start
ended          (start) the deal's window has closed
not_found      no such deal or group
============== ==============================================================

A refused answer changed nothing; when a real provider charged the buyer before
calling back (docs/protocol.md, "Group buys"), a refused answer means: refund.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from livehub.domain.ids import ID_CHARS, valid_id
from livehub.domain.sale_rules import MAX_PRICE_CENTS, MAX_TIME_MS, MAX_WINDOW_MS, SaleSpecError

MAX_DEAL_ID_CHARS = 40  # a group id is "<deal>.g<16 hex>": still an entity id (at most 64)
MIN_GROUP_SIZE, MAX_GROUP_SIZE = 2, 50
MAX_GROUPS = 100_000
MAX_GROUP_TTL_S = 86_400
GROUP_TAIL_CHARS = 17  # "g" + 16 hex


class JoinCode(StrEnum):
    JOINED = "joined"
    COMPLETED = "completed"
    DUPLICATE = "duplicate"
    ALREADY_MEMBER = "already_member"
    FULL = "full"
    EXPIRED = "expired"
    NO_STOCK = "no_stock"
    ENDED = "ended"
    NOT_FOUND = "not_found"

    @property
    def paid(self) -> bool:
        """True for the answers where the user is a paying member (this call or before)."""
        return self in (JoinCode.JOINED, JoinCode.COMPLETED, JoinCode.DUPLICATE)


GroupStatus = str  # "open" | "completed" | "expired"
OPEN, COMPLETED, EXPIRED = "open", "completed", "expired"


def _int_in(field: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise SaleSpecError(field, f"must be an integer, got {value!r}")
    if not low <= value <= high:
        raise SaleSpecError(field, f"must be in {low}..{high}, got {value}")


@dataclass(frozen=True, slots=True)
class GroupDealSpec:
    """``groups`` groups of ``group_size`` buyers of ``sku`` at ``group_price_cents`` each, started
    in [created_at_ms, ends_at_ms), each filling up within ``group_ttl_s`` of its start."""

    deal_id: str
    venue: str
    brand: str
    sku: str
    group_size: int
    group_price_cents: int
    groups: int
    created_at_ms: int
    ends_at_ms: int
    group_ttl_s: int = 600

    def __post_init__(self) -> None:
        for name in ("deal_id", "venue", "brand", "sku"):
            if not valid_id(getattr(self, name)):
                raise SaleSpecError(name, f"must be {ID_CHARS}")
        if len(self.deal_id) > MAX_DEAL_ID_CHARS:
            raise SaleSpecError("deal_id", f"must be at most {MAX_DEAL_ID_CHARS} characters")
        _int_in("group_size", self.group_size, MIN_GROUP_SIZE, MAX_GROUP_SIZE)
        _int_in("group_price_cents", self.group_price_cents, 1, MAX_PRICE_CENTS)
        _int_in("groups", self.groups, 1, MAX_GROUPS)
        _int_in("created_at_ms", self.created_at_ms, 0, MAX_TIME_MS)
        _int_in("ends_at_ms", self.ends_at_ms, 0, MAX_TIME_MS)
        if self.ends_at_ms <= self.created_at_ms:
            raise SaleSpecError("ends_at_ms", "must be after the deal opens")
        if self.ends_at_ms - self.created_at_ms > MAX_WINDOW_MS:
            raise SaleSpecError("ends_at_ms", f"window longer than {MAX_WINDOW_MS} ms")
        _int_in("group_ttl_s", self.group_ttl_s, 1, MAX_GROUP_TTL_S)

    @property
    def last_deadline_ms(self) -> int:
        """No group of the deal is open after this: the last start plus a group's time."""
        return self.ends_at_ms + 1000 * self.group_ttl_s

    def to_fields(self) -> dict[str, str]:
        return {
            "deal_id": self.deal_id,
            "venue": self.venue,
            "brand": self.brand,
            "sku": self.sku,
            "group_size": str(self.group_size),
            "group_price_cents": str(self.group_price_cents),
            "groups": str(self.groups),
            "created_at_ms": str(self.created_at_ms),
            "ends_at_ms": str(self.ends_at_ms),
            "group_ttl_s": str(self.group_ttl_s),
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> GroupDealSpec:
        try:
            return cls(
                deal_id=fields["deal_id"],
                venue=fields["venue"],
                brand=fields["brand"],
                sku=fields["sku"],
                group_size=int(fields["group_size"]),
                group_price_cents=int(fields["group_price_cents"]),
                groups=int(fields["groups"]),
                created_at_ms=int(fields["created_at_ms"]),
                ends_at_ms=int(fields["ends_at_ms"]),
                group_ttl_s=int(fields["group_ttl_s"]),
            )
        except KeyError as exc:
            raise SaleSpecError(str(exc.args[0]), "missing") from exc


# ---- ids ----------------------------------------------------------------------
# A group id is derived from (deal, starter, request id): a retried start finds its group.
# It is the group's share code too (``/watch?venue=<v>&group=<id>``): an entity id.


def _digest(*parts: str, size: int) -> str:
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=size).hexdigest()


def group_id_for(deal_id: str, user_id: str, request_id: str) -> str:
    return f"{deal_id}.g{_digest(user_id, request_id, size=8)}"


def deal_of(group_id: str) -> str | None:
    """The deal of a group id, or None when it is not one."""
    if not valid_id(group_id):
        return None
    deal_id, sep, tail = group_id.rpartition(".")
    if not sep or not deal_id or len(tail) != GROUP_TAIL_CHARS or tail[0] != "g":
        return None
    if any(c not in "0123456789abcdef" for c in tail[1:]):
        return None
    return deal_id


def member_order_id(deal_id: str, group_id: str, user_id: str) -> str:
    """The one order a member's payment becomes (the flash sales' ``<id>:o<32 hex>`` shape)."""
    return f"{deal_id}:o{_digest(group_id, user_id, size=16)}"


def refund_id(group_id: str, user_id: str) -> str:
    """The one refund a member of an expired group gets."""
    return f"{group_id}:f{_digest(user_id, size=16)}"


# ---- what the stores and services share ------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    """One paid member of a group, in joining order."""

    user_id: str
    request_id: str
    payment_ref: str
    joined_at_ms: int
    guide_id: str | None = None
    guide_store: str | None = None


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund to pay back: a member of an expired group (livehub.store.refunds)."""

    refund_id: str
    deal_id: str
    group_id: str
    venue: str
    user_id: str
    amount_cents: int
    payment_ref: str
    created_at_ms: int

    def to_fields(self) -> dict[str, str]:
        return {
            "refund_id": self.refund_id,
            "deal_id": self.deal_id,
            "group_id": self.group_id,
            "venue": self.venue,
            "user": self.user_id,
            "amount_cents": str(self.amount_cents),
            "payment_ref": self.payment_ref,
            "created_at_ms": str(self.created_at_ms),
        }

    @classmethod
    def from_fields(cls, f: Mapping[str, str]) -> Refund:
        return cls(f["refund_id"], f["deal_id"], f["group_id"], f["venue"], f["user"], int(f["amount_cents"]),
                   f["payment_ref"], int(f["created_at_ms"]))  # fmt: skip


def time_left_ms(deadline_ms: int, now_ms: int) -> int:
    return max(0, deadline_ms - now_ms)


def fill_text(joined: int, size: int, left_ms: int) -> str:
    """What a viewer's card says: "2 of 3 joined, 04:12 left" (the page has its own copy, ticking)."""
    seconds = (left_ms + 999) // 1000
    return f"{joined} of {size} joined, {seconds // 60:02d}:{seconds % 60:02d} left"
