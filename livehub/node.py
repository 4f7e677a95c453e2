"""One running livehub node: the composition root.

It builds, in order, and holds: the Redis keys, the hot-path stats, the GC policy, the
broker, the hub, the audience signals, the commerce stores (on one script batcher), the
commerce services, the join protocol (livehub.hub.recovery), the metrics, and the table of
websocket commands the services answer.  No component registers itself anywhere; start
and stop run the components in the order written here.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from livehub import errors
from livehub.backplane.broker import Broker
from livehub.backplane.redis_broker import RedisBroker
from livehub.domain.admission import Admission
from livehub.domain.quotas import Quotas
from livehub.domain.topology import Festival
from livehub.hub.connection import Connection
from livehub.hub.fanout import Hub
from livehub.hub.recovery import Recovery
from livehub.hub.stats import Stats
from livehub.presence.redis_tally import RedisTally
from livehub.presence.signals import AudienceSignals
from livehub.protocol.commands import Command
from livehub.protocol.events import Event, Volatile
from livehub.runtime.heap import HeapPolicy
from livehub.runtime.jwks import TokenVerifier
from livehub.runtime.metrics import Metrics, event_latency_histogram
from livehub.services.attribution import Attribution
from livehub.services.buying import Buying
from livehub.services.contest import HourlyContest
from livehub.services.festival_admin import FESTIVAL_CHANNEL, FestivalAdmin
from livehub.services.group_buying import GroupBuying
from livehub.services.guide_page import GuidePage
from livehub.services.jobs import CommerceJobs
from livehub.services.leaderboard import Leaderboard
from livehub.services.moderation import CHANNEL as MODERATION_CHANNEL
from livehub.services.moderation import Moderation
from livehub.services.my_orders import MyOrders
from livehub.services.presales import Presales
from livehub.services.sale_registry import SaleRegistry
from livehub.services.shelf import CardSales, Shelf
from livehub.services.stats import GROUP as STATS_GROUP
from livehub.services.stats import LiveStats
from livehub.services.storefront import Storefront
from livehub.services.tally import CommerceTally
from livehub.services.venue_controls import VenueControls
from livehub.settings import Settings
from livehub.store.attribution import AttributionStore
from livehub.store.client import pubsub_client
from livehub.store.coupons import CouponStore
from livehub.store.festival_edits import FestivalEdits
from livehub.store.groups import GroupStore
from livehub.store.guide_customers import GuideCustomers
from livehub.store.guides import GuideBoard
from livehub.store.keys import Keys
from livehub.store.moderation import ModerationStore
from livehub.store.my_orders import GROUP_BUY, UserOrders
from livehub.store.orders import OrderConsumer, OrderStore
from livehub.store.pickups import Pickups
from livehub.store.presales import PresaleStore
from livehub.store.refunds import DemoRefunds, RefundStream
from livehub.store.sales import SaleStore
from livehub.store.scripts import Scripts
from livehub.store.stats import StatsStore
from livehub.store.store_stock import StoreStock
from livehub.store.stores import StoreIndex

log = logging.getLogger("livehub.node")

CommandHandler = Callable[[Connection, Command], Awaitable[dict[str, Any]]]


class Node:
    def __init__(self, settings: Settings, festival: Festival, redis: Redis, broker: Broker | None = None) -> None:
        s = self.settings = settings
        self.festival = festival
        self.redis = redis
        self.id = settings.node
        self.keys = keys = Keys(settings.redis_prefix)
        self.stats = Stats()
        self.heap = HeapPolicy(settings.gc_full_interval_s)
        latency = event_latency_histogram()
        # the node's one pub/sub connection has a client of its own (livehub.store.client)
        self.pubsub_redis: Redis | None = pubsub_client(redis) if broker is None else None
        self.broker: Broker = broker or RedisBroker(
            redis, keys, history_size=s.history_size, ttl_s=s.history_ttl_s,
            subscribe_timeout_s=2 * s.redis_socket_timeout_s, pubsub_redis=self.pubsub_redis,
            health_check_s=s.redis_health_check_s, pong_timeout_s=s.redis_socket_timeout_s,
        )  # fmt: skip
        self.hub = Hub(self.stats, join_buffer_max=s.join_buffer_max, fanout_slice=s.fanout_slice,
                       observe_latency=latency.observe)  # fmt: skip
        self.tally = CommerceTally()  # commerce counters, bumped by buying and the sweeper
        self.metrics = Metrics(self.id, self.stats, self.hub, self.heap, latency, commerce=self.tally,
                               worker_dir=s.metrics_dir, flush_interval_s=s.metrics_flush_interval_s)  # fmt: skip
        tally = RedisTally(redis, keys, self.id, s.online_interval_s)
        self.signals = AudienceSignals(settings, festival, self.hub, self.broker, tally)

        # commerce stores: one script batcher for every Lua call of the node
        self.scripts = Scripts(redis, batch=True, connections=s.redis_script_connections)
        self.guides = GuideBoard(redis, keys, self.scripts, festival.commission_rate,
                                 recent_orders=s.guide_recent_orders)  # fmt: skip
        self.pickups = Pickups(redis, keys, self.scripts, misses=s.pickup_misses, miss_window_s=s.pickup_miss_window_s,
                               audit_maxlen=s.store_audit_maxlen)  # fmt: skip
        self.orders = OrderStore(redis, keys, guides=self.guides, scripts=self.scripts, marker_ttl_s=s.sale_retention_s,
                                 pickups=self.pickups)  # fmt: skip
        self.user_orders = UserOrders(redis, keys, self.scripts, max_entries=s.my_orders_max,
                                      grace_ms=s.my_orders_grace_s * 1000,
                                      ttl_ms=(s.sale_retention_s + 86_400) * 1000)  # fmt: skip
        self.store_stock = StoreStock(redis, keys, self.scripts, audit_maxlen=s.store_audit_maxlen)
        self.coupons = CouponStore(redis, keys, self.scripts)
        self.stores = StoreIndex(redis, keys, self.scripts, festival)
        self.sales = SaleStore(redis, keys, self.scripts, stores=self.stores, coupons=self.coupons, orders=self.orders,
                               retention_s=s.sale_retention_s)  # fmt: skip

        # commerce services
        self.quotas = Quotas.from_settings(s)  # limits per identity (rates, connections): web.session, web.edge
        self.admission = Admission(rate=s.admission_rate, burst=s.admission_burst, max_sales=s.admission_max_sales)
        self.registry = SaleRegistry(festival, self.sales)
        self.my_orders = MyOrders(festival, self.user_orders, self.pickups)
        self.buying = Buying(festival, self.registry, self.sales, self.coupons, self.admission, self.broker,
                             self.quotas, tally=self.tally, my_orders=self.my_orders)  # fmt: skip
        self.storefront = Storefront(festival, self.orders, self.pickups, self.store_stock, s.stock_adjust_max)
        self.controls = VenueControls(festival, self.broker, self.registry, self.sales, self.coupons,
                                      max_signal_bytes=s.max_frame_bytes)  # fmt: skip
        self.leaderboard = Leaderboard(festival, self.guides)
        moderation_store = ModerationStore(redis, keys, self.scripts, channel=MODERATION_CHANNEL,
                                           audit_max=s.moderation_audit_max,
                                           max_entries=s.moderation_max_entries)  # fmt: skip
        self.moderation = Moderation(s, festival, self.hub, self.broker, moderation_store)
        self.attribution = Attribution(festival, AttributionStore(redis, keys, self.scripts, s.guide_attribution_ttl_s))
        self.contest = HourlyContest(s, festival, self.guides)
        self.guide_page = GuidePage(s, festival, self.guides, self.sales, self.registry, GuideCustomers(redis, keys))
        self.presale_store = PresaleStore(redis, keys, self.scripts, self.orders, stores=self.stores,
                                          refunds_maxlen=s.presale_refunds_maxlen,
                                          retention_s=s.sale_retention_s)  # fmt: skip
        self.presales = Presales(festival, self.broker, self.hub, self.presale_store, self.buying,
                                 sweep_interval_s=s.sweep_interval_s)  # fmt: skip
        self.shelf = Shelf(festival, self.broker, self.controls, max_items=s.shelf_max_items)
        self.card_sales = CardSales(s, self.registry, self.sales)
        # group buys: refunds through the payment integration point (the demo settles them at once)
        refund_kind = DemoRefunds if s.demo else RefundStream
        self.refunds = refund_kind(redis, keys, self.scripts, marker_ttl_s=s.sale_retention_s)
        self.groups = GroupStore(redis, keys, self.scripts, self.orders, self.refunds, retention_s=s.sale_retention_s)
        self.group_buying = GroupBuying(s, festival, self.broker, self.groups, self.quotas, my_orders=self.user_orders)
        self.my_orders.resolvers[GROUP_BUY] = self.group_buying.my_orders_views  # group buys in "my orders"
        self.jobs = CommerceJobs(s, festival, self.id, self.hub, self.broker, self.registry, self.sales,
                                 self.coupons, self.stores, self.admission, self.leaderboard,
                                 tally=self.tally)  # fmt: skip
        # live numbers (livehub.services.stats): counted from the orders stream, pushed to hosts
        self.stats_store = StatsStore(redis, keys, self.scripts, ttl_s=s.sale_retention_s,
                                      minutes_kept=s.stats_minutes_kept)  # fmt: skip
        self.live_stats = LiveStats(s, festival, self.hub, self.registry, self.sales, self.stats_store,
                                    OrderConsumer(redis, keys, STATS_GROUP, self.id), self.leaderboard)  # fmt: skip

        self.recovery = Recovery(festival, self.broker, self.hub, self.stats, replay_max=s.replay_max,
                                 counter_sources=(self.signals.counters, self.jobs.counters,
                                                  self.presales.counters))  # fmt: skip
        # websocket commands answered by the services (the session handles join, comment, signal ...)
        self.commands: dict[str, CommandHandler] = {"buy": self.buying.ws_buy, "coupon.grab": self.buying.ws_grab}
        self.commands["orders"] = self.my_orders.ws_orders
        self.verifier = TokenVerifier(s)  # bearer tokens of the websocket endpoint and HTTP (livehub.runtime.jwks)
        # festival admin: edits in Redis over the festival file; every holder of the festival swaps together
        self.festival_listeners: list[Callable[[Festival], None]] = []  # holders outside the node (the app's)
        self.admin = FestivalAdmin(s, festival, FestivalEdits(redis, keys, self.scripts, festival.id), self.stores,
                                   self.broker, self.adopt_festival)  # fmt: skip
        self.accepting = False

    # ---- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self.hub.attach(self.broker)
        await self.broker.start(self._deliver, self.hub.positions_lost)
        self.signals.start()
        await self.admin.start()
        await self.moderation.start()
        await self.jobs.start()
        await self.live_stats.start()
        self.contest.start()
        await self.presales.start()
        self.group_buying.start_jobs()
        self.heap.start()
        self.metrics.start()
        self.accepting = True
        log.info("node %s up: festival %s, %d venues", self.id, self.festival.id, len(self.festival.venues))

    async def stop(self) -> None:
        """Stop in order: the background jobs, then the viewers (drained in batches), then the backplane.
        A step that takes over a second is logged with its time (a shutdown that drags says where)."""
        self.accepting = False
        started = time.monotonic()
        await self._step("metrics", self.metrics.stop())
        await self._step("heap", self.heap.stop())
        try:
            for name, part in (("admin", self.admin), ("live stats", self.live_stats), ("jobs", self.jobs),
                               ("contest", self.contest), ("presales", self.presales),
                               ("group buying", self.group_buying)):  # fmt: skip
                await self._step(name, part.stop())
            await self._step("scripts", self.scripts.aclose())
        except Exception:
            log.exception("stopping commerce failed")
        await self._step("drain", self.hub.drain(errors.CLOSE_RESTART, "server restart: reconnect and resume",
                                                 self.settings.shutdown_batch_size,
                                                 self.settings.shutdown_batch_interval_s))  # fmt: skip
        await self._step("signals", self.signals.stop())
        await self._step("hub", self.hub.stop())
        await self._step("moderation", self.moderation.stop())
        await self._step("broker", self.broker.close())
        if self.pubsub_redis is not None:
            await self._step("pub/sub client", self.pubsub_redis.aclose())
        log.info("node %s stopped in %.1f s", self.id, time.monotonic() - started)

    @staticmethod
    async def _step(name: str, work: Awaitable[Any]) -> None:
        began = time.monotonic()
        await work
        took = time.monotonic() - began
        if took > 1.0:
            log.warning("stopping %s took %.1f s", name, took)

    def adopt_festival(self, festival: Festival) -> None:
        """Serve ``festival`` from now on (livehub.services.festival_admin): every holder's reference is
        swapped in this one synchronous step, so no request sees two festivals."""
        for part in self.festival_holders():
            part.festival = festival
        for listener in self.festival_listeners:
            listener(festival)

    def festival_holders(self) -> list[Any]:
        """The node and every part of it (its attributes, and theirs) that holds the festival it serves:
        found, not listed, so that a new service cannot be left serving an old festival."""
        current = self.festival
        holders: dict[int, Any] = {id(self): self}
        todo: list[tuple[Any, int]] = [(self, 0)]
        while todo:
            obj, depth = todo.pop()
            if depth == 2:
                continue
            for value in getattr(obj, "__dict__", {}).values():
                if id(value) in holders or isinstance(value, (str, int, float, bytes, dict, list, tuple, set)):
                    continue
                if getattr(value, "festival", None) is current:
                    holders[id(value)] = value
                todo.append((value, depth + 1))
        return list(holders.values())

    def _deliver(self, channel: str, item: Event | Volatile) -> None:
        if channel == FESTIVAL_CHANNEL:
            self.admin.poked()
        if channel == MODERATION_CHANNEL and isinstance(item, Volatile):
            self.moderation.on_message(item)
            return
        if isinstance(item, Volatile) and not self.signals.filter(channel, item):
            return
        self.hub.deliver(channel, item)

    async def ready(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self.redis.ping(), timeout=1.0))
        except Exception:
            return False

    def new_connection_id(self) -> str:
        return uuid.uuid4().hex[:16]
