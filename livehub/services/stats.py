"""The festival's live numbers: kept in Redis as orders are confirmed, pushed to hosts once a second.

* **Counting** (every ``stats_consume_interval_s``): every node is a consumer of the ``stats``
  group on the orders stream (livehub.store.orders.OrderConsumer): each confirmed order is
  delivered to one node, at least once, and counted once per scope by stats_count.lua (a
  per-order marker), so the numbers are exact across nodes and retries; an order left pending
  by a node that died is claimed by another after ``OrderConsumer.min_idle_ms``.  The group
  starts at the stream's first entry, so a fresh Redis key space counts every order kept.
* **Viewers**: each join is noted in memory (:meth:`LiveStats.saw_viewer`, at most
  ``stats_viewers_pending_max`` per tick) and added to the scope's HyperLogLog once a tick.
* **The tick** (every ``stats_interval_s``): online counts of every venue (one round trip)
  raise the peaks, open sales with no stock left get their sell-out time, and the node's
  connected hosts get the ``stats`` frame of their venue (built and encoded once per venue,
  the same bytes for all its hosts) and the main venue's hosts the ``festival_stats`` frame.
* **Reading** (the routes, the frames): totals, orders per minute, conversion, online now and
  peak, and per sale stock, reserved, sold and sell-out time, from Redis: a reload shows what
  every node counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from livehub.domain.stats import (
    ENDED_SHOWN,
    FESTIVAL_SCOPE,
    SaleFigures,
    last_minutes,
    live_sale,
    ranked,
    shown_sales,
    totals_view,
    upcoming,
    venue_scope,
)
from livehub.domain.topology import Festival
from livehub.hub.fanout import Hub
from livehub.presence.tally import stale_before
from livehub.protocol import frames
from livehub.protocol.events import Volatile, now_ms
from livehub.runtime.periodic import Periodic
from livehub.services.leaderboard import Leaderboard
from livehub.services.sale_registry import SaleRegistry
from livehub.settings import Settings
from livehub.store.orders import Order, OrderConsumer
from livehub.store.sales import SaleStore
from livehub.store.stats import StatsStore

log = logging.getLogger("livehub.services.stats")

GROUP = "stats"  # the consumer group on the orders stream


class LiveStats:
    def __init__(
        self, settings: Settings, festival: Festival, hub: Hub, registry: SaleRegistry, sales: SaleStore,
        store: StatsStore, consumer: OrderConsumer, leaderboard: Leaderboard,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.festival = festival
        self.hub = hub
        self.registry = registry
        self.sales = sales
        self.store = store
        self.consumer = consumer
        self.leaderboard = leaderboard
        self._viewers: dict[str, set[str]] = defaultdict(set)  # scope -> viewers seen since the last tick
        self._pending = 0
        self.viewers_skipped = 0  # joins not counted as viewers: the pending batch was full
        self.jobs = Periodic()

    async def start(self) -> None:
        await self.consumer.ensure_group("0")
        self.jobs.start(self.settings.stats_consume_interval_s, self.consume, "stats-orders")
        self.jobs.start(self.settings.stats_interval_s, self.tick, "stats")

    async def stop(self) -> None:
        await self.jobs.stop()

    # ---- counting --------------------------------------------------------------------------
    async def consume(self) -> int:
        """Count the orders confirmed since the last round (and any a dead node left pending)."""
        return await self.consumer.run_once(self._count, count=500, block_ms=None)

    async def _count(self, order: Order) -> None:
        await self.store.count(order)

    def saw_viewer(self, venue: str, who: str) -> None:
        """A viewer joined ``venue``: counted in its viewers and the festival's at the next tick."""
        if self._pending >= self.settings.stats_viewers_pending_max:
            self.viewers_skipped += 1
            return
        for scope in (venue_scope(venue), FESTIVAL_SCOPE):
            seen = self._viewers[scope]
            if who not in seen:
                seen.add(who)
                self._pending += 1

    async def flush_viewers(self) -> None:
        viewers, self._viewers, self._pending = self._viewers, defaultdict(set), 0
        if viewers:
            await self.store.add_viewers(viewers)

    # ---- the tick --------------------------------------------------------------------------
    async def tick(self) -> None:
        await self.flush_viewers()
        now = now_ms()
        venues = list(self.festival.venues)
        online = dict(zip(venues, await self.store.online(venues, self._stale_before(now)), strict=True))
        await self.store.raise_peaks(
            {**{venue_scope(v): n for v, n in online.items()}, FESTIVAL_SCOPE: online[self.festival.main_venue]}
        )
        await self._mark_sold_out(now)
        await self.push(online, now)

    def _stale_before(self, now: int) -> int:
        return stale_before(now, self.settings.online_interval_s)

    async def _mark_sold_out(self, now: int) -> None:
        open_now = [s for s, spec in self.registry.specs.items() if spec.starts_at_ms <= now < spec.ends_at_ms]
        if not open_now:
            return
        read = await self.sales.stock_and_returned(open_now)
        gone = [s for s, found in zip(open_now, read, strict=True) if found is not None and found[0] == 0]
        if gone:
            await self.store.mark_sold_out(gone, now)

    async def push(self, online: dict[str, int], now: int) -> None:
        """The ``stats`` frame to each connected host's venue, ``festival_stats`` to the main venue's."""
        hosts_of: dict[str, list[str]] = defaultdict(list)
        for name in self.hub.channels:
            if name.startswith("host:") and self.hub.count(name):
                host = self.festival.hosts.get(name.removeprefix("host:"))
                if host is not None:
                    hosts_of[host.venue].append(name)
        for venue, channels in hosts_of.items():
            figures = await self.venue_stats(venue, online=online[venue], now=now)
            figures.pop("venue")
            self._deliver(channels, "stats", frames.stats(venue, figures, now))
        main = hosts_of.get(self.festival.main_venue)
        if main:
            figures = await self.festival_stats(online=online, now=now, guides=False)
            self._deliver(main, "festival_stats", frames.festival_stats(figures, now))

    def _deliver(self, channels: list[str], key: str, message: dict[str, Any]) -> None:
        item = Volatile(channels[0], key, message)  # one item: its frame is encoded once for every host
        for channel in channels:
            self.hub.deliver(channel, item)

    # ---- reading ---------------------------------------------------------------------------
    async def venue_stats(
        self, venue: str, minutes: int | None = None, online: int | None = None, now: int | None = None
    ) -> dict[str, Any]:
        """One venue's numbers: totals, orders per minute (oldest first), conversion, online now and
        peak, its sales (the live one, the run of show) and its best stores."""
        now = now_ms() if now is None else now
        scope = venue_scope(venue)
        if online is None:
            online = (await self.store.online([venue], self._stale_before(now)))[0]
        (totals,) = await self.store.totals([scope])
        per_minute = await self.store.per_minute(scope, last_minutes(now, minutes or self.settings.stats_chart_minutes))
        sales = await self.sale_figures(self._listed(await self.registry.of_venue(venue), now), now)
        _brands, stores = await self.store.ranked(scope)
        current = live_sale(sales)
        return {
            "venue": venue,
            **totals_view(totals, online, per_minute, sum(s.reserved for s in sales)),
            "live_sale": current.view() if current else None,
            "upcoming": [s.view() for s in upcoming(sales)],
            "sales": [s.view() for s in shown_sales(sales)],
            "stores": ranked(stores, {i: s.name for i, s in self.festival.stores.items()}, "store"),
        }

    def _listed(self, sale_ids: list[str], now: int) -> list[str]:
        """The venue's sales worth reading: every one not over, and the latest ended ones (livehub.domain.stats)."""
        specs = [self.registry.specs[s] for s in sale_ids if s in self.registry.specs]
        over = sorted((p for p in specs if now >= p.ends_at_ms), key=lambda p: (p.ends_at_ms, p.sale_id), reverse=True)
        return [p.sale_id for p in specs if now < p.ends_at_ms] + [p.sale_id for p in over[:ENDED_SHOWN]]

    async def festival_stats(
        self, minutes: int | None = None, online: dict[str, int] | None = None, now: int | None = None,
        guides: bool = True,
    ) -> dict[str, Any]:  # fmt: skip
        """The festival's numbers, per brand and per store, the hour's guides, and a grid of every
        venue (online, GMV, orders, the live sale)."""
        f = self.festival
        now = now_ms() if now is None else now
        venues = list(f.venues)
        if online is None:
            online = dict(zip(venues, await self.store.online(venues, self._stale_before(now)), strict=True))
        scopes = [FESTIVAL_SCOPE, *(venue_scope(v) for v in venues)]
        festival_totals, *venue_totals = await self.store.totals(scopes)
        per_minute = await self.store.per_minute(
            FESTIVAL_SCOPE, last_minutes(now, minutes or self.settings.stats_chart_minutes)
        )
        brands, stores = await self.store.ranked(FESTIVAL_SCOPE)
        live = await self._live_sales(now)
        grid = [
            {"venue": v, "title": f.venues[v].title, "brand": f.venues[v].brand, "online": online[v],
             "gmv_cents": t.gmv_cents, "orders": t.orders,
             "live_sale": live[v].view() if v in live else None}
            for v, t in zip(venues, venue_totals, strict=True)
        ]  # fmt: skip
        out: dict[str, Any] = {
            **totals_view(festival_totals, online[f.main_venue], per_minute, 0),
            "brands": ranked(brands, {i: b.name for i, b in f.brands.items()}, "brand"),
            "stores": ranked(stores, {i: s.name for i, s in f.stores.items()}, "store"),
            "venues": grid,
        }
        del out["reservations"]  # per sale and per venue: the festival's would be a sum of every sale's read
        if guides:
            out["guides"] = (await self.leaderboard.top())["guides"]
        return out

    async def _live_sales(self, now: int) -> dict[str, SaleFigures]:
        """The sale each venue is running now (``domain.stats.live_sale`` of its open sales), with its figures."""
        venue_of = {spec.sale_id: spec.venue for spec in self.registry.specs.values()
                    if spec.starts_at_ms <= now < spec.ends_at_ms}  # fmt: skip
        by_venue: dict[str, list[SaleFigures]] = {}
        for fig in await self.sale_figures(list(venue_of), now):
            by_venue.setdefault(venue_of[fig.sale_id], []).append(fig)
        return {venue: current for venue, figs in by_venue.items() if (current := live_sale(figs)) is not None}

    async def sale_figures(self, sale_ids: list[str], now: int) -> list[SaleFigures]:
        """Each sale's stock, reserved, sold and sell-out time (sales whose keys are gone are left out)."""
        if not sale_ids:
            return []
        sold_out = await self.store.sold_out_at(sale_ids)
        states = await asyncio.gather(*(self.sales.get_state(s) for s in sale_ids))
        out = []
        for sale_id, sold_out_at, state in zip(sale_ids, sold_out, states, strict=True):
            if state is None:
                continue
            spec = state.spec
            product = self.festival.products.get(spec.sku)
            out.append(SaleFigures(
                sale_id=sale_id, sku=spec.sku, title=product.title if product else spec.sku, phase=state.phase(now),
                starts_at_ms=spec.starts_at_ms, ends_at_ms=spec.ends_at_ms, initial=spec.stock,
                stock=state.available, reserved=state.reserved, sold=state.sold, price_cents=spec.price_cents,
                sold_out_at_ms=sold_out_at,
            ))  # fmt: skip
        return out
