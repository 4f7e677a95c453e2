"""livehub.presence.comments: a room's comments sampled to comment_room_rate per node on the way out and on the
way in, published as droppable volatile updates of the room channel."""

from __future__ import annotations

from livehub.backplane.memory import MemoryBroker
from livehub.hub.stats import Stats
from livehub.presence.comments import COMMENT, DROPPABLE, Comments
from livehub.protocol.events import Event, Volatile
from tests.hub.support import settle


async def started(rate: float = 2.0) -> tuple[Comments, MemoryBroker, Stats, list[tuple[str, Event | Volatile]]]:
    got: list[tuple[str, Event | Volatile]] = []
    broker = MemoryBroker()
    await broker.start(lambda channel, item: got.append((channel, item)))
    await broker.subscribe("room:b1")
    stats = Stats()
    return Comments(rate, stats, broker), broker, stats, got


async def test_a_comment_reaches_the_room_channel_as_a_droppable_volatile_update_of_its_own() -> None:
    comments, _, _, got = await started()
    assert await comments.publish("b1", "ann", "hello")
    assert await comments.publish("b1", "bo", "hi")
    await settle()

    assert [channel for channel, _ in got] == ["room:b1", "room:b1"]
    first, second = (item for _, item in got)
    assert isinstance(first, Volatile) and isinstance(second, Volatile)
    assert first.key.startswith(DROPPABLE) and second.key.startswith(DROPPABLE)
    assert first.key != second.key  # one key per comment: two comments never coalesce into one
    assert {k: v for k, v in first.message.items() if k not in ("ts", "id")} == {
        "type": "comment", "venue": "b1", "user": "ann", "text": "hello"}  # fmt: skip
    assert first.key == COMMENT + first.message["id"]  # the id on the wire names the comment (moderation deletes by it)


async def test_comments_past_the_room_rate_are_sampled_out_and_counted_as_dropped() -> None:
    comments, _, stats, got = await started(rate=2.0)
    shown = [await comments.publish("b1", f"u{i}", "x") for i in range(5)]
    await settle()

    assert shown == [True, True, False, False, False]
    assert stats.dropped == 3
    assert len(got) == 2


async def test_each_room_has_its_own_rate() -> None:
    comments, _, _, _ = await started(rate=1.0)
    assert await comments.publish("b1", "u", "x")
    assert await comments.publish("b2", "u", "x")
    assert not await comments.publish("b1", "u", "x")


async def test_incoming_comments_are_resampled_per_room_and_other_updates_always_pass() -> None:
    comments, _, stats, _ = await started(rate=2.0)
    comment = Volatile("room:b1", DROPPABLE + "c123", {"type": "comment"})
    online = Volatile("b1", "online", {"type": "online", "count": 1})

    admitted = [comments.filter("room:b1", comment) for _ in range(4)]

    assert admitted == [True, True, False, False]
    assert stats.dropped == 2
    assert all(comments.filter("b1", online) for _ in range(10))
    assert comments.filter("room:b2", comment)  # another room: its own bucket
