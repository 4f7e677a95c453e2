"""livehub.hub.recovery over a MemoryBroker and fake sockets: a fresh join's snapshot (presented
state, counters of every source), an exact resume, the fresh snapshot when history cannot
serve, and the HTTP venue snapshot."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from livehub import errors
from livehub.backplane.broker import StateOp
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
