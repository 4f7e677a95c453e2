"""Prometheus metrics of one node, served at ``GET /metrics``.

The hot path bumps plain integers (livehub.hub.stats.Stats); a custom collector
turns them into Prometheus families only when scraped, so a broadcast to
5,000 viewers costs no metric calls per delivery.  The event latency
histogram is observed once per event per node (publish -> fan-out), never
per viewer.  Each worker process is its own node with its own registry; with
``--workers N`` every scrape carries every worker's series (livehub.runtime.worker_metrics).
The commerce counters (livehub.services.tally) are read the same way; the live stock
gauge is read from Redis by the node that answers the scrape.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from livehub.runtime.periodic import Periodic
from livehub.runtime.worker_metrics import WorkerFiles, merge

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_COUNTERS = {
    "frames_sent": "Frames delivered to websocket connections (a batch of k frames counts k)",
    "bytes_sent": "Bytes written to websocket connections by broadcasts",
    "writes": "Transport writes made by broadcasts",
    "batched_writes": "Broadcast writes that carried more than one frame",
    "coalesced": "Latest-value updates replaced by a newer value before being sent",
    "dropped": "Volatile updates dropped (comment sampling, slow readers)",
    "slow_closes": "Connections closed with 4008 for falling too far behind",
    "events_in": "Channel events received from the backplane",
    "gaps_filled": "Backplane gaps filled from channel history",
    "resyncs": "Channels resynchronised after their history changed",
    "inbound_errors": "Error frames sent for bad client frames",
    "connections_total": "Websocket connections accepted",
    "join_failures": "Joins that failed on Redis (answered unavailable; the connection is in no venue)",
    "position_checks": "Channel positions compared with Redis by the periodic position check",
}


class StatsView(Protocol):
    """The hot-path counters (livehub.hub.stats.Stats): every name of ``_COUNTERS`` and these."""

    recovery_replayed: int
    recovery_fresh: int


class ConnectionView(Protocol):
    @property
    def venue(self) -> str | None: ...


class HubView(Protocol):
    """What the collector reads of the hub (livehub.hub.fanout.Hub) at scrape time."""

    @property
    def connections(self) -> Mapping[str, ConnectionView]: ...

    @property
    def channels(self) -> Mapping[str, object]: ...


class HeapView(Protocol):
    """What the collector reads of the GC policy (livehub.runtime.heap.HeapPolicy)."""

    @property
    def full_collections(self) -> int: ...

    @property
    def full_seconds_total(self) -> float: ...


class CommerceView(Protocol):
    """The commerce counters (livehub.services.tally.CommerceTally), read at scrape time."""

    @property
    def buys(self) -> Mapping[str, int]: ...
    @property
    def coupon_grabs(self) -> Mapping[str, int]: ...
    @property
    def admission_shed(self) -> Mapping[str, int]: ...
    @property
    def orders(self) -> int: ...
    @property
    def gmv_cents(self) -> int: ...
    @property
    def reservations_expired(self) -> int: ...


def event_latency_histogram() -> Histogram:
    """The publish -> fan-out latency histogram, observed once per event per node (by the hub);
    :class:`Metrics` registers it.  Built first, because the hub is built with its ``observe``."""
    return Histogram(
        "livehub_event_latency_seconds",
        "Time from publish to fan-out on this node, per event",
        buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        registry=None,
    )


class _StatsCollector(Collector):
    def __init__(self, node_id: str, stats: StatsView, hub: HubView, heap: HeapView) -> None:
        self.node_id = node_id
        self.stats = stats
        self.hub = hub
        self.heap = heap

    def collect(self) -> Iterator[Metric]:
        node_id, stats, hub = self.node_id, self.stats, self.hub
        for name, doc in _COUNTERS.items():
            family = CounterMetricFamily(f"livehub_{name}", doc, labels=["node"])
            family.add_metric([node_id], getattr(stats, name))
            yield family
        recovery = CounterMetricFamily("livehub_recovery", "Resume attempts by outcome", labels=["node", "outcome"])
        recovery.add_metric([node_id, "replayed"], stats.recovery_replayed)
        recovery.add_metric([node_id, "fresh_snapshot"], stats.recovery_fresh)
        yield recovery
        per_venue: Counter[str] = Counter(c.venue for c in hub.connections.values() if c.venue is not None)
        gauge = GaugeMetricFamily(
            "livehub_connections", "Open websocket connections per venue", labels=["node", "venue"]
        )
        for venue, count in sorted(per_venue.items()):
            gauge.add_metric([node_id, venue], count)
        gauge.add_metric([node_id, ""], len(hub.connections) - sum(per_venue.values()))
        yield gauge
        heap = self.heap
        full = CounterMetricFamily("livehub_gc_full_collections", "Full garbage collections (livehub.runtime.heap)",
                                   labels=["node"])  # fmt: skip
        full.add_metric([node_id], heap.full_collections)
        yield full
        full_s = CounterMetricFamily("livehub_gc_full_seconds", "Time the event loop stood still in full garbage "
                                     "collections", labels=["node"])  # fmt: skip
        full_s.add_metric([node_id], heap.full_seconds_total)
        yield full_s
        channels = GaugeMetricFamily("livehub_channels", "Channels this node is subscribed to", labels=["node"])
        channels.add_metric([node_id], len(hub.channels))
        yield channels


class _CommerceCollector(Collector):
    def __init__(self, node_id: str, tally: CommerceView) -> None:
        self.node_id = node_id
        self.tally = tally

    def collect(self) -> Iterator[Metric]:
        node_id, tally = self.node_id, self.tally
        for name, doc, label, counts in (
            ("buys", "Buy attempts by answer (websocket and HTTP)", "answer", tally.buys),
            ("coupon_grabs", "Coupon grab attempts by answer", "answer", tally.coupon_grabs),
            ("admission_shed", "Buys answered by the node's admission gate without asking Redis", "reason",
             tally.admission_shed),
        ):  # fmt: skip
            family = CounterMetricFamily(f"livehub_{name}", doc, labels=["node", label])
            for value, count in counts.items():
                family.add_metric([node_id, value], count)
            yield family
        for name, doc, count in (
            ("orders", "Orders confirmed by a payment answered on this node", tally.orders),
            ("gmv_cents", "Amount paid for the orders confirmed on this node (cents, after coupons)", tally.gmv_cents),
            ("reservations_expired", "Unpaid reservations expired by this node's sweeper", tally.reservations_expired),
        ):
            family = CounterMetricFamily(f"livehub_{name}", doc, labels=["node"])
            family.add_metric([node_id], count)
            yield family


def stock_family(stock: Iterable[tuple[str, str, int]]) -> GaugeMetricFamily:
    """``livehub_sale_stock``: units left per live sale, read from Redis by the answering node
    (livehub.services.jobs.CommerceJobs.live_stock), so it is the same whichever node answers."""
    family = GaugeMetricFamily("livehub_sale_stock", "Units available now per open flash sale",
                               labels=["sale", "venue"])  # fmt: skip
    for sale, venue, units in stock:
        family.add_metric([sale, venue], units)
    return family


class _Families(Collector):
    def __init__(self, families: Sequence[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


class Metrics:
    """One node's registry: the scrape-time collectors and the event latency histogram.

    With ``worker_dir`` (``livehub serve --workers N``) a scrape also carries the sibling
    workers' series (livehub.runtime.worker_metrics); :meth:`start` writes this worker's file
    every ``flush_interval_s``."""

    def __init__(self, node_id: str, stats: StatsView, hub: HubView, heap: HeapView, event_latency: Histogram,
                 commerce: CommerceView | None = None, worker_dir: str = "",
                 flush_interval_s: float = 1.0) -> None:  # fmt: skip
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_StatsCollector(node_id, stats, hub, heap))
        if commerce is not None:
            self.registry.register(_CommerceCollector(node_id, commerce))
        self.event_latency = event_latency
        self.registry.register(event_latency)
        self.workers = WorkerFiles(worker_dir) if worker_dir else None
        self.flush_interval_s = flush_interval_s
        self._jobs = Periodic()

    def render(self, stock: Iterable[tuple[str, str, int]] | None = None) -> bytes:
        """The scrape: this node's families (and its sibling workers'), and the live stock when given."""
        if self.workers is None and stock is None:
            return generate_latest(self.registry)
        families: list[Metric] = list(self.registry.collect())
        if self.workers is not None:
            self.workers.write(families)  # before answering: a later scrape of a sibling reads at least this
            families = merge([families, *self.workers.siblings()])
        if stock is not None:
            families.append(stock_family(stock))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(families))
        return generate_latest(registry)

    def flush(self) -> None:
        """Write this worker's file (nothing without a worker directory)."""
        if self.workers is not None:
            self.workers.write(self.registry.collect())

    async def _flush(self) -> None:
        self.flush()

    def start(self) -> None:
        if self.workers is not None:
            self.flush()
            self._jobs.start(self.flush_interval_s, self._flush, "metrics-flush")

    async def stop(self) -> None:
        await self._jobs.stop()
        if self.workers is not None:
            self.workers.remove()
