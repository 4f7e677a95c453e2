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
from livehub.services.buying import Buying
from livehub.services.jobs import CommerceJobs
from livehub.services.leaderboard import Leaderboard
from livehub.services.presales import Presales
from livehub.services.sale_registry import SaleRegistry
from livehub.services.shelf import CardSales, Shelf
from livehub.services.venue_controls import VenueControls
from livehub.settings import Settings
from livehub.store.client import pubsub_client
from livehub.store.coupons import CouponStore
from livehub.store.guides import GuideBoard
from livehub.store.keys import Keys
from livehub.store.orders import OrderStore
from livehub.store.presales import PresaleStore
from livehub.store.sales import SaleStore
from livehub.store.scripts import Scripts
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
        self.metrics = Metrics(self.id, self.stats, self.hub, self.heap, latency)
        tally = RedisTally(redis, keys, self.id, s.online_interval_s)
        self.signals = AudienceSignals(settings, festival, self.hub, self.broker, tally)

        # commerce stores: one script batcher for every Lua call of the node
        self.scripts = Scripts(redis, batch=True, connections=s.redis_script_connections)
        self.guides = GuideBoard(redis, keys, self.scripts, festival.commission_rate)
        self.orders = OrderStore(redis, keys, guides=self.guides, scripts=self.scripts, marker_ttl_s=s.sale_retention_s)
        self.coupons = CouponStore(redis, keys, self.scripts)
        self.stores = StoreIndex(redis, keys, self.scripts, festival)
        self.sales = SaleStore(redis, keys, self.scripts, stores=self.stores, coupons=self.coupons, orders=self.orders,
                               retention_s=s.sale_retention_s)  # fmt: skip

        # commerce services
        self.quotas = Quotas.from_settings(s)  # limits per identity (rates, connections): web.session, web.edge
        self.admission = Admission(rate=s.admission_rate, burst=s.admission_burst, max_sales=s.admission_max_sales)
        self.registry = SaleRegistry(festival, self.sales)
        self.buying = Buying(festival, self.registry, self.sales, self.coupons, self.admission, self.broker,
                             self.quotas)  # fmt: skip
        self.controls = VenueControls(festival, self.broker, self.registry, self.sales, self.coupons,
                                      max_signal_bytes=s.max_frame_bytes)  # fmt: skip
        self.leaderboard = Leaderboard(festival, self.guides)
        self.presale_store = PresaleStore(redis, keys, self.scripts, self.orders, stores=self.stores,
                                          refunds_maxlen=s.presale_refunds_maxlen,
                                          retention_s=s.sale_retention_s)  # fmt: skip
        self.presales = Presales(festival, self.broker, self.hub, self.presale_store, self.buying,
                                 sweep_interval_s=s.sweep_interval_s)  # fmt: skip
        self.shelf = Shelf(festival, self.broker, self.controls, max_items=s.shelf_max_items)
        self.card_sales = CardSales(s, self.registry, self.sales)
        self.jobs = CommerceJobs(s, festival, self.id, self.hub, self.broker, self.registry, self.sales,
                                 self.coupons, self.stores, self.admission, self.leaderboard)  # fmt: skip

        self.recovery = Recovery(festival, self.broker, self.hub, self.stats, replay_max=s.replay_max,
                                 counter_sources=(self.signals.counters, self.jobs.counters,
                                                  self.presales.counters))  # fmt: skip
        # websocket commands answered by the services (the session handles join, comment, signal ...)
        self.commands: dict[str, CommandHandler] = {"buy": self.buying.ws_buy, "coupon.grab": self.buying.ws_grab}
        self.verifier = TokenVerifier(s)  # bearer tokens of the websocket endpoint and HTTP (livehub.runtime.jwks)
        self.accepting = False

    # ---- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self.hub.attach(self.broker)
        await self.broker.start(self._deliver, self.hub.positions_lost)
        self.signals.start()
        await self.jobs.start()
        await self.presales.start()
        self.heap.start()
        self.accepting = True
        log.info("node %s up: festival %s, %d venues", self.id, self.festival.id, len(self.festival.venues))

    async def stop(self) -> None:
        self.accepting = False
        await self.heap.stop()
        try:
            await self.jobs.stop()
            await self.presales.stop()
            await self.scripts.aclose()
        except Exception:
            log.exception("stopping commerce failed")
        await self.hub.drain(errors.CLOSE_RESTART, "server restart: reconnect and resume",
                             self.settings.shutdown_batch_size, self.settings.shutdown_batch_interval_s)  # fmt: skip
        await self.signals.stop()
        await self.broker.close()
        if self.pubsub_redis is not None:
            await self.pubsub_redis.aclose()

    def _deliver(self, channel: str, item: Event | Volatile) -> None:
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
