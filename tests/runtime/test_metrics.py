"""livehub.runtime.metrics reads plain views of the stats, hub and GC policy at scrape time: no node needed."""

from __future__ import annotations

from dataclasses import dataclass, field

from livehub.hub.stats import Stats
from livehub.runtime.metrics import Metrics, event_latency_histogram


@dataclass
class Conn:
    venue: str | None


@dataclass
class HubView:
    connections: dict[str, Conn] = field(default_factory=dict)
    channels: dict[str, object] = field(default_factory=dict)


@dataclass
class Heap:
    full_collections: int = 0
    full_seconds_total: float = 0.0


def scrape(metrics: Metrics) -> str:
    return metrics.render().decode()


def test_a_scrape_reports_counters_connections_per_venue_channels_and_full_collections() -> None:
    stats = Stats()
    stats.frames_sent, stats.recovery_replayed, stats.recovery_fresh = 12, 2, 1
    hub = HubView({"a": Conn("b1"), "b": Conn("b1"), "c": Conn(None)}, {"main": object(), "b1": object()})
    metrics = Metrics("n1", stats, hub, Heap(3, 0.5), event_latency_histogram())
    text = scrape(metrics)
    assert 'livehub_frames_sent_total{node="n1"} 12.0' in text
    assert 'livehub_recovery_total{node="n1",outcome="replayed"} 2.0' in text
    assert 'livehub_recovery_total{node="n1",outcome="fresh_snapshot"} 1.0' in text
    assert 'livehub_connections{node="n1",venue="b1"} 2.0' in text
    assert 'livehub_connections{node="n1",venue=""} 1.0' in text  # connected, not joined yet
    assert 'livehub_channels{node="n1"} 2.0' in text
    assert 'livehub_gc_full_collections_total{node="n1"} 3.0' in text
    assert 'livehub_gc_full_seconds_total{node="n1"} 0.5' in text


def test_values_are_read_at_scrape_time_and_the_latency_histogram_is_in_the_registry() -> None:
    stats, hub = Stats(), HubView()
    latency = event_latency_histogram()
    metrics = Metrics("n1", stats, hub, Heap(), latency)
    assert 'livehub_connections_total{node="n1"} 0.0' in scrape(metrics)
    stats.connections_total = 5
    hub.connections["x"] = Conn("main")
    latency.observe(0.003)
    text = scrape(metrics)
    assert 'livehub_connections_total{node="n1"} 5.0' in text
    assert 'livehub_connections{node="n1",venue="main"} 1.0' in text
    assert 'livehub_event_latency_seconds_bucket{le="0.005"} 1.0' in text
    assert "livehub_event_latency_seconds_count 1.0" in text
