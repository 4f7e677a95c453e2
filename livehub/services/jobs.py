"""Commerce's periodic work on a node (livehub.runtime.periodic runs each step):

* the live stock counter: every ``stock_interval_s`` the node reads the stock of the sales
  its viewers can see (one pipelined round trip) and pushes a latest-value ``stock`` frame
  when it changed; "sold out" is announced once per sell-out (a SET NX marker keyed by how
  much stock ever came back);
* the sweeper: refreshes the node's sales, expires unpaid reservations and relays outbox
  effects, on every node (the scripts make that safe); a sale long over (past its end plus the
  reservation ttl) is swept until every reservation is settled, then retired (its keys expire
  ``sale_retention_s`` later: ``SaleStore.retire``), and once they have expired it leaves its
  venue's sales;
* the guide leaderboard, pushed to connected hosts;
* the reconciler: settles store holds and coupon locks a crashed node left between two steps;
* the position check (every ``position_check_interval_s``): each subscribed channel's position
  against Redis (``Hub.check_positions``: fill from history or resync), and the store index
  re-built when Redis lost it (restarted empty: every buy would otherwise be a warehouse delivery).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from livehub.backplane.broker import Broker
from livehub.domain.admission import Admission
from livehub.domain.sale_rules import SaleSpec
from livehub.domain.topology import Festival
from livehub.hub.fanout import Hub
from livehub.protocol import frames
from livehub.runtime.periodic import Periodic
from livehub.services.leaderboard import Leaderboard
from livehub.services.sale_registry import SaleRegistry
from livehub.services.tally import CommerceTally
from livehub.services.venue_controls import publish_sale
from livehub.settings import Settings
from livehub.store.coupons import CouponStore
from livehub.store.sales import RetireCode, SaleStore
from livehub.store.stores import StoreIndex

log = logging.getLogger("livehub.services.jobs")


class CommerceJobs:
    def __init__(
        self, settings: Settings, festival: Festival, node_id: str, hub: Hub, broker: Broker,
        registry: SaleRegistry, sales: SaleStore, coupons: CouponStore, stores: StoreIndex,
        admission: Admission, leaderboard: Leaderboard, tally: CommerceTally | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.festival = festival
        self.node_id = node_id
        self.hub = hub
        self.broker = broker
        self.registry = registry
        self.sales = sales
        self.coupons = coupons
        self.stores = stores
        self.admission = admission
        self.leaderboard = leaderboard
        self.stock: dict[str, int] = {}  # last stock pushed per sale
        self.retired: dict[str, int] = {}  # sale id -> when its keys expire (unix ms), once retired
        self.jobs = Periodic()
        self.tally = tally or CommerceTally()  # the sweeper counts the reservations it expired

    async def start(self) -> None:
        """Index the festival's stores (once per festival), read the sales, start the loops."""
        count = await self.stores.load_once(self.node_id)
        if count is not None:
            log.info("indexed %d stores", count)
        await self.registry.refresh()
        s = self.settings
        self.jobs.start(s.stock_interval_s, self.push_stock, "stock")
        self.jobs.start(s.sweep_interval_s, self.sweep, "sweeper")
        self.jobs.start(s.leaderboard_interval_s, self.push_leaderboard, "leaderboard")
        self.jobs.start(s.reconcile_interval_s, self.reconcile, "reconcile")
        self.jobs.start(s.position_check_interval_s, self.check_positions, "positions")

    async def stop(self) -> None:
        await self.jobs.stop()

    def counters(self, venue: str) -> dict[str, Any]:
        """A snapshot's commerce counters of one channel: the last stock pushed per sale."""
        sales = self.registry.venue_sales.get(venue)
        if not sales:
            return {}
        return {"stock": {s: self.stock[s] for s in sales if s in self.stock}}

    async def push_stock(self) -> None:
        """Latest stock of the sales this node's viewers see; sold out announced once."""
        venue_sales = self.registry.venue_sales
        visible = [s for v in venue_sales if self.hub.count(v) for s in venue_sales[v]]
        if not visible:
            return
        read = await self.sales.stock_and_returned(visible)
        now = time.monotonic()
        for sale_id, found in zip(visible, read, strict=True):
            if found is None:
                continue
            stock, returned = found
            self.admission.observe_stock(sale_id, stock, now)
            if self.stock.get(sale_id) == stock:
                continue
            self.stock[sale_id] = stock
            spec = self.registry.specs.get(sale_id)
            if spec is None:
                continue
            self.hub.broadcast_volatile(spec.venue, f"stock:{sale_id}", frames.stock(spec.venue, sale_id, stock))
            if stock == 0:
                await self._announce_sold_out(spec, returned)

    async def _announce_sold_out(self, spec: SaleSpec, returned: int) -> None:
        if await self.sales.claim_sold_out(spec.sale_id, returned, self.node_id, self.settings.history_ttl_s):
            await publish_sale(self.broker, self.festival, spec, "sale.sold_out", sold_out=True)

    async def sweep(self) -> None:
        await self.registry.refresh()
        now = await self.sales.server_time_ms()
        for sale_id, spec in list(self.registry.specs.items()):
            keep_until = self.retired.get(sale_id)
            if keep_until is None and now > spec.ends_at_ms + 1000 * spec.reservation_ttl_s:
                code, keep_until = await self.sales.retire(sale_id)  # long over: retired once settled
                if code is RetireCode.RETIRED or code is RetireCode.NOT_FOUND:
                    self.retired[sale_id] = keep_until
                else:
                    keep_until = None  # unsettled: a reservation to expire or an effect to relay
            if keep_until is not None:
                if now >= keep_until:  # its keys are gone
                    await self._forget(spec)
                continue
            self.tally.reservations_expired += await self.sales.expire_due(sale_id, limit=500)
            await self.sales.outbox.relay(sale_id)

    async def _forget(self, spec: SaleSpec) -> None:
        """A sale whose keys expired leaves its venue's sales and this node's caches."""
        await self.sales.unlist(spec.sale_id, spec.venue)
        self.registry.specs.pop(spec.sale_id, None)
        ids = self.registry.venue_sales.get(spec.venue)
        if ids is not None and spec.sale_id in ids:
            self.registry.venue_sales[spec.venue] = [s for s in ids if s != spec.sale_id]
        self.retired.pop(spec.sale_id, None)
        self.stock.pop(spec.sale_id, None)
        self.admission.forget(spec.sale_id)

    async def live_stock(self) -> list[tuple[str, str, int]]:
        """``(sale, venue, units available)`` of every sale open now, read from Redis in one round trip
        (the ``livehub_sale_stock`` gauge of a scrape: the same on every node)."""
        now = await self.sales.server_time_ms()
        live = [spec for spec in self.registry.specs.values() if spec.starts_at_ms <= now < spec.ends_at_ms]
        if not live:
            return []
        read = await self.sales.stock_and_returned([spec.sale_id for spec in live])
        return [(spec.sale_id, spec.venue, found[0]) for spec, found in zip(live, read, strict=True) if found]

    async def check_positions(self) -> None:
        """Channels behind Redis or in another epoch (livehub.hub.gapfill); the store index if Redis lost it."""
        await self.hub.check_positions()
        count = await self.stores.ensure_loaded(self.node_id)
        if count is not None:
            log.warning("the store index was missing in Redis (restarted empty?): re-indexed %d stores", count)

    async def reconcile(self) -> None:
        """Settle store holds and coupon locks a crashed node left between two steps."""
        for store_id in await self.stores.stores_with_holds():
            await self.sales.outbox.reconcile_store_holds(store_id)
        for venue in self.festival.venues:
            for coupon_id in await self.coupons.coupons_of_venue(venue):
                await self.sales.outbox.reconcile_coupon_locks(coupon_id)

    async def push_leaderboard(self) -> None:
        hosts = [name for name in self.hub.channels if name.startswith("host:") and self.hub.count(name)]
        if not hosts:
            return
        board = await self.leaderboard.top()
        for name in hosts:
            self.hub.broadcast_volatile(name, "leaderboard", frames.leaderboard(board))
