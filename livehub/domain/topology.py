"""The festival's shape: one main venue plus N brand sub-venues (pure, no I/O).

A festival is immutable once loaded.  Money is integer cents; coordinates are
WGS84 degrees; distances are kilometres.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

MAIN = "main"
BRAND = "brand"


@dataclass(frozen=True, slots=True)
class Host:
    id: str
    venue: str
    name: str
    key: str  # a plaintext login key for the control panel (demo mode only); never logged
    key_hashes: tuple[str, ...] = ()  # argon2 hashes of the accepted keys (several while rotating)

    @property
    def has_key(self) -> bool:
        """Whether the host has any key, plaintext or hashed (a plaintext one serves only in demo mode)."""
        return bool(self.key or self.key_hashes)


@dataclass(frozen=True, slots=True)
class Venue:
    id: str
    kind: str  # MAIN or BRAND
    title: str
    brand: str | None  # brand id for a sub-venue, None for the main venue
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    brand: str
    title: str
    price_cents: int
    list_price_cents: int
    image_url: str


@dataclass(frozen=True, slots=True)
class Store:
    id: str
    brand: str
    name: str
    lat: float
    lon: float
    radius_km: float  # in-store pickup is offered within this distance
    stock: Mapping[str, int] = field(default_factory=dict)  # sku -> units on hand at festival start
    address: str = ""  # where buyers pick up (shown with their pickup orders)


@dataclass(frozen=True, slots=True)
class Warehouse:
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Brand:
    id: str
    name: str
    venue: str
    warehouse: Warehouse
    products: tuple[str, ...] = ()  # skus
    stores: tuple[str, ...] = ()  # store ids


@dataclass(frozen=True, slots=True)
class Guide:
    id: str
    name: str
    store: str
    brand: str
    share_code: str


@dataclass(frozen=True, slots=True)
class Festival:
    id: str
    title: str
    main_venue: str
    venues: Mapping[str, Venue]
    hosts: Mapping[str, Host]
    brands: Mapping[str, Brand]
    products: Mapping[str, Product]
    stores: Mapping[str, Store]
    guides: Mapping[str, Guide]
    commission_rate: float = 0.05  # share of an order's amount credited to the guide
    pickup_search_km: tuple[float, ...] = (3.0, 5.0)  # nearest-store search steps
    guide_codes: Mapping[str, str] = field(default_factory=dict)  # share code -> guide id

    def channels_for(self, venue_id: str) -> tuple[str, ...]:
        """Channels a viewer of ``venue_id`` is subscribed to: 1+N by subscription."""
        venue = self.venues[venue_id]
        if venue.kind == MAIN:
            return (venue.id,)
        return (self.main_venue, venue.id)

    def guide_by_code(self, share_code: str) -> Guide | None:
        guide_id = self.guide_codes.get(share_code)
        return self.guides.get(guide_id) if guide_id else None


def host_channel(host_id: str) -> str:
    """Volatile-only channel of one host (co-host signals, orders, leaderboard)."""
    return f"host:{host_id}"


def room_channel(venue: str) -> str:
    """Volatile-only channel of one venue's own audience (its comments): unlike the venue's
    event channel, a brand room's viewers are not on the main venue's room channel."""
    return f"room:{venue}"
