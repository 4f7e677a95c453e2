"""Where an order is fulfilled from (pure, no I/O).

The rule, applied by ``stores.StoreIndex.route`` which does the Redis work:

1. A buyer who chose a pickup store gets that store when it has the units and,
   if the buyer sent a location, the buyer is within that store's service
   radius (``distance <= radius_km``, inclusive).  Otherwise the choice cannot
   be honoured: the order is routed by the normal rule below and the result
   says ``fallback=True`` so the client can tell the buyer.  (The sale stock is
   already reserved at that point; failing the buy instead would throw away a
   unit the buyer won.)  A chosen store of another brand or an unknown store is
   rejected before the buy as ``bad_request``.
2. With a location, stores of the sale's brand are searched outward in steps
   (``Festival.pickup_search_km``, e.g. 3 km then 5 km).  Within a step the
   candidates are tried nearest first (ties by store id); a store is a
   candidate only when the buyer is within its own ``radius_km``: in-store
   pickup is never offered beyond it.  The first candidate whose stock yields
   the units is the pickup store.
3. Beyond every radius, with no location, or when no candidate has the units:
   delivery from the brand's central warehouse (``store_id`` None,
   ``distance_km`` from the buyer to the warehouse when the location is known).

Distances are great-circle (:func:`livehub.domain.geo.haversine_km`) on the same
sphere Redis GEO uses, so the pure numbers and GEOSEARCH's agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Mode = Literal["pickup", "delivery"]


@dataclass(frozen=True, slots=True)
class Fulfilment:
    """How an order reaches the buyer: pickup at ``store_id`` or delivery from the warehouse."""

    mode: Mode
    store_id: str | None
    distance_km: float | None
    fallback: bool = False  # the buyer's chosen pickup store could not serve

    @property
    def warehouse(self) -> bool:
        return self.store_id is None

    def __post_init__(self) -> None:
        if (self.mode == "pickup") != (self.store_id is not None):
            raise ValueError("pickup needs a store; delivery comes from the warehouse")

    def to_fields(self) -> dict[str, str]:
        """As stored in a reservation or order hash: mode, store_id, distance_km, fallback."""
        return {
            "mode": self.mode,
            "store_id": self.store_id or "",
            "distance_km": "" if self.distance_km is None else repr(self.distance_km),
            "fallback": "1" if self.fallback else "0",
        }

    @classmethod
    def from_fields(cls, f: Mapping[str, str]) -> Fulfilment | None:
        """From a reservation or order hash; None when no fulfilment was recorded."""
        if not f.get("mode"):
            return None
        distance = f.get("distance_km", "")
        return cls(
            "pickup" if f["mode"] == "pickup" else "delivery",
            f.get("store_id") or None,
            float(distance) if distance else None,
            f.get("fallback") == "1",
        )


def warehouse_delivery(distance_km: float | None, fallback: bool = False) -> Fulfilment:
    return Fulfilment("delivery", None, distance_km, fallback)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A store found near the buyer."""

    store_id: str
    distance_km: float | None  # None: the buyer sent no location (a chosen store only)
    radius_km: float

    @property
    def offers_pickup(self) -> bool:
        """Pickup is offered within the store's own radius (inclusive), or when no location is known."""
        return self.distance_km is None or self.distance_km <= self.radius_km


def pickup_candidates(found: Iterable[Candidate], tried: Iterable[str] = ()) -> list[Candidate]:
    """The stores worth trying, in order: within their own radius, not tried yet, nearest first."""
    skip = set(tried)
    eligible = [c for c in found if c.offers_pickup and c.store_id not in skip]
    return sorted(eligible, key=lambda c: (c.distance_km or 0.0, c.store_id))


def decide(
    attempts: Sequence[tuple[Candidate, bool]],
    warehouse_distance_km: float | None,
    chosen_store: str | None = None,
) -> Fulfilment:
    """The fulfilment after trying stores in order; ``attempts`` pairs a store with whether it had the units.

    The first store that had the units serves; none -> warehouse delivery.  A
    chosen store that did not serve makes the answer a ``fallback``.
    """
    for candidate, taken in attempts:
        if taken:
            fallback = chosen_store is not None and candidate.store_id != chosen_store
            return Fulfilment("pickup", candidate.store_id, candidate.distance_km, fallback)
    return warehouse_delivery(warehouse_distance_km, fallback=chosen_store is not None)
