"""livehub.presence.signals.AudienceSignals on a node built from a Hub, a MemoryBroker and a MemoryTally (no Redis):
online counts per venue (the main venue counts every viewer), likes summed on the node and added once per tick,
latest-value pushes only on change, withdrawal on stop."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from livehub.backplane.memory import MemoryBroker
from livehub.domain.topology import BRAND, MAIN, Festival, Venue
from livehub.hub.fanout import Hub
from livehub.hub.stats import Stats
from livehub.presence.memory import MemoryBoard, MemoryTally
from livehub.presence.signals import AudienceSignals
from livehub.settings import Settings
from tests.hub.support import FakeRaw, connect, messages, settle

VENUES = {"main": Venue("main", MAIN, "Main", None), "b1": Venue("b1", BRAND, "B1", "b1"),
          "b2": Venue("b2", BRAND, "B2", "b2")}  # fmt: skip
FESTIVAL = Festival("f", "f", "main", VENUES, {}, {}, {}, {}, {})


class RecordingTally(MemoryTally):
    def __init__(self, node_id: str, board: MemoryBoard | None = None) -> None:
        super().__init__(node_id, 1.0, board)
        self.reports: list[tuple[dict[str, int], dict[str, int]]] = []
        self.withdrawn: list[str] = []

    async def report(
        self, counts: Mapping[str, int], likes: Mapping[str, int], now_ms: int
    ) -> dict[str, tuple[int, int]]:
        self.reports.append((dict(counts), dict(likes)))
        return await super().report(counts, likes, now_ms)

    async def withdraw(self, venues: Iterable[str]) -> None:
        self.withdrawn.extend(venues)
        await super().withdraw(venues)


class TestNode:
    """The parts of a node the signals use, wired as livehub.node does, without Redis."""

    __test__ = False

    def __init__(self, node_id: str = "n1", board: MemoryBoard | None = None) -> None:
        self.stats = Stats()
        self.hub = Hub(self.stats, release_delay_s=0.01)
        self.broker = MemoryBroker()
        self.tally = RecordingTally(node_id, board)
        self.signals = AudienceSignals(Settings(), FESTIVAL, self.hub, self.broker, self.tally)

    async def start(self) -> TestNode:
        await self.broker.start(self.hub.deliver)
        self.hub.attach(self.broker)
        return self

    async def viewer(self, name: str, venue: str) -> FakeRaw:
        conn, raw = connect(self.hub, self.stats, name)
        conn.venue = venue
        channels = FESTIVAL.channels_for(venue)
        await self.hub.begin_join(conn, channels)
        for channel in channels:
            snap = await self.broker.snapshot(channel)
            self.hub.finish_join(conn, channel, (snap.epoch, snap.offset))
        return raw


def pushed(raw: FakeRaw) -> list[dict[str, Any]]:
    return [m for m in messages(b"".join(raw.writes)) if m.get("type") in ("online", "likes")]


async def test_the_main_venue_counts_every_viewer_and_a_brand_venue_the_viewers_of_its_room() -> None:
    node = await TestNode().start()
    for i in range(2):
        await node.viewer(f"m{i}", "main")
    for i in range(3):
        await node.viewer(f"b{i}", "b1")

    await node.signals.tick()

    assert node.signals.online == {"main": 5, "b1": 3}
    assert node.signals.counters("b1") == {"online": 3, "likes": 0}
    assert node.signals.counters("b2") == {"online": 0, "likes": 0}


async def test_online_counts_of_nodes_sharing_a_tally_are_summed() -> None:
    board = MemoryBoard()
    a, b = await TestNode("a", board).start(), await TestNode("b", board).start()
    await a.viewer("x", "b1")
    await b.viewer("y", "b1")
    await b.viewer("z", "main")

    await a.signals.tick()
    await b.signals.tick()
    await a.signals.tick()

    assert a.signals.online == {"main": 3, "b1": 2}
    assert b.signals.online == {"main": 3, "b1": 2}


async def test_likes_are_summed_on_the_node_and_added_once_per_tick() -> None:
    node = await TestNode().start()
    await node.viewer("v", "main")
    node.signals.like("main", 2)
    node.signals.like("main", 3)
    node.signals.like("b2", 1)  # nobody of this node watches b2: added, not read back

    await node.signals.tick()
    await node.signals.tick()

    assert node.tally.reports == [({"main": 1}, {"main": 5, "b2": 1}), ({"main": 1}, {})]
    assert node.signals.likes == {"main": 5}
    assert node.tally.board.likes == {"main": 5, "b2": 1}


async def test_online_and_likes_are_pushed_to_the_venues_audience_only_when_they_change() -> None:
    node = await TestNode().start()
    main_raw = await node.viewer("m", "main")
    brand_raw = await node.viewer("b", "b1")

    await node.signals.tick()
    await settle()
    first_main, first_brand = pushed(main_raw), pushed(brand_raw)
    await node.signals.tick()
    await settle()
    unchanged = pushed(main_raw)
    node.signals.like("b1", 4)
    await node.signals.tick()
    await settle()

    assert first_main == [
        {"type": "online", "venue": "main", "count": 2}, {"type": "likes", "venue": "main", "count": 0}]  # fmt: skip
    assert first_brand == [  # a brand viewer is on the main venue's channel too
        {"type": "online", "venue": "main", "count": 2}, {"type": "likes", "venue": "main", "count": 0},
        {"type": "online", "venue": "b1", "count": 1}, {"type": "likes", "venue": "b1", "count": 0},
    ]  # fmt: skip
    assert unchanged == first_main
    assert pushed(brand_raw)[len(first_brand):] == [{"type": "likes", "venue": "b1", "count": 4}]
    assert pushed(main_raw) == first_main


async def test_a_tick_with_no_viewers_and_no_likes_reports_nothing() -> None:
    node = await TestNode().start()
    await node.signals.tick()
    assert node.tally.reports == []


async def test_stop_withdraws_the_nodes_counts_of_every_venue() -> None:
    board = MemoryBoard()
    node, other = await TestNode("n1", board).start(), await TestNode("n2", board).start()
    await node.viewer("v", "b1")
    await node.signals.tick()

    node.signals.start()
    await node.signals.stop()

    assert sorted(node.tally.withdrawn) == sorted(FESTIVAL.venues)
    assert await other.tally.report({"b1": 0}, {}, 0) == {"b1": (0, 0)}


async def test_a_node_whose_viewers_of_a_venue_left_keeps_its_online_sum_fresh() -> None:
    board = MemoryBoard()
    a, b = await TestNode("a", board).start(), await TestNode("b", board).start()
    await a.viewer("x", "b1")
    await b.viewer("y", "b1")
    await b.viewer("z", "b1")
    await a.signals.tick()
    await b.signals.tick()
    await a.signals.tick()
    assert a.signals.online["b1"] == b.signals.online["b1"] == 3

    a.hub.remove(a.hub.connections["x"])  # a has no viewer of b1 (nor of main) any more
    b.hub.remove(b.hub.connections["z"])
    await a.signals.tick()  # a reports its 0 and reads the sum back
    await b.signals.tick()

    assert b.signals.online["b1"] == 1  # a's own report no longer counts its departed viewer
    await a.signals.tick()  # a, with no viewer, still re-sums what the other nodes report
    assert a.signals.counters("b1")["online"] == 1  # what a later joiner on a is shown
    assert a.signals.counters("main")["online"] == 1
