"""Commerce's periodic steps over real Redis stores: the stock push (only on change, counters for
snapshots), "sold out" announced once across nodes, stores indexed once per festival, and the
reconciler finding no holds on a quiet festival."""

from __future__ import annotations

from typing import Any

import pytest

from livehub.domain.admission import Admission
from livehub.domain.sale_rules import BuyRequest, Location, SaleSpec
from livehub.services.jobs import CommerceJobs
from livehub.services.leaderboard import Leaderboard
from livehub.services.sale_registry import SaleRegistry
from livehub.services.venue_controls import SaleDraft, VenueControls
from livehub.settings import Settings
from livehub.store.guides import GuideBoard
from tests.services.conftest import Stores


class FakeHub:
    """Viewers on b1 only; records what is pushed."""

    def __init__(self) -> None:
        self.channels: dict[str, object] = {"b1": object()}
        self.pushed: list[tuple[str, str, dict[str, Any]]] = []

    def count(self, channel: str) -> int:
        return 1 if channel in self.channels else 0

    def broadcast_volatile(self, channel: str, key: str, message: dict[str, Any]) -> None:
        self.pushed.append((channel, key, message))


def node(stores: Stores, name: str, redis: Any, keys: Any) -> tuple[CommerceJobs, FakeHub, VenueControls]:
    hub = FakeHub()
    registry = SaleRegistry(stores.festival, stores.sales)
    board = Leaderboard(stores.festival, GuideBoard(redis, keys, stores.scripts, stores.festival.commission_rate))
    jobs = CommerceJobs(Settings(), stores.festival, name, hub, stores.broker, registry, stores.sales,  # type: ignore[arg-type]
                        stores.coupons, stores.stores, Admission(), board)  # fmt: skip
    controls = VenueControls(stores.festival, stores.broker, registry, stores.sales, stores.coupons,
                             max_signal_bytes=1024)  # fmt: skip
    return jobs, hub, controls


@pytest.fixture
def two_nodes(stores: Stores, redis: Any, keys: Any) -> list[tuple[CommerceJobs, FakeHub, VenueControls]]:
    return [node(stores, "n1", redis, keys), node(stores, "n2", redis, keys)]


async def test_stock_is_pushed_when_it_changes_and_snapshots_count_the_last_pushed(
    two_nodes: list[tuple[CommerceJobs, FakeHub, VenueControls]], stores: Stores
) -> None:
    jobs, hub, controls = two_nodes[0]
    await controls.create_sale("b1", SaleDraft(stores.festival.products["b1-sku1"], sale_id="s-stock", stock=3))
    await jobs.push_stock()
    await jobs.push_stock()  # unchanged: nothing new
    assert hub.pushed == [("b1", "stock:s-stock", {"type": "stock", "venue": "b1", "sale": "s-stock", "stock": 3,
                                                   "sold_out": False})]  # fmt: skip
    await stores.sales.buy("s-stock", "u1", BuyRequest(request_id="q1", qty=1))
    await jobs.push_stock()
    assert [m["stock"] for _, _, m in hub.pushed] == [3, 2]
    assert jobs.counters("b1") == {"stock": {"s-stock": 2}} and jobs.counters("b2") == {}


async def test_a_sell_out_is_announced_once_however_many_nodes_see_it(
    two_nodes: list[tuple[CommerceJobs, FakeHub, VenueControls]], stores: Stores
) -> None:
    await two_nodes[0][2].create_sale("b1", SaleDraft(stores.festival.products["b1-sku1"], sale_id="s-out", stock=1))
    await stores.sales.buy("s-out", "u1", BuyRequest(request_id="q1", qty=1))
    for jobs, _hub, _controls in two_nodes:
        await jobs.registry.refresh()
        await jobs.push_stock()
    for _jobs, hub, _controls in two_nodes:
        assert hub.pushed[-1][2]["sold_out"] is True
    snapshot = await stores.broker.snapshot("b1")
    history = await stores.broker.history("b1", snapshot.epoch, 0, 100)
    assert history is not None
    kinds = [e.as_dict()["kind"] for e in history]
    assert kinds.count("sale.sold_out") == 1 and snapshot.state["sale:s-out"]["sold_out"] is True


async def test_the_festivals_stores_are_indexed_once_not_once_per_node(stores: Stores) -> None:
    assert await stores.stores.load_once("n1") == len(stores.festival.stores)
    assert await stores.stores.load_once("n2") is None
    assert await stores.stores.stock_of("b1-s1", "b1-sku1") == stores.festival.stores["b1-s1"].stock.get("b1-sku1", 0)


async def test_only_stores_holding_units_for_unpaid_pickups_are_reconciled(
    two_nodes: list[tuple[CommerceJobs, FakeHub, VenueControls]], stores: Stores
) -> None:
    await stores.stores.load_once("n1")
    assert await stores.stores.stores_with_holds() == []
    await two_nodes[0][2].create_sale("b1", SaleDraft(stores.festival.products["b1-sku1"], sale_id="s-pick", stock=5))
    near_s1 = Location(31.2317, 121.4726)
    result = await stores.sales.buy("s-pick", "u1", BuyRequest(request_id="q1", qty=1, location=near_s1))
    assert result.fulfilment is not None and result.fulfilment.store_id == "b1-s1"
    assert await stores.stores.stores_with_holds() == ["b1-s1"]
    await two_nodes[0][0].reconcile()  # a fresh hold of a live reservation is left alone
    assert await stores.stores.stores_with_holds() == ["b1-s1"]


async def test_the_sweeper_settles_a_long_over_sale_then_gives_its_keys_their_retention(
    two_nodes: list[tuple[CommerceJobs, FakeHub, VenueControls]], stores: Stores, redis: Any, keys: Any
) -> None:
    jobs = two_nodes[0][0]
    now = await stores.sales.server_time_ms()
    hour, day = 3_600_000, 86_400_000
    ended = SaleSpec("s-over", "b1", "b1", "b1-sku1", 2, 1_000, 1, now - 2 * hour, now - hour, 60)
    forgotten = SaleSpec("s-gone", "b1", "b1", "b1-sku1", 2, 1_000, 1, now - 30 * day, now - 29 * day, 60)
    for spec in (ended, forgotten):
        await stores.sales.create(spec)
    unpaid = (await stores.sales.buy("s-over", "u1", BuyRequest("q1"), now_ms=ended.starts_at_ms)).reservation
    assert unpaid is not None

    await jobs.sweep()  # s-over is long over but holds a reservation nobody expired: swept, not retired
    assert (await stores.sales.get_state("s-over")).available == 2  # type: ignore[union-attr]
    assert await redis.pttl(keys.sale_spec("s-over")) == -1
    await jobs.sweep()  # now settled: retired, its keys expire a retention after the last possible payment
    keep_until = ended.ends_at_ms + 60_000 + stores.sales.retention_s * 1000
    assert keep_until - now - 60_000 < await redis.pttl(keys.sale_spec("s-over")) <= keep_until - now
    assert 0 < await redis.pttl(keys.reservation("s-over", unpaid.reservation_id))
    # s-gone's retention had passed: its keys went at once, and it leaves its venue's sales
    assert await stores.sales.sale_ids_of_venue("b1") == ["s-over"]
    assert "s-gone" not in jobs.registry.specs and "s-over" in jobs.registry.specs
