"""livehub.runtime.metrics reads plain views of the stats, hub, GC policy and commerce tally at scrape time: no
node needed; and a real ``livehub serve --workers 2`` whose every scrape counts what both workers did."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from livehub.hub.stats import Stats
from livehub.runtime.metrics import Metrics, event_latency_histogram
from livehub.runtime.worker_metrics import WorkerFiles
from livehub.services.tally import CommerceTally
from tests.conftest import HUB_ENV, LivehubProcess, api, host_token, new_sale, viewer_token


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


# ---- commerce series, and every worker's series in every worker's scrape ------------------------------------


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}  # fmt: skip


def total(text: str, name: str, **labels: str) -> float:
    """The sum of ``name`` over every node (the other labels as given)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples(text).items() if n == name and wanted <= ls)


def test_a_scrape_reports_the_commerce_counters_and_the_live_stock() -> None:
    tally = CommerceTally()
    tally.buys["ok"], tally.buys["sold_out"], tally.admission_shed["busy"] = 3, 2, 4
    tally.coupon_grabs["limit_reached"], tally.orders, tally.gmv_cents, tally.reservations_expired = 1, 2, 19800, 5
    metrics = Metrics("n1", Stats(), HubView(), Heap(), event_latency_histogram(), commerce=tally)
    text = metrics.render(stock=[("s-1", "b1", 7)]).decode()
    assert 'livehub_buys_total{answer="ok",node="n1"} 3.0' in text
    assert 'livehub_buys_total{answer="busy",node="n1"} 0.0' in text  # every answer, zeros included
    assert 'livehub_admission_shed_total{node="n1",reason="busy"} 4.0' in text
    assert 'livehub_coupon_grabs_total{answer="limit_reached",node="n1"} 1.0' in text
    assert 'livehub_orders_total{node="n1"} 2.0' in text
    assert 'livehub_gmv_cents_total{node="n1"} 19800.0' in text
    assert 'livehub_reservations_expired_total{node="n1"} 5.0' in text
    assert 'livehub_sale_stock{sale="s-1",venue="b1"} 7.0' in text


def test_a_workers_scrape_carries_its_siblings_series_and_sums_the_latency_histogram(tmp_path: Path) -> None:
    stats_a, stats_b, tally_a, tally_b = Stats(), Stats(), CommerceTally(), CommerceTally()
    latency_a, latency_b = event_latency_histogram(), event_latency_histogram()
    a = Metrics("na", stats_a, HubView(), Heap(), latency_a, commerce=tally_a, worker_dir=str(tmp_path))
    b = Metrics("nb", stats_b, HubView(), Heap(), latency_b, commerce=tally_b, worker_dir=str(tmp_path))
    b.workers = WorkerFiles(str(tmp_path), pid=os.getppid())  # a live process that is not this one
    stats_a.frames_sent, stats_b.frames_sent, tally_a.orders, tally_b.orders = 5, 7, 1, 2
    latency_a.observe(0.003)
    latency_b.observe(0.003)
    b.flush()

    text = a.render().decode()
    assert 'livehub_frames_sent_total{node="na"} 5.0' in text and 'livehub_frames_sent_total{node="nb"} 7.0' in text
    assert total(text, "livehub_orders_total") == 3
    assert "livehub_event_latency_seconds_count 2.0" in text
    tally_b.orders = 4  # not flushed yet: a's scrape still shows what b last wrote
    assert total(a.render().decode(), "livehub_orders_total") == 3
    b.render()  # b answers a scrape: it writes first, so a sees at least what b answered
    assert total(a.render().decode(), "livehub_orders_total") == 5


def test_a_workers_own_file_and_the_files_of_workers_that_are_gone_are_not_siblings(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    WorkerFiles(str(tmp_path), pid=int(gone.stdout)).write([])
    mine = WorkerFiles(str(tmp_path))
    mine.write([])
    assert mine.siblings() == []
    mine.remove()
    assert not mine.path.exists()


# A real ``livehub serve --workers 2``: what was done equals the scrape's totals, whichever worker answers.
@pytest.fixture(scope="module")
def two_workers(redis_url: str) -> Iterator[LivehubProcess]:
    env = {**HUB_ENV, "LIVEHUB_METRICS_FLUSH_INTERVAL_S": "0.2"}
    server = LivehubProcess(redis_url, "mw" + uuid.uuid4().hex[:8], env=env, workers=2).start()
    try:
        yield server
    finally:
        server.stop()


def nodes_in(text: str) -> set[str]:
    return {dict(labels)["node"] for name, labels in samples(text) if name == "livehub_connections_total"}


def scrape_http(server: LivehubProcess) -> tuple[str, str]:
    """One scrape on a fresh connection: (the node that answered, the text)."""
    with urllib.request.urlopen(server.http + "/metrics", timeout=10) as response:
        return response.headers["X-Livehub-Node"], response.read().decode()


async def test_two_workers_scrapes_count_every_buy_order_grab_and_expiry_whichever_worker_answers(
    two_workers: LivehubProcess,
) -> None:
    server = two_workers
    sale = await new_sale(server, stock=3, price_cents=2500, reservation_ttl_s=1)
    buyers = [f"mw-{uuid.uuid4().hex[:6]}-{i}" for i in range(5)]
    answers = [await api("POST", f"{server.http}/api/sales/{sale['sale_id']}/buy", {"id": "r1", "qty": 1},
                         viewer_token(user)) for user in buyers]  # fmt: skip
    assert [status for status, _ in answers] == [200] * 5
    assert [out["status"] for _, out in answers] == ["ok"] * 3 + ["sold_out"] * 2
    for user, (_, out) in zip(buyers[:2], answers, strict=False):  # two paid, the third lapses
        status, paid = await api("POST", f"{server.http}/api/reservations/{out['reservation']}/pay", {},
                                 viewer_token(user))  # fmt: skip
        assert (status, paid["status"]) == (200, "paid")
    status, drop = await api("POST", f"{server.http}/api/venues/b1/coupons", {"value_cents": 100, "total": 1},
                             host_token("host-b1", "b1"))  # fmt: skip
    assert status == 201, drop
    grabs = [await api("POST", f"{server.http}/api/coupons/{drop['coupon']['coupon_id']}/grab", None,
                       viewer_token(user)) for user in buyers[:2]]  # fmt: skip
    assert [out["status"] for _, out in grabs] == ["ok", "sold_out"]

    def done(text: str) -> bool:
        return (total(text, "livehub_buys_total", answer="ok") == 3 and total(text, "livehub_orders_total") == 2
                and total(text, "livehub_reservations_expired_total") == 1)  # fmt: skip

    deadline, text = time.monotonic() + 30, ""
    while time.monotonic() < deadline and not done(text):  # the lapsed reservation expires; siblings flush
        await asyncio.sleep(0.2)
        _, text = await asyncio.to_thread(scrape_http, server)
    assert done(text), text
    answered_by: set[str] = set()
    for _ in range(500):  # until both workers have answered (the kernel picks one per connection)
        node, text = await asyncio.to_thread(scrape_http, server)
        answered_by.add(node)
        assert total(text, "livehub_buys_total", answer="ok") == 3
        assert total(text, "livehub_buys_total", answer="sold_out") == 2
        assert total(text, "livehub_orders_total") == 2
        assert total(text, "livehub_gmv_cents_total") == 2 * 2500
        assert total(text, "livehub_reservations_expired_total") == 1
        assert total(text, "livehub_coupon_grabs_total", answer="ok") == 1
        assert total(text, "livehub_coupon_grabs_total", answer="sold_out") == 1
        assert len(nodes_in(text)) == 2  # both workers' transport series, whoever answers
        if len(answered_by) == 2:
            break
    assert len(answered_by) == 2
    assert nodes_in(text) == answered_by


# ---- the Grafana dashboard (docs/grafana-livehub.json) is built on series /metrics really exports ----------


DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-livehub.json"


def dashboard_expressions() -> list[str]:
    import orjson

    panels = orjson.loads(DASHBOARD.read_bytes())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", ())]


async def test_every_dashboard_expression_names_series_and_labels_a_real_scrape_exports(
    livehub_server: LivehubProcess,
) -> None:
    import re

    await new_sale(livehub_server, venue="b2")  # a live sale: its stock gauge is in the scrape
    _, text = await asyncio.to_thread(scrape_http, livehub_server)
    exported: dict[str, set[str]] = {}
    for name, labels in samples(text):
        exported.setdefault(name, set()).update(label for label, _ in labels)
    expressions = dashboard_expressions()

    assert len(expressions) >= 15
    for expr in expressions:
        names = re.findall(r"\blivehub_[a-z_]+", expr)
        assert names, expr
        for name in names:
            assert name in exported, (name, expr)
        for group in re.findall(r"\bby \(([^)]*)\)", expr):
            for label in (part.strip() for part in group.split(",")):
                assert any(label in exported[name] for name in names), (label, expr)
