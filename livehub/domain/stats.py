"""Live numbers of the festival (pure, no I/O): the scopes they are kept in, the minute buckets of
the orders-per-minute series, conversion, and the shapes hosts and the HTTP API see.

The counters themselves live in Redis (livehub.store.stats) and are updated once per confirmed
order by the stats consumer group (livehub.services.stats); this module only decides what a
scope, a minute and a ratio are, so every node derives the same numbers from the same counters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MINUTE_MS = 60_000
FESTIVAL_SCOPE = "festival"


def venue_scope(venue: str) -> str:
    """The scope of one venue's numbers (the festival's are in :data:`FESTIVAL_SCOPE`)."""
    return f"v:{venue}"


def scopes_of_order(venue: str) -> tuple[str, str]:
    """Every order counts in its venue's scope and in the festival's."""
    return venue_scope(venue), FESTIVAL_SCOPE


def minute_of(ms: int) -> int:
    """The start (unix ms) of the UTC minute holding ``ms``: an order's bucket."""
    return ms - ms % MINUTE_MS


def last_minutes(now_ms: int, n: int) -> list[int]:
    """The starts of the last ``n`` minutes up to and including the current one, oldest first."""
    current = minute_of(now_ms)
    return [current - (n - 1 - i) * MINUTE_MS for i in range(n)]


def conversion(buyers: int, viewers: int) -> float:
    """Buyers ÷ viewers (unique, both estimated), 0 with no viewers, at most 1 (the two
    estimates are independent: a buyer always was a viewer, so more buyers than viewers is noise)."""
    if viewers <= 0:
        return 0.0
    return round(min(1.0, buyers / viewers), 4)


@dataclass(frozen=True, slots=True)
class Totals:
    """One scope's counters, as read from Redis."""

    gmv_cents: int = 0
    orders: int = 0
    units: int = 0
    buyers: int = 0
    viewers: int = 0
    peak: int = 0

    @classmethod
    def from_fields(cls, fields: Mapping[str, str], buyers: int, viewers: int, peak: int) -> Totals:
        return cls(
            gmv_cents=int(fields.get("gmv_cents", 0)),
            orders=int(fields.get("orders", 0)),
            units=int(fields.get("units", 0)),
            buyers=buyers,
            viewers=viewers,
            peak=peak,
        )


@dataclass(frozen=True, slots=True)
class SaleFigures:
    """One sale's live figures: from the sale's own state in Redis (livehub.store.sales)."""

    sale_id: str
    sku: str
    title: str
    phase: str  # scheduled | open | ended
    starts_at_ms: int
    ends_at_ms: int
    initial: int
    stock: int
    reserved: int
    sold: int
    price_cents: int
    sold_out_at_ms: int | None

    def view(self) -> dict[str, object]:
        return {
            "sale": self.sale_id, "sku": self.sku, "title": self.title, "phase": self.phase,
            "starts_at": self.starts_at_ms, "ends_at": self.ends_at_ms, "initial": self.initial,
            "stock": self.stock, "reserved": self.reserved, "sold": self.sold, "price_cents": self.price_cents,
            "sold_out_at": self.sold_out_at_ms,
        }  # fmt: skip


def live_sale(sales: Sequence[SaleFigures]) -> SaleFigures | None:
    """The sale a venue is running now: the open one with stock left that ends first; when every open
    one sold out, the one that ends first (None when none is open). A sale that sold out in a minute
    stays open until its end, and must not hide the one still selling."""
    open_now = [s for s in sales if s.phase == "open"]
    return min(open_now, key=lambda s: (s.stock <= 0, s.ends_at_ms, s.sale_id)) if open_now else None


def upcoming(sales: Sequence[SaleFigures]) -> list[SaleFigures]:
    """The run of show: scheduled sales, soonest first."""
    return sorted((s for s in sales if s.phase == "scheduled"), key=lambda s: (s.starts_at_ms, s.sale_id))


ENDED_SHOWN = 5  # ended sales a venue's numbers list (the latest): a day of sales stays a small frame


def shown_sales(sales: Sequence[SaleFigures]) -> list[SaleFigures]:
    """The sales a venue's numbers list: open and scheduled ones by start, then the latest ended ones."""
    ended = sorted((s for s in sales if s.phase == "ended"), key=lambda s: (s.ends_at_ms, s.sale_id), reverse=True)
    running = sorted((s for s in sales if s.phase != "ended"), key=lambda s: (s.starts_at_ms, s.sale_id))
    return running + ended[:ENDED_SHOWN]


def totals_view(t: Totals, online: int, per_minute: Sequence[int], reservations: int) -> dict[str, object]:
    """The numbers every scope shows (the ``stats`` frame and both routes)."""
    return {
        "gmv_cents": t.gmv_cents, "orders": t.orders, "units": t.units,
        "orders_per_minute": list(per_minute), "reservations": reservations,
        "buyers": t.buyers, "viewers": t.viewers, "conversion": conversion(t.buyers, t.viewers),
        "online": online, "peak": max(t.peak, online),
    }  # fmt: skip


def ranked(scores: Sequence[tuple[str, int]], names: Mapping[str, str], key: str) -> list[dict[str, object]]:
    """A breakdown (brands, stores) by GMV, best first, with each one's name."""
    return [{key: i, "name": names.get(i, i), "gmv_cents": cents} for i, cents in scores]
