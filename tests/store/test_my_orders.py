"""A buyer's "my orders" index on a real Redis (livehub.store.my_orders): noted before the answer, taken
back only when every attempt failed, bounded, pruned only when it points at nothing for long."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from livehub.domain.sale_rules import BuyRequest, SaleSpec
from livehub.store.keys import Keys
from livehub.store.my_orders import RESERVATION, Entry, UserOrders, member
from livehub.store.sales import SaleStore
from livehub.store.scripts import Scripts

T0 = 1_700_000_000_000


@pytest.fixture
def index(redis: aioredis.Redis, keys: Keys) -> UserOrders:
    return UserOrders(redis, keys, Scripts(redis), max_entries=3, grace_ms=60_000, ttl_ms=3_600_000)


async def ids(index: UserOrders, user: str = "u1") -> list[str]:
    return [e.id for e in await index.entries(user)]


async def test_entries_come_newest_first_with_their_kind_and_venue(index: UserOrders) -> None:
    await index.note("u1", RESERVATION, "b1", "s1:r1", T0)
    await index.note("u1", "group_buy", "b2", "g7", T0 + 1)

    assert await index.entries("u1") == [Entry("group_buy", "b2", "g7", T0 + 1), Entry(RESERVATION, "b1", "s1:r1", T0)]
    assert await index.entries("u2") == []


async def test_noting_again_keeps_the_first_time(index: UserOrders) -> None:
    await index.note("u1", RESERVATION, "b1", "s1:r1", T0)
    await index.note("u1", RESERVATION, "b1", "s1:r1", T0 + 500)  # a retry of the same buy

    assert await index.entries("u1") == [Entry(RESERVATION, "b1", "s1:r1", T0)]


async def test_a_failed_attempt_takes_its_entry_back(index: UserOrders) -> None:
    await index.note("u1", RESERVATION, "b1", "s1:r1", T0)
    await index.drop("u1", RESERVATION, "b1", "s1:r1")

    assert await ids(index) == []


async def test_a_failing_retry_racing_a_succeeding_attempt_never_removes_the_entry(index: UserOrders) -> None:
    await index.note("u1", RESERVATION, "b1", "s1:r1", T0)  # attempt A (it will succeed: never dropped)
    await index.note("u1", RESERVATION, "b1", "s1:r1", T0)  # attempt B, same request id (it fails)
    await index.drop("u1", RESERVATION, "b1", "s1:r1")

    assert await ids(index) == ["s1:r1"]


async def test_the_oldest_entries_beyond_the_limit_are_trimmed(
    index: UserOrders, redis: aioredis.Redis, keys: Keys
) -> None:
    for i in range(5):
        await index.note("u1", RESERVATION, "b1", f"s1:r{i}", T0 + i)

    assert await ids(index) == ["s1:r4", "s1:r3", "s1:r2"]
    assert await redis.hlen(keys.user_orders_pending("u1")) == 3  # the trimmed ones' counts go with them
    assert 0 < await redis.pttl(keys.user_orders("u1")) <= 3_600_000


async def test_only_entries_older_than_the_grace_are_pruned(index: UserOrders) -> None:
    for i, at in enumerate((T0, T0 + 50_000)):
        await index.note("u1", RESERVATION, "b1", f"s1:r{i}", at)
    gone = await index.entries("u1")

    assert await index.prune("u1", gone, now_ms=T0 + 70_000) == 1  # r1 (20 s old) may be a buy still running

    assert await ids(index) == ["s1:r1"]


def test_an_entrys_kind_and_venue_cannot_hold_the_separator() -> None:
    assert member(RESERVATION, "b1", "s1:r|x") == "reservation|b1|s1:r|x"
    with pytest.raises(ValueError):
        member("a|b", "b1", "x")


async def test_reservations_are_read_from_their_sales_in_one_go(
    index: UserOrders, redis: aioredis.Redis, keys: Keys
) -> None:
    sales = SaleStore(redis, keys, Scripts(redis))
    await sales.create(SaleSpec("s1", "b1", "b1", "sku1", 10, 500, 1, T0, T0 + 600_000, 60))
    buy = await sales.buy("s1", "u1", BuyRequest("q1"), now_ms=T0)
    assert buy.reservation is not None
    rid = buy.reservation.reservation_id

    found = await index.reservations([rid, "s1:r" + "0" * 32, "junk"])

    assert [r.reservation_id if r else None for r in found] == [rid, None, None]
    assert await index.sale_skus(["s1", "s1", "nope"]) == {"s1": "sku1"}


def interleavings(attempts: int) -> list[list[tuple[str, int]]]:
    """Every order of the events ("note", i), ("end", i) of ``attempts`` attempts, each noting before it ends."""
    out: list[list[tuple[str, int]]] = []

    def walk(done: list[tuple[str, int]], noted: set[int], ended: set[int]) -> None:
        if len(ended) == attempts:
            out.append(done)
            return
        for i in range(attempts):
            if i not in noted:
                walk([*done, ("note", i)], noted | {i}, ended)
            elif i not in ended:
                walk([*done, ("end", i)], noted, ended | {i})

    walk([], set(), set())
    return out


async def test_in_every_interleaving_of_three_attempts_the_entry_stays_exactly_when_one_succeeded(
    index: UserOrders,
) -> None:
    checked = 0
    for outcomes in ((True, False, False), (False, True, False), (False, False, False), (True, True, False)):
        for n, events in enumerate(interleavings(3)):
            user, acknowledged = f"u{checked}-{n}", False
            for event, i in events:
                if event == "note":
                    await index.note(user, RESERVATION, "b1", "s1:r1", T0)
                elif not outcomes[i]:  # a failed attempt takes its note back; a success never does
                    await index.drop(user, RESERVATION, "b1", "s1:r1")
                acknowledged = acknowledged or (event == "end" and outcomes[i])
                if acknowledged:  # from the success's answer on, the entry is listed after every event
                    assert await ids(index, user) == ["s1:r1"], (outcomes, events)
            assert (await ids(index, user) == ["s1:r1"]) == any(outcomes), (outcomes, events)
            checked += 1
    assert checked == 4 * 90  # 6! / 2^3 orders of three attempts' two events
