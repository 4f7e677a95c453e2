"""A venue's product shelf (the "shopping bag"), pure: the items a host puts on it, in the host's
order, each with an optional sale, group deal and coupon attached; the pinned card goes on top.

A shelf is latest-value state ``shelf`` of the venue's channel (so it is in every join
snapshot); each change replaces the whole list (``shelf.updated``), so a viewer never has to
merge partial updates.  Ids are checked against the one id grammar (livehub.domain.ids); whether
the sku, sale and coupon exist is the service's business (livehub.services.shelf).  The group
deal id is carried as it is (an opaque id: group deals are their own feature).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from livehub.domain.ids import ID_CHARS, valid_id
from livehub.errors import LivehubException

ATTACHMENTS = ("sale", "group", "coupon")


class ShelfError(LivehubException, ValueError):
    """A shelf request is malformed; ``field`` names the item field (``items[2].sale``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class ShelfItem:
    sku: str
    sale: str | None = None
    group: str | None = None
    coupon: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sku": self.sku}
        for name in ATTACHMENTS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


def parse_shelf(items: Any, max_items: int) -> list[ShelfItem]:
    """The host's ordered list ``[{sku, sale?, group?, coupon?}, ...]``: at most ``max_items``,
    each sku once, every id in the id grammar, no other fields."""
    if not isinstance(items, list):
        raise ShelfError("items", "must be a list")
    if len(items) > max_items:
        raise ShelfError("items", f"at most {max_items} products on a shelf, got {len(items)}")
    out: list[ShelfItem] = []
    seen: set[str] = set()
    for i, raw in enumerate(items):
        where = f"items[{i}]"
        if not isinstance(raw, dict):
            raise ShelfError(where, "must be an object {sku, sale?, group?, coupon?}")
        unknown = sorted(set(raw) - {"sku", *ATTACHMENTS})
        if unknown:
            raise ShelfError(f"{where}.{unknown[0]}", "unknown field")
        sku = raw.get("sku")
        if not valid_id(sku):
            raise ShelfError(f"{where}.sku", f"must be {ID_CHARS}")
        if sku in seen:
            raise ShelfError(f"{where}.sku", f"{sku!r} is on the shelf twice")
        seen.add(sku)
        attached: dict[str, str | None] = {}
        for name in ATTACHMENTS:
            value = raw.get(name)
            if value is not None and not valid_id(value):
                raise ShelfError(f"{where}.{name}", f"must be {ID_CHARS}")
            attached[name] = value
        out.append(ShelfItem(sku, **attached))
    return out


def pinned_on_top(items: Sequence[ShelfItem], pinned_sku: str | None) -> list[ShelfItem]:
    """The shelf as shown: the pinned card's item first, the rest in the host's order.  A pinned
    product that is not on the shelf is shown on top of it anyway (as a bare item)."""
    if pinned_sku is None:
        return list(items)
    pinned = next((item for item in items if item.sku == pinned_sku), ShelfItem(pinned_sku))
    return [pinned, *(item for item in items if item.sku != pinned_sku)]
