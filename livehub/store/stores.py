"""Stores on Redis: a GEO index per brand, each store's stock, and the nearest-store route.

Keys: ``{brand:<id>}:geo`` (GEO set of the brand's store ids), per store
``{store:<id>}:stock`` (hash sku -> units) and ``{store:<id>}:holds`` (units
taken for reservations not yet paid).  The routing rule itself is pure and
lives in ``livehub.domain.routing``; this module does the searching and taking.

Taking a unit is atomic on the store's own slot (store_take.lua) and keyed by
the reservation id (a "hold"), so it is idempotent; the hold is settled once by
store_settle.lua: "commit" when the order is paid, "release" (units back to the
store) when the reservation expires or was routed elsewhere.

Why one GEO key per brand, not one global key: GEOSEARCH's cost grows with the
members in the geohash cells it scans and sorts, and a global key holds every
brand's stores there.  Measured on the embedded Redis 6.2 of the 2-core dev
machine: 10,000 stores (100 brands x 100) spread over a 25 km metropolis,
4,000 searches of 5 km around random points, server time per call from INFO
commandstats:

=================================  ============  =====================================
key, query                          server/call   the brand's stores in the answer
=================================  ============  =====================================
per brand, ASC COUNT 32             24 us         all (mean 4.0)
global, ASC COUNT 32                833 us        mean 0.3: COUNT cuts other brands' first
global, ASC, no COUNT               1,869 us      all, among ~400 others to filter (9 ms
                                                  per search end to end in Python)
=================================  ============  =====================================

so per-brand keys are 35-75x cheaper on Redis and the only correct choice with
COUNT.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from redis.asyncio import Redis

from livehub.domain.geo import haversine_km
from livehub.domain.routing import Candidate, Fulfilment, decide, pickup_candidates
from livehub.domain.sale_rules import Location, now_arg, text
from livehub.domain.topology import Festival, Store
from livehub.store.keys import Keys
from livehub.store.scripts import Scripts

log = logging.getLogger("livehub.store.stores")

Settle = Literal["commit", "release"]


async def take_units(
    scripts: Scripts, keys: Keys, store_id: str, sku: str, qty: int, hold_id: str, now_ms: int | None = None
) -> bool:
    """Take ``qty`` units of ``sku`` from a store for ``hold_id``; True when held (now or before)."""
    taken, _left = await scripts.run(
        "store_take",
        [keys.store_stock(store_id), keys.store_holds(store_id)],
        [hold_id, sku, qty, now_arg(now_ms)],
    )
    return bool(int(taken))


async def settle_hold(scripts: Scripts, keys: Keys, store_id: str, hold_id: str, action: Settle) -> bool:
    """Commit (keep taken) or release (give back) a store hold, once; True when this call settled it."""
    done = await scripts.run(
        "store_settle", [keys.store_stock(store_id), keys.store_holds(store_id)], [hold_id, action]
    )
    return bool(int(done))


class StoreIndex:
    """A festival's stores in Redis, and the nearest-store route of an order."""

    def __init__(
        self, redis: Redis, keys: Keys, scripts: Scripts, festival: Festival, max_candidates: int = 32
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._scripts = scripts
        self.festival = festival
        self.max_candidates = max_candidates

    async def load(self, reset_stock: bool = False) -> int:
        """Index every store by brand and write its stock (kept if present unless ``reset_stock``)."""
        stores = list(self.festival.stores.values())
        for start in range(0, len(stores), 1_000):
            pipe = self._redis.pipeline(transaction=False)
            for store in stores[start : start + 1_000]:
                pipe.geoadd(self._keys.brand_stores(store.brand), [store.lon, store.lat, store.id])
                stock_key = self._keys.store_stock(store.id)
                if reset_stock:
                    pipe.delete(stock_key, self._keys.store_holds(store.id))
                for sku, units in store.stock.items():
                    if reset_stock:
                        pipe.hset(stock_key, sku, units)
                    else:
                        pipe.hsetnx(stock_key, sku, units)
            await pipe.execute()
        log.info("loaded %d stores of %d brands", len(stores), len(self.festival.brands))
        return len(stores)

    async def put(self, stores: list[Store], stock: dict[str, dict[str, int]]) -> None:
        """Index ``stores`` at their (new) places in their brand's GEO set and set the units on hand
        given in ``stock`` (store id -> sku -> units): an admin edit (livehub.services.festival_admin).
        Idempotent: a retry puts the same places and units again."""
        for start in range(0, len(stores), 1_000):
            pipe = self._redis.pipeline(transaction=False)
            for store in stores[start : start + 1_000]:
                pipe.geoadd(self._keys.brand_stores(store.brand), [store.lon, store.lat, store.id])
                units = stock.get(store.id)
                if units:
                    pipe.hset(self._keys.store_stock(store.id), mapping=units)  # type: ignore[arg-type]
            await pipe.execute()

    async def load_once(self, owner: str) -> int | None:
        """:meth:`load` once per festival, not per node (a SET NX marker); the count, or None when
        another node had loaded them.  A failed load removes the marker so the next node tries again."""
        marker = self._keys.stores_loaded(self.festival.id)
        if not await self._redis.set(marker, owner, nx=True):
            return None
        try:
            return await self.load()
        except BaseException:
            await self._redis.delete(marker)
            raise

    async def ensure_loaded(self, owner: str) -> int | None:
        """Index the stores again when Redis lost them (an empty restart, a flush): the marker or
        a brand's GEO key missing.  The count when this call indexed them, else None."""
        marker = self._keys.stores_loaded(self.festival.id)
        brands = sorted({store.brand for store in self.festival.stores.values()})
        if not brands:
            return None
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.exists(marker)
            pipe.exists(self._keys.brand_stores(brands[0]))
            has_marker, has_index = await pipe.execute()
        if has_marker and has_index:
            return None
        if has_marker:  # a marker without its index (keys lost, marker restored): index again
            await self._redis.delete(marker)
        return await self.load_once(owner)

    async def stores_with_holds(self) -> list[str]:
        """Ids of the festival's stores holding units for unpaid reservations (one pipelined round trip)."""
        stores = list(self.festival.stores)
        pipe = self._redis.pipeline(transaction=False)
        for store_id in stores:
            pipe.hlen(self._keys.store_holds(store_id))
        return [s for s, held in zip(stores, await pipe.execute(), strict=True) if held]

    def is_store_of(self, brand: str, store_id: str) -> bool:
        store = self.festival.stores.get(store_id)
        return store is not None and store.brand == brand

    async def nearby(self, brand: str, lat: float, lon: float, km: float) -> list[Candidate]:
        """The brand's stores within ``km`` of the point, nearest first (at most ``max_candidates``)."""
        found: list[Any] = await self._redis.geosearch(
            self._keys.brand_stores(brand),
            longitude=lon,
            latitude=lat,
            radius=km,
            unit="km",
            sort="ASC",
            count=self.max_candidates,
            withdist=True,
        )
        out = []
        for member, dist in found:
            store = self.festival.stores.get(text(member))
            if store is not None:
                out.append(Candidate(store.id, float(dist), store.radius_km))
        return out

    async def stock_of(self, store_id: str, sku: str) -> int:
        value = await self._redis.hget(self._keys.store_stock(store_id), sku)
        return int(value) if value is not None else 0

    async def holds_of(self, store_id: str) -> dict[str, str]:
        raw = await self._redis.hgetall(self._keys.store_holds(store_id))
        return {text(k): text(v) for k, v in raw.items()}

    async def route(
        self,
        brand: str,
        sku: str,
        qty: int,
        location: Location | None,
        hold_id: str,
        pickup_store: str | None = None,
        now_ms: int | None = None,
    ) -> Fulfilment:
        """Where the order is fulfilled from (rule: ``livehub.domain.routing``), taking the store's units if a store.

        ``pickup_store`` must be a store of ``brand`` (checked by the caller, see ``is_store_of``).
        """
        attempts: list[tuple[Candidate, bool]] = []
        tried: set[str] = set()
        if pickup_store is not None:
            store = self.festival.stores[pickup_store]
            distance = haversine_km(location.lat, location.lon, store.lat, store.lon) if location else None
            chosen = Candidate(store.id, distance, store.radius_km)
            tried.add(store.id)
            if chosen.offers_pickup:
                taken = await take_units(self._scripts, self._keys, store.id, sku, qty, hold_id, now_ms)
                attempts.append((chosen, taken))
                if taken:
                    return decide(attempts, None, pickup_store)
        if location is not None:
            for km in self.festival.pickup_search_km:
                for candidate in pickup_candidates(
                    await self.nearby(brand, location.lat, location.lon, km), tried
                ):
                    tried.add(candidate.store_id)
                    taken = await take_units(
                        self._scripts, self._keys, candidate.store_id, sku, qty, hold_id, now_ms
                    )
                    attempts.append((candidate, taken))
                    if taken:
                        return decide(attempts, None, pickup_store)
        known = self.festival.brands.get(brand)
        distance = None
        if location is not None and known is not None:
            distance = haversine_km(location.lat, location.lon, known.warehouse.lat, known.warehouse.lon)
        return decide(attempts, distance, pickup_store)
