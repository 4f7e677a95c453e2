"""livehub.hub.recovery over a MemoryBroker and fake sockets: a fresh join's snapshot (presented
state, counters of every source), an exact resume, the fresh snapshot when history cannot
serve, and the HTTP venue snapshot."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from livehub import errors
from livehub.backplane.broker import Snapshot, StateOp
from livehub.backplane.memory import MemoryBroker
from livehub.config import load_festival
from livehub.domain.tokens import Identity
from livehub.domain.topology import Festival
from livehub.errors import LivehubError
from livehub.hub.connection import Connection
from livehub.hub.fanout import Hub
from livehub.hub.recovery import Recovery, present_state
from livehub.hub.stats import Stats
from livehub.protocol.codec import CODECS, JSON
from tests.fakes import FakeRaw
from tests.fakes import messages as sent
from tests.hub.support import until

SMALL = Path(__file__).resolve().parents[2] / "config" / "small.toml"


@pytest.fixture(scope="module")
def festival() -> Festival:
    return load_festival(SMALL)


async def setup(festival: Festival) -> tuple[Recovery, Hub, MemoryBroker, Stats]:
    stats = Stats()
    hub = Hub(stats, release_delay_s=0.01)
    broker = MemoryBroker(1000)
    await broker.start(hub.deliver)
    hub.attach(broker)
    sources = (lambda v: {"online": len(v)}, lambda v: {"stock": {"s1": 3}} if v == "b1" else {})
    return Recovery(festival, broker, hub, stats, replay_max=50, counter_sources=sources), hub, broker, stats


def connect(hub: Hub, stats: Stats, name: str = "c1") -> tuple[Connection, FakeRaw]:
    raw = FakeRaw()
    conn = Connection(name, JSON, CODECS.index(JSON), Identity(name, "viewer"), raw, 1 << 20, stats)
    hub.add(conn)
    return conn, raw


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_present_state_groups_kind_id_fields_and_keeps_the_others() -> None:
    state = {"sale:s1": {"a": 1}, "sale:s2": {"b": 2}, "coupon:c1": 3, "card": {"sku": "x"}, "cohost": None}
    assert present_state(state) == {"sales": {"s1": {"a": 1}, "s2": {"b": 2}}, "coupons": {"c1": 3},
                                    "card": {"sku": "x"}, "cohost": None}  # fmt: skip


async def test_a_fresh_join_gets_presented_state_and_every_sources_counters_then_live_events(
    festival: Festival,
) -> None:
    recovery, hub, broker, stats = await setup(festival)
    await broker.publish("b1", "card.pinned", {"card": 1}, (StateOp("card", {"sku": "b1-sku1"}),))
    await broker.publish("b1", "sale.scheduled", {}, (StateOp("sale:s1", {"stock": 3}),))
    conn, raw = connect(hub, stats)
    await recovery.join(conn, "b1", None, request_id=7)
    snapshot = sent(raw.data)[0]
    assert snapshot["type"] == "snapshot" and snapshot["id"] == 7 and snapshot["recovered"] is False
    assert snapshot["channels"]["b1"]["offset"] == 2 and set(snapshot["channels"]) == {"main", "b1"}
    assert snapshot["state"]["b1"] == {"card": {"sku": "b1-sku1"}, "sales": {"s1": {"stock": 3}}}
    assert snapshot["counters"] == {"main": {"online": 4}, "b1": {"online": 2, "stock": {"s1": 3}}}
    assert (stats.recovery_replayed, stats.recovery_fresh) == (0, 0)  # a first join is no resume
    await broker.publish("b1", "hello", {"n": 1})
    await settle()
    assert [(m["type"], m.get("offset")) for m in sent(raw.data)[1:]] == [("event", 3)]


async def test_a_resume_within_history_replays_exactly_the_missed_events_after_the_clients_position(
    festival: Festival,
) -> None:
    recovery, hub, broker, stats = await setup(festival)
    epochs = {c: (await broker.snapshot(c)).epoch for c in ("main", "b1")}
    for n in range(3):
        await broker.publish("b1", "tick", {"n": n})
    await broker.publish("main", "tick", {"n": 9})
    conn, raw = connect(hub, stats)
    await recovery.join(conn, "b1", {"main": (epochs["main"], 0), "b1": (epochs["b1"], 1)})
    first, *missed = sent(raw.data)
    assert first["recovered"] is True and "state" not in first
    assert first["channels"] == {"main": {"epoch": epochs["main"], "offset": 0},
                                 "b1": {"epoch": epochs["b1"], "offset": 1}}  # fmt: skip
    assert sorted((m["ch"], m["offset"]) for m in missed) == [("b1", 2), ("b1", 3), ("main", 1)]
    assert (stats.recovery_replayed, stats.recovery_fresh) == (1, 0)


async def test_a_resume_with_an_unknown_epoch_gets_a_fresh_snapshot_never_a_partial_replay(
    festival: Festival,
) -> None:
    recovery, hub, broker, stats = await setup(festival)
    main_epoch = (await broker.snapshot("main")).epoch
    await broker.publish("main", "tick", {})
    await broker.publish("b1", "tick", {})
    conn, raw = connect(hub, stats)
    await recovery.join(conn, "b1", {"main": (main_epoch, 0), "b1": ("old-epoch", 0)})
    messages = sent(raw.data)
    assert len(messages) == 1 and messages[0]["recovered"] is False and "state" in messages[0]
    assert messages[0]["channels"]["b1"]["offset"] == 1
    assert (stats.recovery_replayed, stats.recovery_fresh) == (0, 1)


async def test_joining_an_unknown_venue_is_not_found(festival: Festival) -> None:
    recovery, hub, _broker, stats = await setup(festival)
    conn, raw = connect(hub, stats)
    with pytest.raises(LivehubError) as exc:
        await recovery.join(conn, "nowhere", None)
    assert exc.value.code == errors.NOT_FOUND and raw.writes == []


async def test_the_venue_snapshot_reads_positions_state_and_counters_of_the_venue_channels(festival: Festival) -> None:
    recovery, _hub, broker, _stats = await setup(festival)
    await broker.publish("main", "cohost.started", {}, (StateOp("cohost", {"active": True}),))
    snap = await recovery.venue_snapshot("b2")
    assert snap["venue"] == "b2" and set(snap["channels"]) == {"main", "b2"}
    assert snap["channels"]["main"]["offset"] == 1 and snap["state"]["main"] == {"cohost": {"active": True}}
    assert snap["counters"]["b2"] == {"online": 2}
    with pytest.raises(LivehubError):
        await recovery.venue_snapshot("nowhere")


async def test_a_replay_keeps_each_channels_offset_order_when_publish_times_are_out_of_order(
    festival: Festival,
) -> None:
    # two nodes publishing in the same millisecond: their clocks order the events differently
    from livehub.protocol.events import Event

    recovery, hub, broker, stats = await setup(festival)
    epoch = (await broker.snapshot("b1")).epoch
    main_epoch = (await broker.snapshot("main")).epoch
    for n in range(3):
        await broker.publish("b1", "tick", {"n": n})
    await broker.publish("main", "tick", {})
    history = broker._channels["b1"].history
    stamps = [1000, 1002, 1001]  # offset 3 stamped before offset 2 by another node's clock
    for i, event in enumerate(list(history)):
        history[i] = Event("b1", epoch, event.offset, b'{"kind":"tick","data":{},"ts":%d}' % stamps[i])
    conn, raw = connect(hub, stats)
    await recovery.join(conn, "b1", {"main": (main_epoch, 0), "b1": (epoch, 0)})
    _, *missed = sent(raw.data)

    assert [m["offset"] for m in missed if m["ch"] == "b1"] == [1, 2, 3]
    assert sorted(m["ch"] for m in missed) == ["b1", "b1", "b1", "main"]


async def test_a_join_that_meets_a_broker_failure_answers_unavailable_and_leaves_no_half_state(
    festival: Festival,
) -> None:
    recovery, hub, broker, stats = await setup(festival)
    real_snapshot = broker.snapshot

    async def failing_snapshot(channel: str) -> object:
        raise ConnectionError("redis went away")

    broker.snapshot = failing_snapshot  # type: ignore[method-assign]
    conn, raw = connect(hub, stats)
    with pytest.raises(LivehubError) as failed:
        await recovery.join(conn, "b1", None)

    assert failed.value.code == errors.UNAVAILABLE
    assert conn.venue is None and conn.channels == ()
    assert all(hub.count(c) == 0 for c in ("main", "b1", "room:b1"))
    assert sent(raw.data) == []
    assert stats.join_failures == 1

    broker.snapshot = real_snapshot  # type: ignore[method-assign]
    await recovery.join(conn, "b1", None)  # the retry joins for real
    assert conn.venue == "b1" and hub.count("b1") == 1
    assert sent(raw.data)[0]["type"] == "snapshot"


# ---- the shared snapshot (SharedSnapshots) ------------------------------------------------------------


class CountingBroker(MemoryBroker):
    """A MemoryBroker that counts snapshot reads and can hold them: a held read has taken its
    snapshot (as Redis answers at once) but is returned only when the test releases it."""

    def __init__(self) -> None:
        super().__init__(1000)
        self.reads: list[str] = []
        self.hold: asyncio.Event | None = None

    async def snapshot(self, channel: str) -> Snapshot:
        self.reads.append(channel)
        snap = await super().snapshot(channel)
        if self.hold is not None:
            await self.hold.wait()
        return snap


async def counting_setup(festival: Festival) -> tuple[Recovery, Hub, CountingBroker, Stats]:
    stats = Stats()
    hub = Hub(stats, release_delay_s=0.01)
    broker = CountingBroker()
    await broker.start(hub.deliver)
    hub.attach(broker)
    return Recovery(festival, broker, hub, stats, replay_max=50), hub, broker, stats


def events_after_snapshot(raw: FakeRaw, channel: str) -> tuple[int, list[int]]:
    """The snapshot's offset of ``channel`` and the offsets of the channel's events after it."""
    snapshot, *rest = sent(raw.data)
    assert snapshot["type"] == "snapshot"
    return snapshot["channels"][channel]["offset"], [m["offset"] for m in rest if m.get("ch") == channel]


async def test_joins_of_one_loop_turn_share_one_snapshot_read_per_channel(festival: Festival) -> None:
    recovery, hub, broker, stats = await counting_setup(festival)
    await broker.publish("b1", "card.pinned", {}, (StateOp("card", {"sku": "b1-sku1"}),))
    joins = [connect(hub, stats, f"c{i}") for i in range(5)]
    await asyncio.gather(*(recovery.join(conn, "b1", None) for conn, _ in joins))

    assert sorted(broker.reads) == ["b1", "main"]
    snapshots = [sent(raw.data)[0] for _, raw in joins]
    assert all(s["channels"] == snapshots[0]["channels"] for s in snapshots)
    assert all(s["state"] == {"main": {}, "b1": {"card": {"sku": "b1-sku1"}}} for s in snapshots)
    assert recovery.snapshots.reads == 2 and recovery.snapshots.shared == 8


async def test_a_join_while_the_node_is_where_the_last_snapshot_was_reads_nothing(festival: Festival) -> None:
    recovery, hub, broker, stats = await counting_setup(festival)
    first, first_raw = connect(hub, stats, "c1")
    await recovery.join(first, "main", None)
    await broker.publish("main", "tick", {})
    await settle()  # the node delivered offset 1: the first snapshot (offset 0) no longer serves
    second, second_raw = connect(hub, stats, "c2")
    await recovery.join(second, "main", None)
    third, third_raw = connect(hub, stats, "c3")
    await recovery.join(third, "main", None)

    assert broker.reads == ["main", "main"]  # the third join took the second's snapshot
    assert events_after_snapshot(second_raw, "main") == (1, [])
    assert events_after_snapshot(third_raw, "main") == (1, [])
    await broker.publish("main", "tick", {})
    await settle()
    assert [events_after_snapshot(raw, "main") for raw in (first_raw, second_raw, third_raw)] == [
        (0, [1, 2]), (1, [2]), (1, [2])
    ]  # fmt: skip


async def test_a_join_after_an_event_the_node_delivered_sees_the_new_offset_and_state(festival: Festival) -> None:
    recovery, hub, broker, stats = await counting_setup(festival)
    first, _ = connect(hub, stats, "c1")
    await recovery.join(first, "main", None)
    await broker.publish("main", "cohost.started", {}, (StateOp("cohost", {"active": True}),))
    await settle()
    late, late_raw = connect(hub, stats, "c2")
    await recovery.join(late, "main", None)

    snapshot = sent(late_raw.data)[0]
    assert snapshot["channels"]["main"]["offset"] == 1 and snapshot["state"]["main"] == {"cohost": {"active": True}}


async def test_a_read_begun_before_a_joiner_registered_is_not_shared_once_the_node_moved_past_it(
    festival: Festival,
) -> None:
    recovery, hub, broker, stats = await counting_setup(festival)
    warm, _ = connect(hub, stats, "warm")
    await recovery.join(warm, "main", None)
    await broker.publish("main", "tick", {})
    await settle()  # the node holds the channel at offset 1: warm's snapshot no longer serves
    broker.hold = asyncio.Event()
    early, early_raw = connect(hub, stats, "early")
    early_join = asyncio.ensure_future(recovery.join(early, "main", None))
    await until(lambda: broker.reads == ["main", "main"], "the early joiner's read")  # it read offset 1
    await broker.publish("main", "tick", {})
    await settle()  # the node delivered offset 2 (into the early joiner's buffer) ...
    late, late_raw = connect(hub, stats, "late")
    late_join = asyncio.ensure_future(recovery.join(late, "main", None))
    await settle()  # ... before the late joiner registered and found the early read in flight
    broker.hold.set()
    await asyncio.gather(early_join, late_join)
    await broker.publish("main", "tick", {})
    await settle()

    assert events_after_snapshot(early_raw, "main") == (1, [2, 3])
    assert events_after_snapshot(late_raw, "main") == (2, [3])  # a read of its own: offset 1 would miss 2
    assert broker.reads == ["main", "main", "main"]


async def test_joiners_waiting_on_a_shared_read_that_fails_are_all_answered_unavailable(festival: Festival) -> None:
    recovery, hub, broker, stats = await counting_setup(festival)
    real_snapshot = broker.snapshot
    broker.hold = asyncio.Event()

    async def failing_snapshot(channel: str) -> Snapshot:
        await real_snapshot(channel)
        raise ConnectionError("redis went away")

    broker.snapshot = failing_snapshot  # type: ignore[method-assign]
    joins = [connect(hub, stats, f"c{i}") for i in range(3)]
    pending = [asyncio.ensure_future(recovery.join(conn, "main", None)) for conn, _ in joins]
    await settle()
    broker.hold.set()
    results = await asyncio.gather(*pending, return_exceptions=True)

    assert [r.code for r in results if isinstance(r, LivehubError)] == [errors.UNAVAILABLE] * 3
    assert broker.reads == ["main"] and hub.count("main") == 0
    broker.snapshot = real_snapshot  # type: ignore[method-assign]
    broker.hold = None
    await recovery.join(joins[0][0], "main", None)  # nothing of the failed read is kept
    assert broker.reads == ["main", "main"] and sent(joins[0][1].data)[0]["type"] == "snapshot"


async def test_joins_interleaved_with_publishes_get_every_later_event_exactly_once(festival: Festival) -> None:
    # a seeded random interleaving of joins (their reads held and released at random), publishes
    # and loop turns: every joiner's events follow its snapshot without a gap or a duplicate
    import random

    rng = random.Random(10)
    for _ in range(20):
        recovery, hub, broker, stats = await counting_setup(festival)
        joined: list[tuple[str, FakeRaw]] = []
        pending: list[asyncio.Future[None]] = []
        for step in range(40):
            action = rng.random()
            if action < 0.35:
                venue = rng.choice(("main", "b1"))
                conn, raw = connect(hub, stats, f"c{step}")
                joined.append((venue, raw))
                pending.append(asyncio.ensure_future(recovery.join(conn, venue, None)))
            elif action < 0.6:
                await broker.publish(rng.choice(("main", "b1")), "tick", {})
            elif action < 0.75:
                if broker.hold is None:
                    broker.hold = asyncio.Event()
                else:  # the held reads answer
                    broker.hold.set()
                    broker.hold = None
            for _ in range(rng.randrange(3)):
                await asyncio.sleep(0)
        if broker.hold is not None:
            broker.hold.set()
        await asyncio.gather(*pending)
        await settle()
        final = {c: (await broker.snapshot(c)).offset for c in ("main", "b1")}
        for venue, raw in joined:
            for channel in {"main", venue}:
                offset, events = events_after_snapshot(raw, channel)
                assert events == list(range(offset + 1, final[channel] + 1)), (channel, offset, events)
