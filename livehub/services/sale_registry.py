"""The sales a node knows: each sale's spec (immutable but for its window) and the sale ids of
every venue, refreshed from Redis by the sweeper and updated by the host controls."""

from __future__ import annotations

from livehub import errors
from livehub.domain.sale_rules import SaleSpec
from livehub.domain.topology import Festival
from livehub.store.sales import SaleStore


class SaleRegistry:
    def __init__(self, festival: Festival, sales: SaleStore) -> None:
        self.festival = festival
        self.sales = sales
        self.specs: dict[str, SaleSpec] = {}  # sale id -> spec; one dict for the node's life (buying reads it)
        self.venue_sales: dict[str, list[str]] = {}  # venue -> sale ids

    async def refresh(self) -> None:
        """Re-read every venue's sale ids, and the specs of sales not seen before."""
        self.venue_sales = await self.sales.sale_ids_of_venues(list(self.festival.venues))
        await self._learn({s for ids in self.venue_sales.values() for s in ids})

    async def of_venue(self, venue: str) -> list[str]:
        """The venue's sale ids as Redis has them now, with their specs learnt: a sale another node
        created a moment ago is listed before this node's next sweep (one round trip)."""
        ids = (await self.sales.sale_ids_of_venues([venue])).get(venue, [])
        self.venue_sales[venue] = ids
        await self._learn(set(ids))
        return ids

    async def _learn(self, sale_ids: set[str]) -> None:
        for sale_id in sale_ids - set(self.specs):
            spec = await self.sales.get_spec(sale_id)
            if spec is not None:
                self.specs[sale_id] = spec

    async def spec(self, sale_id: str) -> SaleSpec:
        """The sale's spec (cached); ``not_found`` for an unknown sale."""
        spec = self.specs.get(sale_id)
        if spec is None:
            spec = await self.sales.get_spec(sale_id)
            if spec is None:
                raise errors.not_found(f"unknown sale {sale_id!r}")
            self.specs[sale_id] = spec
        return spec

    def created(self, spec: SaleSpec) -> None:
        """A sale this node just created."""
        self.specs[spec.sale_id] = spec
        self.venue_sales.setdefault(spec.venue, []).append(spec.sale_id)

    def changed(self, spec: SaleSpec) -> None:
        """A sale's window moved (started or ended now)."""
        self.specs[spec.sale_id] = spec
