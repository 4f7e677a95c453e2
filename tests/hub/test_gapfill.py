"""livehub.hub.gapfill through the Hub: offset gaps filled from broker history, resync on lost history or a
changed epoch."""

from __future__ import annotations

from livehub import errors
from livehub.protocol.codec import MSGPACK
from livehub.protocol.events import Event, event_body
from tests.hub.support import (
    CH,
    connect,
    join,
    offsets,
    settle,
    start_hub,
    until,
)

# ---- order guards ------------------------------------------------------------------------------------------


async def test_an_offset_gap_is_filled_from_broker_history_and_delivered_in_order() -> None:
    hub, broker, stats = await start_hub()
    conn, raw = connect(hub, stats, "c")
    await join(hub, broker, conn)
    epoch, _ = await broker.publish(CH, "a", 1)
    await settle()

    await broker.unsubscribe(CH)  # the backplane misses two events ...
    await broker.publish(CH, "b", 2)
    await broker.publish(CH, "c", 3)
    await broker.subscribe(CH)
    third = (await broker.history(CH, epoch, 2, 10))[0]  # type: ignore[index]
    hub.deliver(CH, third)  # ... and the next one to arrive is offset + 2
    await until(lambda: offsets(raw) == [1, 2, 3], "the gap to be filled")

    assert stats.gaps_filled == 1
    await broker.publish(CH, "d", 4)
    await until(lambda: offsets(raw) == [1, 2, 3, 4], "the next live event")


async def test_events_already_delivered_are_not_sent_again() -> None:
    hub, broker, stats = await start_hub()
    conn, raw = connect(hub, stats, "c")
    await join(hub, broker, conn)
    epoch, _ = await broker.publish(CH, "a", 1)
    await settle()
    [event] = await broker.history(CH, epoch, 0, 10)  # type: ignore[misc]

    hub.deliver(CH, event)
    await settle()

    assert offsets(raw) == [1]


async def test_an_unrecoverable_gap_closes_the_channels_connections_with_resync() -> None:
    hub, broker, stats = await start_hub(history_size=2)
    conn, raw = connect(hub, stats, "c")
    await join(hub, broker, conn)
    epoch, _ = await broker.publish(CH, "a", 1)
    await settle()

    await broker.unsubscribe(CH)
    for i in range(5):  # offsets 2..6; history keeps 5 and 6 only
        await broker.publish(CH, "b", i)
    await broker.subscribe(CH)
    hub.deliver(CH, Event(CH, epoch, 6, event_body("b", 4)))
    await until(lambda: bool(raw.closes), "the resync close")

    assert raw.close_codes == [errors.CLOSE_RESYNC]
    assert stats.resyncs == 1
    assert offsets(raw) == [1]


async def test_an_epoch_change_closes_the_channels_connections_with_resync() -> None:
    hub, broker, stats = await start_hub()
    live, live_raw = connect(hub, stats, "live", MSGPACK)
    await join(hub, broker, live)
    joiner, joiner_raw = connect(hub, stats, "joiner")
    await hub.begin_join(joiner, (CH,))
    await broker.publish(CH, "a", 1)
    await settle()

    hub.deliver(CH, Event(CH, "new-epoch", 1, event_body("x", None)))
    await settle()

    assert live_raw.close_codes == [errors.CLOSE_RESYNC]
    assert joiner_raw.close_codes == [errors.CLOSE_RESYNC]
    assert stats.resyncs == 1
    assert offsets(live_raw) == [1]  # the event of the new epoch is not sent
    assert hub.count(CH) == 0


# ---- the position check ------------------------------------------------------------------------------------


async def test_an_event_missed_on_a_quiet_channel_is_delivered_by_the_position_check() -> None:
    # a sale.started during a pub/sub outage, and nothing after it on that channel
    hub, broker, stats = await start_hub()
    conn, raw = connect(hub, stats, "c")
    await join(hub, broker, conn)

    await broker.unsubscribe(CH)
    await broker.publish(CH, "sale.started", {"sale": "s1"})
    await broker.subscribe(CH)
    await settle()
    assert offsets(raw) == []

    await hub.check_positions()
    await until(lambda: offsets(raw) == [1], "the missed event")
    assert stats.position_checks == 1 and stats.gaps_filled == 1
    await broker.publish(CH, "next", {})
    await until(lambda: offsets(raw) == [1, 2], "the next live event, once")


async def test_a_position_check_of_a_channel_up_to_date_changes_nothing() -> None:
    hub, broker, stats = await start_hub()
    conn, raw = connect(hub, stats, "c")
    await join(hub, broker, conn)
    await broker.publish(CH, "a", 1)
    await settle()

    await hub.check_positions()
    await settle()

    assert offsets(raw) == [1] and raw.close_codes == []
    assert stats.position_checks == 1 and stats.gaps_filled == 0 and stats.resyncs == 0


async def test_a_channel_whose_history_redis_lost_resyncs_its_connections_on_the_position_check() -> None:
    # Redis restarted empty: the channel is unknown there, its next events start a new epoch
    hub, broker, stats = await start_hub()
    conn, raw = connect(hub, stats, "c")
    await join(hub, broker, conn)
    await broker.publish(CH, "a", 1)
    await settle()

    broker.drop_history(CH)
    await hub.check_positions()

    assert raw.close_codes == [errors.CLOSE_RESYNC]
    assert stats.resyncs == 1
    again, again_raw = connect(hub, stats, "again")
    await join(hub, broker, again)  # the resumed client gets a fresh snapshot in the new epoch ...
    await broker.publish(CH, "b", 2)
    await until(lambda: offsets(again_raw) == [1], "the new epoch's first event")  # ... and its events


async def test_a_connection_that_joined_a_quiet_channel_first_sees_what_it_missed_on_the_check() -> None:
    # no event was ever delivered on this node: the first joiner's snapshot is the channel's position
    hub, broker, stats = await start_hub()
    await broker.publish(CH, "before", {})
    conn, raw = connect(hub, stats, "c")
    await join(hub, broker, conn)  # snapshot at offset 1

    await broker.unsubscribe(CH)
    await broker.publish(CH, "missed", {})
    await broker.subscribe(CH)
    await hub.check_positions()

    await until(lambda: offsets(raw) == [2], "the missed event after the snapshot")


async def test_a_channel_whose_offset_went_back_in_redis_resyncs_its_connections_on_the_position_check() -> None:
    # Redis restarted from an AOF that lacked its last second: the same epoch, a lower offset;
    # its next events would reuse offsets the node already delivered (and be dropped as seen)
    hub, broker, stats = await start_hub()
    conn, raw = connect(hub, stats, "c")
    await join(hub, broker, conn)
    for i in range(3):
        await broker.publish(CH, "a", i)
    await settle()

    broker._channels[CH].offset = 1
    await hub.check_positions()

    assert raw.close_codes == [errors.CLOSE_RESYNC]
