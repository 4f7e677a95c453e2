"""livehub.hub.subscriptions through the Hub: race-free joins with join buffers, one broker subscription per
channel, delayed release after the last leaver."""

from __future__ import annotations

import asyncio

from livehub import errors
from livehub.backplane.memory import MemoryBroker
from livehub.hub.fanout import Hub
from livehub.hub.stats import Stats
from livehub.protocol.codec import JSON
from tests.fakes import messages
from tests.hub.support import (
    CH,
    connect,
    join,
    offsets,
    settle,
    start_hub,
    until,
)

# ---- joining -----------------------------------------------------------------------------------------------


async def test_a_joining_connection_gets_its_snapshot_then_only_the_buffered_events_after_it() -> None:
    hub, broker, stats = await start_hub()
    live, live_raw = connect(hub, stats, "live")
    await join(hub, broker, live)
    joiner, joiner_raw = connect(hub, stats, "joiner")

    await hub.begin_join(joiner, (CH,))
    await broker.publish(CH, "a", 1)
    await broker.publish(CH, "b", 2)
    snap = await broker.snapshot(CH)  # read while events keep coming
    await broker.publish(CH, "c", 3)
    await settle()
    assert joiner_raw.writes == []  # held in the join buffer meanwhile
    assert offsets(live_raw) == [1, 2, 3]

    first = JSON.frame({"type": "snapshot", "offset": snap.offset})
    hub.finish_join(joiner, CH, (snap.epoch, snap.offset), first)

    assert len(joiner_raw.writes) == 1  # snapshot and the rest in one write
    received = messages(joiner_raw.writes[0])
    assert received[0] == {"type": "snapshot", "offset": 2}
    assert [m["offset"] for m in received[1:]] == [3]

    await broker.publish(CH, "d", 4)
    await settle()
    assert offsets(joiner_raw) == [3, 4]


async def test_volatile_updates_during_a_join_are_delivered_after_the_snapshot() -> None:
    hub, broker, stats = await start_hub()
    joiner, raw = connect(hub, stats, "joiner")

    await hub.begin_join(joiner, (CH,))
    snap = await broker.snapshot(CH)
    hub.broadcast_volatile(CH, "online", {"type": "online", "n": 1})
    await settle()
    hub.finish_join(joiner, CH, (snap.epoch, snap.offset), JSON.frame({"type": "snapshot"}))

    assert messages(raw.writes[0]) == [{"type": "snapshot"}, {"type": "online", "n": 1}]


async def test_joining_subscribes_the_channel_on_the_broker_once() -> None:
    hub, broker, stats = await start_hub()
    for i in range(3):
        await join(hub, broker, connect(hub, stats, f"c{i}")[0])

    assert broker.calls == [("subscribe", CH)]
    assert hub.count(CH) == 3


async def test_a_join_buffer_that_overflows_closes_the_joining_connection_as_slow() -> None:
    hub, broker, stats = await start_hub(join_buffer_max=2)
    joiner, raw = connect(hub, stats, "joiner")
    await hub.begin_join(joiner, (CH,))

    for i in range(3):
        await broker.publish(CH, "pin", i)
        await settle()

    assert raw.close_codes == [errors.CLOSE_SLOW]
    assert hub.count(CH) == 0


async def test_a_join_release_that_overflows_a_paused_connection_closes_it_as_slow() -> None:
    hub, broker, stats = await start_hub()
    joiner, raw = connect(hub, stats, "joiner", limit=100)
    await hub.begin_join(joiner, (CH,))
    snap = await broker.snapshot(CH)
    for i in range(5):
        await broker.publish(CH, "pin", {"i": i, "pad": "x" * 40})
    await settle()
    joiner.on_pause()

    hub.finish_join(joiner, CH, (snap.epoch, snap.offset))

    assert raw.close_codes == [errors.CLOSE_SLOW]
    assert "joiner" not in hub.connections


async def test_a_connection_closed_by_its_own_join_release_does_not_stay_a_subscriber() -> None:
    hub, broker, stats = await start_hub()
    joiner, _ = connect(hub, stats, "joiner", limit=100)
    await hub.begin_join(joiner, (CH,))
    snap = await broker.snapshot(CH)
    for i in range(5):
        await broker.publish(CH, "pin", {"i": i, "pad": "x" * 40})
    await settle()
    joiner.on_pause()

    hub.finish_join(joiner, CH, (snap.epoch, snap.offset))

    assert joiner.closed
    assert hub.count(CH) == 0


# ---- leaving and release -----------------------------------------------------------------------------------


async def test_leaving_the_last_connection_unsubscribes_after_the_release_delay() -> None:
    hub, broker, stats = await start_hub(release_delay_s=0.01)
    a, _ = connect(hub, stats, "a")
    b, _ = connect(hub, stats, "b")
    await join(hub, broker, a)
    await join(hub, broker, b)

    hub.leave(a)
    await settle()
    assert hub.count(CH) == 1
    hub.leave(b)
    await settle()
    assert ("unsubscribe", CH) not in broker.calls  # not at once: a viewer may be switching rooms
    assert CH in hub.channels

    await until(lambda: ("unsubscribe", CH) in broker.calls, "the delayed unsubscribe")
    assert CH not in hub.channels


async def test_a_stopped_hub_leaves_no_release_timer_and_no_background_task_behind() -> None:
    hub, broker, stats = await start_hub(release_delay_s=0.05)
    gone, _ = connect(hub, stats, "gone")
    await join(hub, broker, gone)
    hub.remove(gone)  # its channel's release is now scheduled
    held = asyncio.Event()
    hub._background(held.wait())  # a background task still running at shutdown (e.g. an unsubscribe)
    await hub.stop()
    assert not hub._tasks
    late, _ = connect(hub, stats, "late")
    hub.remove(late)  # a leave after the stop schedules nothing
    await asyncio.sleep(0.15)  # well past the release delay
    assert ("unsubscribe", CH) not in broker.calls


async def test_rejoining_within_the_release_delay_keeps_the_subscription() -> None:
    hub, broker, stats = await start_hub(release_delay_s=0.02)
    conn, raw = connect(hub, stats, "a")
    await join(hub, broker, conn)

    hub.leave(conn)
    await join(hub, broker, conn)
    await asyncio.sleep(0.1)  # well past the release delay

    assert broker.calls == [("subscribe", CH)]
    await broker.publish(CH, "a", 1)
    await settle()
    assert offsets(raw) == [1]


async def test_a_closed_connection_leaves_its_channels() -> None:
    hub, broker, stats = await start_hub()
    conn, _ = connect(hub, stats, "a")
    await join(hub, broker, conn)

    conn.close(errors.CLOSE_NORMAL, "bye")

    assert hub.count(CH) == 0
    assert "a" not in hub.connections
    await until(lambda: ("unsubscribe", CH) in broker.calls, "the delayed unsubscribe")


async def test_joining_other_channels_leaves_the_previous_ones() -> None:
    hub, broker, stats = await start_hub()
    conn, raw = connect(hub, stats, "a")
    await join(hub, broker, conn, "b001")

    await join(hub, broker, conn, "b002")
    await broker.publish("b001", "a", 1)
    await broker.publish("b002", "b", 2)
    await settle()

    assert (hub.count("b001"), hub.count("b002")) == (0, 1)
    assert [m["ch"] for m in messages(b"".join(raw.writes))] == ["b002"]


class GatedBroker(MemoryBroker):
    """subscribe() waits until the test opens the gate, like a slow Redis."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def subscribe(self, channel: str) -> None:
        await self.gate.wait()
        await super().subscribe(channel)


async def test_cancelling_one_join_does_not_fail_another_join_of_the_same_channel() -> None:
    stats = Stats()
    hub = Hub(stats, release_delay_s=0.01)
    broker = GatedBroker()
    await broker.start(hub.deliver)
    hub.attach(broker)
    a, _ = connect(hub, stats, "a")
    c, _ = connect(hub, stats, "c")
    join_a = asyncio.ensure_future(hub.begin_join(a, (CH,)))
    join_c = asyncio.ensure_future(hub.begin_join(c, (CH,)))
    await settle()

    join_a.cancel()
    await asyncio.gather(join_a, return_exceptions=True)
    broker.gate.set()
    [outcome] = await asyncio.gather(join_c, return_exceptions=True)

    assert outcome is None
    assert hub.count(CH) == 1  # c only: the cancelled joiner left


# ---- a snapshot ahead of the node ---------------------------------------------------------------------------


async def test_a_snapshot_covering_an_event_the_node_has_not_received_yet_is_never_followed_by_that_event() -> None:
    # the snapshot is read on another connection than the subscription: it can be ahead
    hub, broker, stats = await start_hub()
    live, live_raw = connect(hub, stats, "live")
    await join(hub, broker, live)
    joiner, joiner_raw = connect(hub, stats, "joiner")
    await hub.begin_join(joiner, (CH,))

    await broker.publish(CH, "a", 1)  # published; not yet delivered to this node
    snap = await broker.snapshot(CH)
    hub.finish_join(joiner, CH, (snap.epoch, snap.offset))
    await broker.publish(CH, "b", 2)
    await settle()

    assert snap.offset == 1
    assert offsets(joiner_raw) == [2]
    assert offsets(live_raw) == [1, 2]


async def test_a_snapshot_covering_an_event_queued_for_the_next_flush_is_never_followed_by_it() -> None:
    hub, broker, stats = await start_hub()
    live, live_raw = connect(hub, stats, "live")
    await join(hub, broker, live)
    joiner, joiner_raw = connect(hub, stats, "joiner")
    await hub.begin_join(joiner, (CH,))

    await broker.publish(CH, "a", 1)
    await asyncio.sleep(0)  # delivered to the hub, queued: the flush runs on the next turn
    snap = await broker.snapshot(CH)
    hub.finish_join(joiner, CH, (snap.epoch, snap.offset))
    await settle()

    assert offsets(joiner_raw) == []
    assert offsets(live_raw) == [1]


async def test_first_joiners_snapshot_ahead_of_the_node_skip_what_it_covers_and_a_later_one_misses_nothing() -> None:
    hub, broker, stats = await start_hub()
    early, early_raw = connect(hub, stats, "early")
    late, late_raw = connect(hub, stats, "late")
    await hub.begin_join(early, (CH,))
    await hub.begin_join(late, (CH,))
    early_snap = await broker.snapshot(CH)  # offset 0
    await broker.publish(CH, "a", 1)  # not delivered yet
    late_snap = await broker.snapshot(CH)  # offset 1
    hub.finish_join(late, CH, (late_snap.epoch, late_snap.offset))
    await settle()
    hub.finish_join(early, CH, (early_snap.epoch, early_snap.offset))
    await broker.publish(CH, "b", 2)
    await settle()

    assert offsets(late_raw) == [2]
    assert offsets(early_raw) == [1, 2]
