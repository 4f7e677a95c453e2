"""The festival under test, read from the target itself, never hard-coded.

``GET /api/festival`` gives the venues (main and brand rooms) and the products; each venue's
``GET /api/venues/{id}`` gives its current state (the sales already announced). What the HTTP
API does not expose (host keys, guides' share codes) comes from a local copy of the festival's
TOML (``--livehub-config``) or from the environment (``LIVEHUB_LOCUST_HOST_KEYS``,
``LIVEHUB_LOCUST_GUIDES``: comma-separated share codes, optionally ``brand:code``).
Read once per locust process (the first user to need it), shared by every user.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass, field
from typing import Any

from gevent.lock import BoundedSemaphore

from loadtests.crowd.options import Options

log = logging.getLogger("livehub.loadtests.target")


@dataclass(frozen=True)
class HostLogin:
    host: str
    venue: str | None  # known from a local config; else learned at login
    key: str | None  # None: mint the token locally (LIVEHUB_SECRET)


@dataclass
class Target:
    festival_id: str
    main_venue: str
    venues: dict[str, dict[str, Any]]  # id -> {id, kind, title, brand}
    products: dict[str, list[dict[str, Any]]]  # brand -> products
    sales: dict[str, dict[str, Any]]  # sale id -> public sale, as announced when read
    guide_codes: dict[str | None, list[str]] = field(default_factory=dict)  # brand (None: unknown) -> codes
    hosts: list[HostLogin] = field(default_factory=list)  # the main venue's host first

    @property
    def brand_venues(self) -> list[str]:
        return [v for v, info in self.venues.items() if info.get("kind") != "main"]

    def pick_venue(self, rng: random.Random, main_share: float) -> str:
        brands = self.brand_venues
        if not brands or rng.random() < main_share:
            return self.main_venue
        return rng.choice(brands)

    def pick_guide(self, rng: random.Random, venue: str, share: float) -> str | None:
        """A share code for a session in ``venue`` (a guide of the room's brand when known), or None."""
        if rng.random() >= share:
            return None
        brand = self.venues.get(venue, {}).get("brand")
        codes = self.guide_codes.get(brand) or [c for cs in self.guide_codes.values() for c in cs]
        return rng.choice(codes) if codes else None

    def skus_for(self, venue: str) -> list[dict[str, Any]]:
        """Products a sale in ``venue`` may sell: its brand's; the main venue: any."""
        brand = self.venues.get(venue, {}).get("brand")
        if brand is None:
            return [p for ps in self.products.values() for p in ps]
        return self.products.get(brand, [])


def sales_in(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The sales announced in a snapshot (``state[channel].sales``, by sale id)."""
    found: dict[str, dict[str, Any]] = {}
    for state in (snapshot.get("state") or {}).values():
        sales = state.get("sales") if isinstance(state, dict) else None
        if isinstance(sales, dict):
            found.update({sid: sale for sid, sale in sales.items() if isinstance(sale, dict)})
    return found


def _from_config(path: str, host_keys: str = "") -> tuple[dict[str | None, list[str]], list[HostLogin]]:
    """Share codes and host logins from a local copy of the festival file.  Outside the demo the file
    holds only hashes of the host keys: the keys themselves come from ``LIVEHUB_LOCUST_HOST_KEYS``."""
    from livehub.config import load_festival

    festival = load_festival(path)
    codes: dict[str | None, list[str]] = {}
    for guide in festival.guides.values():
        codes.setdefault(guide.brand, []).append(guide.share_code)
    hosts = sorted(festival.hosts.values(), key=lambda h: (h.venue != festival.main_venue, h.id))
    keys = dict(item.strip().partition("=")[::2] for item in host_keys.split(",") if "=" in item)
    return codes, [HostLogin(h.id, h.venue, keys.get(h.id) or h.key or None) for h in hosts]


def _from_env(opts: Options, main_venue: str) -> tuple[dict[str | None, list[str]], list[HostLogin]]:
    codes: dict[str | None, list[str]] = {}
    for item in filter(None, (c.strip() for c in os.environ.get("LIVEHUB_LOCUST_GUIDES", "").split(","))):
        brand, _, code = item.rpartition(":")
        codes.setdefault(brand or None, []).append(code)
    hosts = []
    for item in filter(None, (c.strip() for c in opts.host_keys.split(","))):
        host, _, key = item.partition("=")
        hosts.append(HostLogin(host, None, key or None))
    hosts.sort(key=lambda h: h.host != f"host-{main_venue}")
    return codes, hosts


def read_target(client: Any, opts: Options) -> Target:
    """Read the festival through ``client`` (a locust HttpSession: the reads show in the stats)."""
    with client.get("/api/festival", name="GET /api/festival", catch_response=True) as r:
        if r.status_code != 200:
            r.failure(f"festival: HTTP {r.status_code}")
            raise RuntimeError(f"GET /api/festival answered {r.status_code}")
        doc = r.json()
    venues = {v["id"]: v for v in doc["venues"]}
    products: dict[str, list[dict[str, Any]]] = {}
    for p in doc.get("products", []):
        products.setdefault(p["brand"], []).append(p)
    sales: dict[str, dict[str, Any]] = {}
    for venue in venues:
        with client.get(f"/api/venues/{venue}", name="GET /api/venues/{id}", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"venue {venue}: HTTP {r.status_code}")
                continue
            sales.update(sales_in(r.json()))
    main = doc["main_venue"]
    codes, hosts = _from_config(opts.config, opts.host_keys) if opts.config else _from_env(opts, main)
    if not hosts and opts.secret:
        hosts = [HostLogin(f"host-{main}", main, None)]  # minted locally: the main venue's usual host id
    target = Target(doc["id"], main, venues, products, sales, codes, hosts)
    log.info("target festival %s: %d venues, %d products, %d sales, %d guide codes, %d host logins",
             target.festival_id, len(venues), sum(map(len, products.values())), len(sales),
             sum(map(len, codes.values())), len(hosts))  # fmt: skip
    return target


_lock = BoundedSemaphore(1)
_target: Target | None = None


def target_of(client: Any, opts: Options) -> Target:
    """The festival, read once per process by whichever user asks first."""
    global _target
    with _lock:
        if _target is None:
            _target = read_target(client, opts)
        return _target
