"""Group buys as a use-case (livehub.services.group_buying) over a real Redis and a MemoryBroker:
the host's deal, the throttled live updates, completions and expiries announced at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from livehub.backplane.memory import MemoryBroker
from livehub.domain.quotas import Quotas
from livehub.domain.topology import Festival
from livehub.errors import LivehubError
from livehub.protocol.events import Event, Volatile
from livehub.services.group_buying import DealDraft, GroupBuying
from livehub.settings import Settings
from livehub.store.groups import GroupStore
from livehub.store.keys import Keys
from livehub.store.orders import OrderStore
from livehub.store.refunds import DemoRefunds
from livehub.store.scripts import Scripts


class Room:
    """The group buys of a node, and the events its venue b1 received."""

    def __init__(self, service: GroupBuying, broker: MemoryBroker) -> None:
        self.service = service
        self.broker = broker
        self.events: list[dict[str, Any]] = []

    def deliver(self, channel: str, item: Event | Volatile) -> None:
        if isinstance(item, Event):
            self.events.append(orjson.loads(item.body))

    def kinds(self) -> list[str]:
        return [e["kind"] for e in self.events]

    async def until(self, check: Any, what: str) -> None:
        for _ in range(200):
            if check():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"never happened: {what} (events: {self.kinds()})")


@pytest.fixture
async def room(redis: aioredis.Redis, keys: Keys, festival: Festival) -> AsyncIterator[Room]:
    settings = Settings(group_update_interval_s=0.3, group_state_max=2)
    scripts = Scripts(redis)
    groups = GroupStore(redis, keys, scripts, OrderStore(redis, keys, scripts=scripts),
                        DemoRefunds(redis, keys, scripts))  # fmt: skip
    broker = MemoryBroker()
    service = GroupBuying(settings, festival, broker, groups, Quotas.from_settings(Settings(identity_buy_burst=1000)))
    out = Room(service, broker)
    await broker.start(out.deliver)
    await broker.subscribe("b1")
    yield out
    await service.stop()


async def open_deal(room: Room, **changes: Any) -> str:
    fields: dict[str, Any] = {"product": room.service.festival.products["b1-sku1"], "group_size": 3, "groups": 5}
    fields.update(changes)
    out = await room.service.open_deal("b1", DealDraft(**fields))
    return str(out["deal"]["deal"])


async def test_opening_a_deal_announces_it_with_its_state_in_the_venue(room: Room) -> None:
    deal = await open_deal(room, group_price_cents=3900)
    await room.until(lambda: room.kinds() == ["groups.opened"], "the deal announced")
    data = room.events[0]["data"]
    assert (data["deal"]["group_price_cents"], data["deal"]["left"], data["open"], data["groups"]) == (3900, 5, 0, [])
    snapshot = await room.broker.snapshot("b1")
    assert snapshot.state[f"groupdeal:{deal}"]["deal"]["deal"] == deal


async def test_a_deal_out_of_range_is_refused_naming_the_field_and_an_existing_id_is_refused(room: Room) -> None:
    with pytest.raises(LivehubError) as caught:
        await open_deal(room, group_size=1)
    assert caught.value.code == "bad_request" and caught.value.details == {"field": "group_size"}
    await open_deal(room, deal_id="gd-same")
    with pytest.raises(LivehubError) as again:
        await open_deal(room, deal_id="gd-same")
    assert again.value.code == "bad_request"


async def test_joins_within_the_interval_go_out_as_one_trailing_update_with_the_latest_state(room: Room) -> None:
    deal = await open_deal(room, group_size=5)
    started = await room.service.start("ann", deal, "q1", None, None)
    await room.until(lambda: room.kinds().count("groups.updated") == 1, "the first update, at once")
    for user in ("bo", "cy", "dee"):
        assert (await room.service.join(user, started["group"], "j1", None, None))["status"] == "joined"
    await room.until(lambda: room.kinds().count("groups.updated") == 2, "the trailing update")
    updates = [e["data"] for e in room.events if e["kind"] == "groups.updated"]
    assert [u["groups"][0]["joined"] for u in updates] == [1, 4]  # three joins, one event


async def test_a_completion_is_announced_at_once_with_the_settled_group(room: Room) -> None:
    deal = await open_deal(room, group_size=2)
    started = await room.service.start("ann", deal, "q1", None, None)
    answer = await room.service.join("bo", started["group"], "j1", None, None)
    assert (answer["status"], answer["state"], answer["joined"]) == ("completed", "completed", 2)
    await room.until(lambda: "groups.completed" in room.kinds(), "the completion")
    done = next(e["data"] for e in room.events if e["kind"] == "groups.completed")
    assert [(g["group"], g["state"]) for g in done["settled"]] == [(started["group"], "completed")]
    assert done["groups"] == [] and done["open"] == 0

    def healed() -> bool:  # one more update an interval later puts right a stale one another node sent
        kinds = room.kinds()
        return "groups.updated" in kinds[kinds.index("groups.completed") :]

    await room.until(healed, "the healing update")
    assert room.events[-1]["data"]["groups"] == []


async def test_the_state_lists_at_most_group_state_max_open_groups_but_counts_them_all(room: Room) -> None:
    deal = await open_deal(room)
    for user in ("ann", "bo", "cy"):
        await room.service.start(user, deal, "q1", None, None)
    await room.until(lambda: room.kinds().count("groups.updated") == 2, "the trailing update")
    state = (await room.broker.snapshot("b1")).state[f"groupdeal:{deal}"]
    assert (len(state["groups"]), state["open"], state["deal"]["left"]) == (2, 3, 2)


async def test_the_sweeper_expires_refunds_and_announces_groups_past_their_deadline(
    room: Room, redis: aioredis.Redis, keys: Keys
) -> None:
    deal = await open_deal(room)
    groups = room.service.groups
    old = await groups.server_time_ms() - 3_600_000
    started = await groups.start(deal, "ann", "q1", "pay-1", now_ms=old)  # its deadline passed long ago
    await room.service.sweep(["b1", "b2"])
    await room.until(lambda: "groups.expired" in room.kinds(), "the expiry")
    expired = next(e["data"] for e in room.events if e["kind"] == "groups.expired")
    assert [(g["group"], g["state"]) for g in expired["settled"]] == [(started.group_id, "expired")]
    assert expired["deal"]["left"] == 5
    refunds = await DemoRefunds(redis, keys, Scripts(redis)).published()
    assert [(r.user_id, r.payment_ref) for r in refunds] == [("ann", "pay-1")]


async def test_an_unknown_deal_or_group_is_not_found(room: Room) -> None:
    with pytest.raises(LivehubError) as caught:
        await room.service.start("ann", "no-deal", "q1", None, None)
    assert caught.value.code == "not_found"
    with pytest.raises(LivehubError) as again:
        await room.service.join("ann", "no-deal.g0123456789abcdef", "q1", None, None)
    assert again.value.code == "not_found"


async def test_the_sweeper_drops_a_deal_whose_keys_expired_from_its_venue(
    room: Room, redis: aioredis.Redis, keys: Keys
) -> None:
    kept, gone = await open_deal(room), await open_deal(room)
    await redis.delete(keys.groupdeal_spec(gone), keys.groupdeal_left(gone), keys.groupdeal_counts(gone))
    await room.service.sweep(["b1"])
    assert await room.service.groups.deal_ids_of_venues(["b1"]) == {"b1": [kept]}
