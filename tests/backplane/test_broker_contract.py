"""The Broker contract: one suite, run against MemoryBroker and RedisBroker (on the session's real Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest

from livehub.backplane.broker import Broker, StateOp
from livehub.backplane.memory import MemoryBroker
from livehub.backplane.redis_broker import RedisBroker
from livehub.protocol.events import Event, Volatile

BrokerFactory = Callable[[int], Broker]


@pytest.fixture(params=["memory", "redis"])
def make_broker(request: pytest.FixtureRequest) -> BrokerFactory:
    if request.param == "memory":
        return lambda history_size: MemoryBroker(history_size=history_size)
    redis = request.getfixturevalue("redis")
    keys = request.getfixturevalue("keys")
    return lambda history_size: RedisBroker(redis, keys, history_size=history_size, ttl_s=600)


class Harness:
    """A started broker and everything it delivered, in order."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.received: list[tuple[str, Event | Volatile]] = []

    def deliver(self, channel: str, item: Event | Volatile) -> None:
        self.received.append((channel, item))

    def items(self, channel: str) -> list[Event | Volatile]:
        return [item for ch, item in self.received if ch == channel]

    def events(self, channel: str) -> list[Event]:
        return [item for item in self.items(channel) if isinstance(item, Event)]

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        for _ in range(1000):  # bounded: a broken broker fails, it does not hang
            if condition():
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"timed out waiting for {what}; received {self.received}")


@pytest.fixture
async def open_broker(make_broker: BrokerFactory) -> AsyncIterator[Callable[..., Awaitable[Harness]]]:
    started: list[Harness] = []

    async def open_(history_size: int = 100) -> Harness:
        harness = Harness(make_broker(history_size))
        await harness.broker.start(harness.deliver)
        started.append(harness)
        return harness

    yield open_
    for harness in started:
        await harness.broker.close()


@pytest.fixture
async def h(open_broker: Callable[..., Awaitable[Harness]]) -> Harness:
    return await open_broker()


def body_of(event: Event) -> dict[str, Any]:
    return orjson.loads(event.body)  # type: ignore[no-any-return]


# ---- publish ----------------------------------------------------------------------------------------------


async def test_publish_returns_the_position_offsets_counting_from_one_in_one_epoch(h: Harness) -> None:
    positions = [await h.broker.publish("main", "pin", {"i": i}) for i in range(3)]

    assert [offset for _, offset in positions] == [1, 2, 3]
    assert len({epoch for epoch, _ in positions}) == 1
    assert isinstance(positions[0][0], str) and positions[0][0]


async def test_channels_have_their_own_offsets(h: Harness) -> None:
    await h.broker.publish("b001", "a", 1)
    await h.broker.publish("b001", "a", 2)

    assert (await h.broker.publish("b002", "a", 1))[1] == 1


# ---- subscribe and deliver -------------------------------------------------------------------------------


async def test_subscribed_channels_get_every_later_event_in_order(h: Harness) -> None:
    await h.broker.subscribe("main")

    positions = [await h.broker.publish("main", "pin", {"i": i}) for i in range(5)]
    await h.until(lambda: len(h.events("main")) == 5, "five events")

    events = h.events("main")
    assert [(e.channel, e.epoch, e.offset) for e in events] == [("main", ep, off) for ep, off in positions]
    assert [body_of(e)["kind"] for e in events] == ["pin"] * 5
    assert [body_of(e)["data"] for e in events] == [{"i": i} for i in range(5)]
    assert all(isinstance(body_of(e)["ts"], int) for e in events)


async def test_concurrent_first_subscribes_of_a_fresh_broker_all_confirm_and_all_deliver(h: Harness) -> None:
    # a crowd joining a fresh node subscribes several channels at once; each must confirm
    channels = [f"c{i}" for i in range(8)]
    await asyncio.wait_for(asyncio.gather(*(h.broker.subscribe(c) for c in channels)), timeout=8)

    for c in channels:
        await h.broker.publish(c, "pin", {})
    await h.until(lambda: all(len(h.events(c)) == 1 for c in channels), "one event per channel")


async def test_a_channel_never_subscribed_delivers_nothing(h: Harness) -> None:
    await h.broker.subscribe("main")

    await h.broker.publish("other", "pin", 1)
    await h.broker.publish_volatile("other", "online", {"type": "online", "n": 1})
    await h.broker.publish("main", "marker", 1)  # published after: once it is here, "other" would be too
    await h.until(lambda: len(h.events("main")) == 1, "the marker event")

    assert h.items("other") == []


async def test_an_unsubscribed_channel_stops_delivering(h: Harness) -> None:
    await h.broker.subscribe("main")
    await h.broker.subscribe("other")
    await h.broker.publish("other", "before", 1)
    await h.until(lambda: len(h.events("other")) == 1, "the event before unsubscribing")

    await h.broker.unsubscribe("other")
    await h.broker.subscribe("barrier")  # a new subscription confirms after the unsubscribe took effect
    await h.broker.publish("other", "after", 2)
    await h.broker.publish("main", "marker", 1)
    await h.until(lambda: len(h.events("main")) == 1, "the marker event")

    assert [body_of(e)["kind"] for e in h.events("other")] == ["before"]


async def test_a_channel_can_be_unsubscribed_and_subscribed_again_and_each_subscribe_confirms(h: Harness) -> None:
    await h.broker.subscribe("main")

    for cycle in range(3):  # as the hub does when a released channel is joined again at once
        await h.broker.unsubscribe("main")
        async with asyncio.timeout(1.0):
            await h.broker.subscribe("main")
        await h.broker.publish("main", "pin", cycle)
        await h.until(lambda: len(h.events("main")) == cycle + 1, f"the event of cycle {cycle}")  # noqa: B023


async def test_a_volatile_update_reaches_subscribers_with_its_key_and_message(h: Harness) -> None:
    await h.broker.subscribe("main")
    message = {"type": "stock", "sale": "s1", "left": 17, "note": "a b"}

    await h.broker.publish_volatile("main", "stock:s1", message)
    await h.until(lambda: len(h.items("main")) == 1, "the volatile update")

    [item] = h.items("main")
    assert isinstance(item, Volatile)
    assert (item.channel, item.key, item.message) == ("main", "stock:s1", message)


async def test_volatile_updates_have_no_place_in_history(h: Harness) -> None:
    epoch, _ = await h.broker.publish("main", "pin", 1)
    await h.broker.publish_volatile("main", "online", {"type": "online", "n": 3})

    assert (await h.broker.snapshot("main")).offset == 1
    assert [e.offset for e in await h.broker.history("main", epoch, 0, 10) or []] == [1]


# ---- snapshot ---------------------------------------------------------------------------------------------


async def test_snapshot_of_a_fresh_channel_creates_its_epoch_at_offset_zero(h: Harness) -> None:
    first = await h.broker.snapshot("fresh")
    again = await h.broker.snapshot("fresh")

    assert (first.offset, first.state) == (0, {})
    assert again.epoch == first.epoch
    assert await h.broker.publish("fresh", "pin", 1) == (first.epoch, 1)
    assert await h.broker.history("fresh", first.epoch, 0, 10) is not None


async def test_snapshot_returns_the_current_position(h: Harness) -> None:
    for i in range(4):
        position = await h.broker.publish("main", "pin", i)

    snap = await h.broker.snapshot("main")

    assert (snap.epoch, snap.offset) == position


async def test_state_ops_set_and_delete_the_latest_value_state(h: Harness) -> None:
    card = {"sku": "b001-p1", "price_cents": 9900, "tags": ["新品"]}
    await h.broker.publish("main", "pin", card, (StateOp("pinned", card), StateOp("cohost", "host-b001")))
    await h.broker.publish("main", "note", None, (StateOp("empty", ""), StateOp("zero", 0)))

    snap = await h.broker.snapshot("main")
    assert snap.state == {"pinned": card, "cohost": "host-b001", "empty": "", "zero": 0}

    await h.broker.publish("main", "unpin", None, (StateOp("pinned", None), StateOp("never-set", None)))

    assert (await h.broker.snapshot("main")).state == {"cohost": "host-b001", "empty": "", "zero": 0}


async def test_a_state_op_replaces_the_previous_value(h: Harness) -> None:
    await h.broker.publish("main", "pin", 1, (StateOp("pinned", {"sku": "a"}),))
    await h.broker.publish("main", "pin", 2, (StateOp("pinned", {"sku": "b"}),))

    assert (await h.broker.snapshot("main")).state == {"pinned": {"sku": "b"}}


# ---- history ---------------------------------------------------------------------------------------------


async def test_positions_are_the_latest_epoch_and_offset_and_none_for_an_unknown_channel(h: Harness) -> None:
    epoch, _ = await h.broker.publish("main", "pin", {})
    await h.broker.publish("main", "pin", {})

    assert await h.broker.positions(["main", "never"]) == [(epoch, 2), None]
    assert await h.broker.positions(["never"]) == [None]  # reading created nothing


async def test_history_returns_exactly_the_events_after_the_given_offset(h: Harness) -> None:
    positions = [await h.broker.publish("main", "pin", {"i": i}) for i in range(6)]
    epoch = positions[0][0]

    for after in range(6):
        events = await h.broker.history("main", epoch, after, 100)
        assert events is not None
        assert [e.offset for e in events] == list(range(after + 1, 7))
        assert all((e.channel, e.epoch) == ("main", epoch) for e in events)
        assert [body_of(e)["data"] for e in events] == [{"i": i} for i in range(after, 6)]


async def test_history_from_the_current_position_is_empty(h: Harness) -> None:
    epoch, offset = await h.broker.publish("main", "pin", 1)

    assert await h.broker.history("main", epoch, offset, 100) == []


async def test_history_bodies_are_the_published_bodies(h: Harness) -> None:
    await h.broker.subscribe("main")
    epoch, _ = await h.broker.publish("main", "comment", {"text": "好 a  b"})
    await h.until(lambda: len(h.events("main")) == 1, "the event")

    [from_history] = await h.broker.history("main", epoch, 0, 10) or []

    assert from_history.body == h.events("main")[0].body
    assert from_history.as_dict() == h.events("main")[0].as_dict()


async def test_history_in_another_epoch_is_not_recoverable(h: Harness) -> None:
    await h.broker.publish("main", "pin", 1)

    assert await h.broker.history("main", "not-the-epoch", 0, 100) is None


async def test_history_after_a_position_beyond_the_current_one_is_not_recoverable(h: Harness) -> None:
    epoch, offset = await h.broker.publish("main", "pin", 1)

    assert await h.broker.history("main", epoch, offset + 1, 100) is None


async def test_history_with_more_missing_than_the_limit_is_not_recoverable(h: Harness) -> None:
    for i in range(5):
        epoch, _ = await h.broker.publish("main", "pin", i)

    assert await h.broker.history("main", epoch, 0, 4) is None
    assert [e.offset for e in await h.broker.history("main", epoch, 1, 4) or []] == [2, 3, 4, 5]


async def test_history_trimmed_past_the_position_is_not_recoverable(
    open_broker: Callable[..., Awaitable[Harness]],
) -> None:
    h = await open_broker(history_size=10)
    for i in range(300):  # Redis trims approximately (MAXLEN ~): far more than history_size
        epoch, _ = await h.broker.publish("main", "pin", i)

    assert await h.broker.history("main", epoch, 1, 1000) is None
    recent = await h.broker.history("main", epoch, 295, 1000)
    assert [e.offset for e in recent or []] == [296, 297, 298, 299, 300]


# ---- the Redis subscriber's reconnect ----------------------------------------------------------------------


async def test_the_redis_subscriber_reconnects_by_itself_resubscribes_and_reports_it(
    redis_url: str, redis: Any, keys: Any
) -> None:
    import uuid

    import redis.asyncio as aioredis

    name = "lh-test-" + uuid.uuid4().hex[:8]
    pubsub_redis = aioredis.Redis.from_url(redis_url, client_name=name)
    broker = RedisBroker(redis, keys, ttl_s=600, pubsub_redis=pubsub_redis)
    harness = Harness(broker)
    reconnects: list[int] = []
    await broker.start(harness.deliver, lambda: reconnects.append(1))
    try:
        await broker.subscribe("main")
        for client in await redis.client_list():
            if client.get("name") == name:
                await redis.client_kill_filter(_id=client["id"])  # the pub/sub connection drops
        await harness.until(lambda: bool(reconnects), "the reconnect to be reported")

        await broker.publish("main", "after", {})
        await harness.until(lambda: len(harness.events("main")) == 1, "an event after the reconnect")
        assert broker.reconnects == 1
    finally:
        await broker.close()
        await pubsub_redis.aclose()
