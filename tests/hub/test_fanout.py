"""livehub.hub.fanout.Hub over a MemoryBroker and fake sockets: batching, pre-framed fan-out, race-free joins,
order guards (gap fill, epoch change), delayed release and backpressure."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgpack
import orjson

from livehub import errors
from livehub.backplane.broker import MemoryBroker
from livehub.domain.tokens import Identity
from livehub.hub.connection import Connection
from livehub.hub.fanout import Hub
from livehub.hub.stats import Stats
from livehub.protocol.codec import CODECS, JSON, MSGPACK, OP_TEXT, Codec
from livehub.protocol.events import Event, event_body

CH = "main"


class FakeRaw:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closes: list[tuple[int, str]] = []

    def write_raw(self, data: bytes) -> None:
        self.writes.append(data)

    def close_with(self, code: int, reason: str) -> None:
        self.closes.append((code, reason))

    def bind(self, sink: Connection) -> None:
        pass

    def resume_frames(self) -> None:
        pass

    @property
    def close_codes(self) -> list[int]:
        return [code for code, _ in self.closes]


class RecordingBroker(MemoryBroker):
    def __init__(self, history_size: int = 1000) -> None:
        super().__init__(history_size)
        self.calls: list[tuple[str, str]] = []

    async def subscribe(self, channel: str) -> None:
        self.calls.append(("subscribe", channel))
        await super().subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.calls.append(("unsubscribe", channel))
        await super().unsubscribe(channel)


async def start_hub(
    release_delay_s: float = 0.01, join_buffer_max: int = 10_000, history_size: int = 1000,
    fanout_slice: int | None = None,
) -> tuple[Hub, RecordingBroker, Stats]:  # fmt: skip
    stats = Stats()
    hub = Hub(stats, join_buffer_max=join_buffer_max, release_delay_s=release_delay_s)
    if fanout_slice is not None:
        hub.fanout_slice = fanout_slice
    broker = RecordingBroker(history_size)
    await broker.start(hub.deliver)
    hub.attach(broker)
    return hub, broker, stats


def connect(
    hub: Hub, stats: Stats, conn_id: str, codec: Codec = JSON, limit: int = 1 << 20
) -> tuple[Connection, FakeRaw]:
    raw = FakeRaw()
    conn = Connection(conn_id, codec, CODECS.index(codec), Identity(conn_id, "viewer"), raw, limit, stats)
    hub.add(conn)
    return conn, raw


async def join(hub: Hub, broker: MemoryBroker, conn: Connection, channel: str = CH) -> None:
    """What the node does: register, subscribe, read the snapshot, then go live."""
    await hub.begin_join(conn, (channel,))
    snap = await broker.snapshot(channel)
    hub.finish_join(conn, channel, (snap.epoch, snap.offset))


async def until(condition: Callable[[], bool], what: str = "condition") -> None:
    """Let the loop run until ``condition`` holds (bounded, so a broken hub fails instead of hanging)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"timed out waiting for {what}")


async def settle() -> None:
    """Run the loop a few iterations: broker call_soon -> deliver -> call_soon -> flush."""
    for _ in range(5):
        await asyncio.sleep(0)


def split_frames(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    i = 0
    while i < len(data):
        opcode, n = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if n == 126:
            n, i = int.from_bytes(data[i : i + 2], "big"), i + 2
        elif n == 127:
            n, i = int.from_bytes(data[i : i + 8], "big"), i + 8
        out.append((opcode, data[i : i + n]))
        i += n
    return out


def messages(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(p) if op == OP_TEXT else msgpack.unpackb(p, raw=False) for op, p in split_frames(data)]


def offsets(raw: FakeRaw) -> list[int]:
    return [m["offset"] for m in messages(b"".join(raw.writes)) if m.get("type") == "event"]


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
