"""Prometheus metrics of one node, served at ``GET /metrics``.

The hot path bumps plain integers (livehub.hub.stats.Stats); a custom collector
turns them into Prometheus families only when scraped, so a broadcast to
5,000 viewers costs no metric calls per delivery.  The event latency
histogram is observed once per event per node (publish -> fan-out), never
per viewer.  Each worker process is its own node with its own registry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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


class Metrics:
    """One node's registry: the scrape-time collector and the event latency histogram."""

    def __init__(self, node_id: str, stats: StatsView, hub: HubView, heap: HeapView, event_latency: Histogram) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_StatsCollector(node_id, stats, hub, heap))
        self.event_latency = event_latency
        self.registry.register(event_latency)

    def render(self) -> bytes:
        return generate_latest(self.registry)
