"""livehub.hub.fanout.Hub over a MemoryBroker and fake sockets: batching, pre-framed fan-out, sliced
broadcast to big audiences and backpressure."""

from __future__ import annotations

import asyncio

from livehub import errors
from livehub.backplane.memory import MemoryBroker
from livehub.hub.connection import Connection
from livehub.hub.fanout import Hub
from livehub.hub.stats import Stats
from livehub.protocol.codec import JSON, MSGPACK, Codec
from tests.fakes import FakeRaw, messages, split_frames
from tests.hub.support import (
    CH,
    connect,
    join,
    offsets,
    settle,
    start_hub,
    until,
)

# ---- batching and pre-framed fan-out -----------------------------------------------------------------------


async def test_events_published_in_one_loop_iteration_go_out_in_one_write_per_connection() -> None:
    hub, broker, stats = await start_hub()
    conns = [connect(hub, stats, f"c{i}", codec) for i, codec in enumerate([JSON, JSON, MSGPACK])]
    for conn, _ in conns:
        await join(hub, broker, conn)

    for i in range(3):
        await broker.publish(CH, "pin", {"i": i})
    await settle()

    for _, raw in conns:
        assert len(raw.writes) == 1
        assert offsets(raw) == [1, 2, 3]
    assert stats.writes == 3
    assert stats.batched_writes == 3
    assert stats.frames_sent == 9


async def test_each_codec_frame_is_built_once_and_the_same_bytes_object_goes_to_every_subscriber() -> None:
    hub, broker, stats = await start_hub()
    json_raws = [connect(hub, stats, f"j{i}", JSON) for i in range(3)]
    mp_raws = [connect(hub, stats, f"m{i}", MSGPACK) for i in range(2)]
    for conn, _ in json_raws + mp_raws:
        await join(hub, broker, conn)

    epoch, offset = await broker.publish(CH, "pin", {"sku": "p1"})
    await settle()
    # MemoryBroker's history holds the very Event object it delivered, with the frames the hub cached on it
    event = (await broker.history(CH, epoch, offset - 1, 10))[0]  # type: ignore[index]

    json_written = [raw.writes[0] for _, raw in json_raws]
    mp_written = [raw.writes[0] for _, raw in mp_raws]
    assert all(w is event.frame(JSON) for w in json_written)
    assert all(w is event.frame(MSGPACK) for w in mp_written)


async def test_a_batch_is_joined_once_per_codec_and_shared_by_every_subscriber() -> None:
    hub, broker, stats = await start_hub()
    raws = [connect(hub, stats, f"c{i}", JSON)[1] for i in range(3)]
    for conn_id in ["c0", "c1", "c2"]:
        await join(hub, broker, hub.connections[conn_id])

    await broker.publish(CH, "a", 1)
    await broker.publish(CH, "b", 2)
    await settle()

    assert raws[0].writes[0] is raws[1].writes[0] is raws[2].writes[0]


async def test_json_and_msgpack_subscribers_both_get_the_event() -> None:
    hub, broker, stats = await start_hub()
    json_conn, json_raw = connect(hub, stats, "j", JSON)
    mp_conn, mp_raw = connect(hub, stats, "m", MSGPACK)
    await join(hub, broker, json_conn)
    await join(hub, broker, mp_conn)

    epoch, _ = await broker.publish(CH, "pin", {"sku": "p1", "price": 99.5})
    await settle()

    expected = {
        "type": "event",
        "ch": CH,
        "epoch": epoch,
        "offset": 1,
        "kind": "pin",
        "data": {"sku": "p1", "price": 99.5},
    }
    for raw, opcode in [(json_raw, 0x1), (mp_raw, 0x2)]:
        [(op, _)] = split_frames(raw.writes[0])
        [message] = messages(raw.writes[0])
        assert op == opcode
        assert {k: v for k, v in message.items() if k != "ts"} == expected


async def test_volatile_updates_for_the_same_key_coalesce_within_one_batch() -> None:
    hub, broker, stats = await start_hub()
    conn, raw = connect(hub, stats, "c")
    await join(hub, broker, conn)

    hub.broadcast_volatile(CH, "stock:s1", {"type": "stock", "left": 3})
    hub.broadcast_volatile(CH, "online", {"type": "online", "n": 10})
    hub.broadcast_volatile(CH, "stock:s1", {"type": "stock", "left": 2})
    hub.broadcast_volatile(CH, "stock:s1", {"type": "stock", "left": 1})
    await settle()

    assert len(raw.writes) == 1
    assert messages(raw.writes[0]) == [{"type": "stock", "left": 1}, {"type": "online", "n": 10}]
    assert stats.coalesced == 2


async def test_backplane_volatile_updates_coalesce_in_a_batch_while_events_keep_their_order() -> None:
    hub, broker, stats = await start_hub()
    conn, raw = connect(hub, stats, "c")
    await join(hub, broker, conn)

    await broker.publish_volatile(CH, "stock:s1", {"type": "stock", "left": 5})
    await broker.publish(CH, "pin", {"sku": "p1"})
    await broker.publish_volatile(CH, "stock:s1", {"type": "stock", "left": 4})
    await broker.publish(CH, "unpin", {"sku": "p1"})
    await settle()

    assert len(raw.writes) == 1
    received = messages(raw.writes[0])
    assert received[0] == {"type": "stock", "left": 4}
    assert [m["offset"] for m in received[1:]] == [1, 2]
    assert stats.coalesced == 1


async def test_a_volatile_update_for_a_channel_nobody_joined_is_ignored() -> None:
    hub, _, _ = await start_hub()

    hub.broadcast_volatile("nobody-here", "online", {"type": "online", "n": 0})
    await settle()

    assert "nobody-here" not in hub.channels


# ---- backpressure ------------------------------------------------------------------------------------------


async def test_a_paused_subscriber_takes_the_slow_path_without_holding_back_the_others() -> None:
    hub, broker, stats = await start_hub()
    fast, fast_raw = connect(hub, stats, "fast")
    slow, slow_raw = connect(hub, stats, "slow")
    await join(hub, broker, fast)
    await join(hub, broker, slow)
    slow.on_pause()

    await broker.publish(CH, "a", 1)
    await broker.publish(CH, "b", 2)
    hub.broadcast_volatile(CH, "~comment", {"type": "comment", "text": "hi"})
    await settle()

    assert len(fast_raw.writes) == 1 and offsets(fast_raw) == [1, 2]
    assert slow_raw.writes == []
    assert len(slow.backlog) == 2
    assert stats.dropped == 1  # the comment, for the slow reader only
    assert stats.writes == 1

    slow.on_resume()
    assert offsets(slow_raw) == [1, 2]


async def test_a_subscriber_that_falls_too_far_behind_is_closed_and_leaves_the_channel() -> None:
    hub, broker, stats = await start_hub()
    slow, slow_raw = connect(hub, stats, "slow", limit=200)
    await join(hub, broker, slow)
    slow.on_pause()

    for i in range(10):
        await broker.publish(CH, "pin", {"i": i, "pad": "x" * 50})
    await settle()

    assert slow_raw.close_codes == [errors.CLOSE_SLOW]
    assert stats.slow_closes == 1
    assert hub.count(CH) == 0
    assert "slow" not in hub.connections


# ---- sliced fan-out: a big audience is written fanout_slice connections per loop turn ---------------------


async def audience(
    hub: Hub, broker: MemoryBroker, stats: Stats, n: int, codec: Codec = JSON, name: str = "c"
) -> list[tuple[Connection, FakeRaw]]:
    conns = [connect(hub, stats, f"{name}{i}", codec) for i in range(n)]
    for conn, _ in conns:
        await join(hub, broker, conn)
    return conns


def reached(conns: list[tuple[Connection, FakeRaw]]) -> list[int]:
    """Indexes of the connections that got a write."""
    return [i for i, (_, raw) in enumerate(conns) if raw.writes]


async def first_slice(conns: list[tuple[Connection, FakeRaw]]) -> None:
    """Run the loop one turn at a time until the broadcast's first slice is written."""
    for _ in range(20):
        if reached(conns):
            return
        await asyncio.sleep(0)
    raise AssertionError("the broadcast never started")


async def test_a_broadcast_to_more_than_a_slice_reaches_everyone_one_slice_per_loop_turn() -> None:
    hub, broker, stats = await start_hub(fanout_slice=4)
    conns = await audience(hub, broker, stats, 10)

    await broker.publish(CH, "pin", {"sku": "p1"})
    await first_slice(conns)
    assert reached(conns) == [0, 1, 2, 3]
    assert hub.channels[CH].fanning
    await asyncio.sleep(0)
    assert reached(conns) == list(range(8))
    await asyncio.sleep(0)
    assert reached(conns) == list(range(10))
    assert not hub.channels[CH].fanning

    for _, raw in conns:
        assert len(raw.writes) == 1 and offsets(raw) == [1]
    assert stats.writes == 10 and stats.frames_sent == 10


async def test_a_batch_queued_while_a_big_broadcast_is_written_follows_it_on_every_connection() -> None:
    hub, broker, stats = await start_hub(fanout_slice=3)
    conns = await audience(hub, broker, stats, 8, JSON, "j") + await audience(hub, broker, stats, 3, MSGPACK, "m")

    await broker.publish(CH, "a", 1)
    await first_slice(conns)
    await broker.publish(CH, "b", 2)  # arrive while batch 1 is still being written
    await broker.publish(CH, "c", 3)
    await asyncio.sleep(0)
    assert hub.channels[CH].fanning, "batch 1 should still be in progress"
    await until(lambda: all(len(offsets(raw)) == 3 for _, raw in conns), "both batches everywhere")
    await settle()

    for conn, raw in conns:
        assert offsets(raw) == [1, 2, 3], conn.id  # never batch 2 before batch 1
        assert len(raw.writes) == 2, conn.id  # batch 1, then b and c together
    assert not hub.channels[CH].fanning
    assert stats.frames_sent == 11 * 3


async def test_a_later_batch_never_overtakes_a_big_broadcast_even_when_its_audience_shrinks_meanwhile() -> None:
    # Batch 1 writes the msgpack audience after its JSON slices; once every JSON viewer has left, batch 2 has only
    # the msgpack audience to write and, if it did not wait for batch 1, would reach it first.
    hub, broker, stats = await start_hub(fanout_slice=2)
    js = await audience(hub, broker, stats, 8, JSON, "j")
    mp = await audience(hub, broker, stats, 2, MSGPACK, "m")

    await broker.publish(CH, "a", 1)
    await first_slice(js + mp)
    for conn, _ in js:
        hub.leave(conn)
    await broker.publish(CH, "b", 2)
    await until(lambda: all(len(offsets(raw)) == 2 for _, raw in mp), "both batches to the msgpack viewers")
    await settle()

    assert [offsets(raw) for _, raw in mp] == [[1, 2], [1, 2]]
    assert [offsets(raw) for _, raw in js] == [[1], [1]] + [[]] * 6


async def test_a_connection_that_leaves_during_a_big_broadcast_gets_nothing_more_of_it() -> None:
    hub, broker, stats = await start_hub(fanout_slice=2)
    conns = await audience(hub, broker, stats, 6)
    (leaver, leaver_raw), (closer, closer_raw) = conns[5], conns[4]

    await broker.publish(CH, "a", 1)
    await first_slice(conns)
    hub.leave(leaver)
    closer.close(errors.CLOSE_NORMAL, "bye")
    await until(lambda: not hub.channels[CH].fanning, "the broadcast to end")

    assert leaver_raw.writes == [] and closer_raw.writes == []
    assert [offsets(raw) for _, raw in conns[:4]] == [[1]] * 4
    assert stats.writes == 4 and stats.frames_sent == 4


async def test_a_paused_connection_in_a_big_audience_gets_the_broadcast_through_its_backlog() -> None:
    hub, broker, stats = await start_hub(fanout_slice=2)
    conns = await audience(hub, broker, stats, 6)
    (early, early_raw), (late, late_raw) = conns[1], conns[5]
    early.on_pause()  # paused before the broadcast, in the first slice

    await broker.publish(CH, "a", 1)
    await broker.publish(CH, "b", 2)
    await first_slice(conns)
    late.on_pause()  # paused while the broadcast is under way, before its own slice
    await until(lambda: not hub.channels[CH].fanning, "the broadcast to end")

    assert early_raw.writes == [] and late_raw.writes == []
    assert len(early.backlog) == 2 and len(late.backlog) == 2
    fast = [raw for i, (_, raw) in enumerate(conns) if i not in (1, 5)]
    assert all(len(raw.writes) == 1 and offsets(raw) == [1, 2] for raw in fast)
    early.on_resume()
    late.on_resume()
    assert offsets(early_raw) == [1, 2] and offsets(late_raw) == [1, 2]
    assert stats.writes == 4 and stats.batched_writes == 4
    assert stats.frames_sent == 6 * 2  # the slow path counts too
    assert stats.bytes_sent == 4 * len(fast[0].writes[0])


async def test_stats_of_a_sliced_broadcast_add_up_over_both_codecs() -> None:
    hub, broker, stats = await start_hub(fanout_slice=3)
    js = await audience(hub, broker, stats, 7, JSON, "j")
    mp = await audience(hub, broker, stats, 5, MSGPACK, "m")

    for i in range(3):
        await broker.publish(CH, "pin", {"i": i})
    await first_slice(js + mp)
    await until(lambda: not hub.channels[CH].fanning, "the broadcast to end")

    assert all(len(raw.writes) == 1 and offsets(raw) == [1, 2, 3] for _, raw in js + mp)
    assert stats.writes == 12 and stats.batched_writes == 12
    assert stats.frames_sent == 12 * 3
    assert stats.bytes_sent == 7 * len(js[0][1].writes[0]) + 5 * len(mp[0][1].writes[0])


async def test_a_connection_that_finishes_its_join_during_a_big_broadcast_gets_the_batch_once() -> None:
    hub, broker, stats = await start_hub(fanout_slice=2)
    conns = await audience(hub, broker, stats, 10)
    joiner, joiner_raw = connect(hub, stats, "joiner")
    await hub.begin_join(joiner, (CH,))
    snap = await broker.snapshot(CH)

    await broker.publish(CH, "a", 1)
    await first_slice(conns)
    assert hub.channels[CH].fanning
    hub.finish_join(joiner, CH, (snap.epoch, snap.offset))  # releases event 1 from its join buffer
    await until(lambda: not hub.channels[CH].fanning, "the broadcast to end")
    await settle()

    assert offsets(joiner_raw) == [1]
    assert all(offsets(raw) == [1] for _, raw in conns)


async def test_a_connection_of_a_small_codec_audience_that_finishes_its_join_mid_broadcast_gets_the_batch_once() -> (
    None
):
    # The JSON audience is bigger than a slice, so the msgpack audience (smaller than one) is written in a later
    # loop turn; a msgpack connection that completes its join in between already got the batch from its join buffer.
    hub, broker, stats = await start_hub(fanout_slice=2)
    conns = await audience(hub, broker, stats, 3, JSON, "j") + await audience(hub, broker, stats, 1, MSGPACK, "m")
    joiner, joiner_raw = connect(hub, stats, "joiner", MSGPACK)
    await hub.begin_join(joiner, (CH,))
    snap = await broker.snapshot(CH)

    await broker.publish(CH, "a", 1)
    await first_slice(conns)
    assert hub.channels[CH].fanning
    hub.finish_join(joiner, CH, (snap.epoch, snap.offset))
    await until(lambda: not hub.channels[CH].fanning, "the broadcast to end")
    await settle()

    assert all(offsets(raw) == [1] for _, raw in conns)
    assert offsets(joiner_raw) == [1], "an event sent twice on one connection"


async def test_a_connection_that_rejoins_during_a_big_broadcast_does_not_get_an_event_its_snapshot_covers() -> None:
    hub, broker, stats = await start_hub(fanout_slice=2)
    conns = await audience(hub, broker, stats, 20)
    rejoiner, raw = conns[19]

    await broker.publish(CH, "a", 1)
    await first_slice(conns)
    await hub.begin_join(rejoiner, (CH,))  # leaves, joins again: the snapshot is read after event 1
    snap = await broker.snapshot(CH)
    assert snap.offset == 1
    assert hub.channels[CH].fanning, "the broadcast should still be in progress"
    hub.finish_join(rejoiner, CH, (snap.epoch, snap.offset), JSON.frame({"type": "snapshot", "offset": 1}))
    await until(lambda: not hub.channels[CH].fanning, "the broadcast to end")
    await settle()

    assert all(offsets(r) == [1] for _, r in conns[:19])
    received = messages(b"".join(raw.writes))
    assert received == [{"type": "snapshot", "offset": 1}], "event 1 again after a snapshot at offset 1"
