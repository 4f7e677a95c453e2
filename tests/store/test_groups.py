"""Group buys on a real Redis (livehub.store.groups): start, join, complete, expire, refund."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from livehub.domain.attribution import GuideCredit
from livehub.domain.group_rules import GroupDealSpec, JoinCode, Refund, member_order_id, refund_id
from livehub.store.groups import GroupStore
from livehub.store.keys import Keys
from livehub.store.orders import OrderStore
from livehub.store.refunds import DemoRefunds, RefundStream
from livehub.store.scripts import Scripts

NOW = 1_800_000_000_000
TTL_S = 60


def deal(deal_id: str = "d1", size: int = 3, groups: int = 2, **changes: object) -> GroupDealSpec:
    fields: dict[str, object] = dict(
        deal_id=deal_id, venue="b1", brand="acme", sku="b1-sku1", group_size=size, group_price_cents=4900,
        groups=groups, created_at_ms=NOW, ends_at_ms=NOW + 600_000, group_ttl_s=TTL_S,
    )  # fmt: skip
    fields.update(changes)
    return GroupDealSpec(**fields)  # type: ignore[arg-type]


def store(redis: aioredis.Redis, keys: Keys, refunds: RefundStream | None = None) -> GroupStore:
    scripts = Scripts(redis)
    orders = OrderStore(redis, keys, scripts=scripts)
    return GroupStore(redis, keys, scripts, orders, refunds or DemoRefunds(redis, keys, scripts))


@pytest.fixture
def groups(redis: aioredis.Redis, keys: Keys) -> GroupStore:
    return store(redis, keys)


async def started(groups: GroupStore, user: str = "ann", deal_id: str = "d1") -> str:
    result = await groups.start(deal_id, user, "q1", f"pay-{user}", now_ms=NOW + 1)
    assert result.code is JoinCode.JOINED, result
    return result.group_id


async def orders_in_stream(redis: aioredis.Redis, keys: Keys) -> list[dict[bytes, bytes]]:
    return [fields for _id, fields in await redis.xrange(keys.orders_stream())]


async def test_a_deal_is_opened_once_and_listed_in_its_venue(groups: GroupStore) -> None:
    assert await groups.create(deal())
    assert not await groups.create(deal(groups=9))
    state = await groups.get_state("d1")
    assert state is not None and (state.left, state.spec.groups, state.balanced) == (2, 2, True)
    assert await groups.deal_ids_of_venues(["b1", "b2"]) == {"b1": ["d1"]}


async def test_starting_a_group_takes_one_from_the_stock_and_makes_the_starter_its_first_member(
    groups: GroupStore,
) -> None:
    await groups.create(deal())
    group_id = await started(groups)
    group = await groups.get_group(group_id)
    assert group is not None
    assert (group.status, group.joined, group.size, group.deadline_ms) == ("open", 1, 3, NOW + 1 + TTL_S * 1000)
    assert [m.user_id for m in await groups.members(group_id)] == ["ann"]
    state = await groups.get_state("d1")
    assert state is not None and (state.left, state.open, state.balanced) == (1, 1, True)
    assert [g.group_id for g in await groups.open_groups("d1")] == [group_id]


async def test_a_retried_start_answers_duplicate_with_the_same_group(groups: GroupStore) -> None:
    await groups.create(deal())
    group_id = await started(groups)
    again = await groups.start("d1", "ann", "q1", "pay-ann", now_ms=NOW + 5)
    assert (again.code, again.group_id) == (JoinCode.DUPLICATE, group_id)
    state = await groups.get_state("d1")
    assert state is not None and state.left == 1


async def test_starts_beyond_the_stock_answer_no_stock_and_after_the_window_ended(groups: GroupStore) -> None:
    await groups.create(deal(groups=1))
    await started(groups)
    assert (await groups.start("d1", "bo", "q1", now_ms=NOW + 2)).code is JoinCode.NO_STOCK
    assert (await groups.start("d1", "bo", "q2", now_ms=NOW + 600_000)).code is JoinCode.ENDED
    assert (await groups.start("nope", "bo", "q1", now_ms=NOW)).code is JoinCode.NOT_FOUND


async def test_the_group_completes_exactly_at_the_nth_paid_member_and_every_order_is_published_once(
    redis: aioredis.Redis, keys: Keys, groups: GroupStore
) -> None:
    await groups.create(deal())
    group_id = await started(groups)
    second = await groups.join(group_id, "bo", "j1", "pay-bo", now_ms=NOW + 10)
    assert second.code is JoinCode.JOINED and second.group is not None and second.group.joined == 2
    assert await orders_in_stream(redis, keys) == []  # not yet: two of three
    guide = GuideCredit("g1", "st1")
    third = await groups.join(group_id, "cy", "j1", "pay-cy", guide=guide, now_ms=NOW + 20)
    assert third.code is JoinCode.COMPLETED and third.group is not None
    assert (third.group.status, third.group.joined, third.group.settled_at_ms) == ("completed", 3, NOW + 20)
    orders = await orders_in_stream(redis, keys)
    assert sorted(o[b"user"] for o in orders) == [b"ann", b"bo", b"cy"]
    expected = {member_order_id("d1", group_id, u) for u in ("ann", "bo", "cy")}
    assert {o[b"order_id"].decode() for o in orders} == expected
    assert {o[b"payment_ref"] for o in orders} == {b"pay-ann", b"pay-bo", b"pay-cy"}
    assert all(o[b"amount_cents"] == b"4900" and o[b"sale_id"] == b"d1" for o in orders)
    assert [o[b"guide_id"] for o in orders if o[b"user"] == b"cy"] == [b"g1"]
    await groups.apply("d1", [f"completed:{group_id}"])  # a relay after a crash: nothing twice
    assert len(await orders_in_stream(redis, keys)) == 3
    state = await groups.get_state("d1")
    assert state is not None and (state.left, state.open, state.completed, state.balanced) == (1, 0, 1, True)
    assert await groups.open_groups("d1") == []
    assert await groups.outbox_size("d1") == 0


async def test_a_user_joins_a_group_at_most_once(groups: GroupStore) -> None:
    await groups.create(deal())
    group_id = await started(groups)
    assert (await groups.join(group_id, "ann", "j9", now_ms=NOW + 2)).code is JoinCode.ALREADY_MEMBER
    assert (await groups.join(group_id, "bo", "j1", now_ms=NOW + 3)).code is JoinCode.JOINED
    assert (await groups.join(group_id, "bo", "j1", now_ms=NOW + 4)).code is JoinCode.DUPLICATE
    assert (await groups.join(group_id, "bo", "j2", now_ms=NOW + 5)).code is JoinCode.ALREADY_MEMBER
    group = await groups.get_group(group_id)
    assert group is not None and group.joined == 2


async def test_many_concurrent_joins_of_one_user_make_one_member(groups: GroupStore) -> None:
    await groups.create(deal(size=5))
    group_id = await started(groups)
    answers = await asyncio.gather(*(groups.join(group_id, "bo", f"j{i}", now_ms=NOW + 2) for i in range(10)))
    assert sorted(a.code for a in answers) == sorted([JoinCode.JOINED] + [JoinCode.ALREADY_MEMBER] * 9)
    assert [m.user_id for m in await groups.members(group_id)] == ["ann", "bo"]


async def test_joining_a_complete_group_answers_full_and_a_late_join_expired(groups: GroupStore) -> None:
    await groups.create(deal(size=2))
    full = await started(groups)
    assert (await groups.join(full, "bo", "j1", now_ms=NOW + 2)).code is JoinCode.COMPLETED
    assert (await groups.join(full, "cy", "j1", now_ms=NOW + 3)).code is JoinCode.FULL
    late = await started(groups, "dee")
    deadline = NOW + 1 + TTL_S * 1000
    assert (await groups.join(late, "cy", "j1", now_ms=deadline + 1)).code is JoinCode.EXPIRED  # before any sweep
    assert (await groups.join("d1.g0000000000000000", "cy", "j1", now_ms=NOW)).code is JoinCode.NOT_FOUND
    assert (await groups.join("not-a-group", "cy", "j1", now_ms=NOW)).code is JoinCode.NOT_FOUND


async def test_expiry_refunds_every_member_once_and_returns_the_group_to_the_stock(
    redis: aioredis.Redis, keys: Keys, groups: GroupStore
) -> None:
    await groups.create(deal())
    group_id = await started(groups)
    await groups.join(group_id, "bo", "j1", "pay-bo", now_ms=NOW + 2)
    deadline = NOW + 1 + TTL_S * 1000
    assert await groups.expire_due("d1", now_ms=deadline) == []  # at the deadline a join still counts
    assert await groups.expire_due("d1", now_ms=deadline + 1) == [group_id]
    assert await groups.expire_due("d1", now_ms=deadline + 2) == []
    refunds = DemoRefunds(redis, keys, Scripts(redis))
    published = await refunds.published()
    assert sorted((r.user_id, r.amount_cents, r.payment_ref) for r in published) == [
        ("ann", 4900, "pay-ann"), ("bo", 4900, "pay-bo")]  # fmt: skip
    assert await refunds.settled(refund_id(group_id, "bo")) == f"demo-refund:{refund_id(group_id, 'bo')}"
    await groups.apply("d1", [f"expired:{group_id}"])  # a relay after a crash: nothing twice
    assert len(await refunds.published()) == 2
    state = await groups.get_state("d1")
    assert state is not None and (state.left, state.open, state.expired, state.balanced) == (2, 0, 1, True)
    assert (await groups.join(group_id, "cy", "j1", now_ms=NOW + 3)).code is JoinCode.EXPIRED
    assert await orders_in_stream(redis, keys) == []


async def test_two_sweepers_racing_refund_every_member_exactly_once(redis: aioredis.Redis, keys: Keys) -> None:
    first, second = store(redis, keys), store(redis, keys)
    await first.create(deal(groups=20, size=4))
    for n in range(20):
        group_id = await started(first, f"u{n}")
        for m in range(n % 3):
            assert (await first.join(group_id, f"v{n}-{m}", "j", now_ms=NOW + 2)).code is JoinCode.JOINED
    after = NOW + 1 + TTL_S * 1000 + 1
    a, b = await asyncio.gather(first.expire_due("d1", limit=7, now_ms=after), second.expire_due("d1", now_ms=after))
    a += await first.expire_due("d1", now_ms=after)
    assert not set(a) & set(b) and len(a) + len(b) == 20
    refunds = await RefundStream(redis, keys, Scripts(redis)).published()
    assert len(refunds) == len({r.refund_id for r in refunds}) == sum(1 + n % 3 for n in range(20))
    state = await first.get_state("d1")
    assert state is not None and (state.left, state.expired, state.balanced) == (20, 20, True)


async def test_the_last_join_racing_the_sweeper_has_one_winner(redis: aioredis.Redis, keys: Keys) -> None:
    groups = store(redis, keys)
    await groups.create(deal(size=2, groups=30))
    deadline = NOW + 1 + TTL_S * 1000
    ids = [await started(groups, f"u{n}") for n in range(30)]
    joins = [groups.join(g, "late", "j", now_ms=deadline) for g in ids]  # in time for the join ...
    sweep = store(redis, keys).expire_due("d1", now_ms=deadline + 1)  # ... but the sweeper is past it
    *answers, expired = await asyncio.gather(*joins, sweep)
    completed = {g for g, a in zip(ids, answers, strict=True) if a.code is JoinCode.COMPLETED}
    assert completed | set(expired) == set(ids) and not completed & set(expired)
    state = await groups.get_state("d1")
    assert state is not None and state.balanced
    assert (state.completed, state.expired) == (len(completed), len(expired))


async def test_an_effect_left_by_a_dead_node_is_relayed_by_the_sweeper(redis: aioredis.Redis, keys: Keys) -> None:
    groups = store(redis, keys)
    await groups.create(deal(size=2))
    group_id = await started(groups)
    await groups.join(group_id, "bo", "j1", now_ms=NOW + 2)
    await redis.delete(keys.orders_stream(), *[keys.order_published(member_order_id("d1", group_id, u))
                                               for u in ("ann", "bo")])  # fmt: skip
    await redis.zadd(keys.groupdeal_outbox("d1"), {f"completed:{group_id}": NOW + 2})  # as a crash leaves it
    assert await groups.relay("d1", now_ms=NOW + 1_000) == 0  # too fresh: its node may still be on it
    assert await groups.relay("d1", now_ms=NOW + 10_000) == 1
    assert len(await orders_in_stream(redis, keys)) == 2
    assert await groups.outbox_size("d1") == 0


async def test_every_key_of_a_deal_expires_after_the_last_deadline_plus_retention(
    redis: aioredis.Redis, keys: Keys, groups: GroupStore
) -> None:
    spec = deal()
    await groups.create(spec)
    group_id = await started(groups)
    keep_until = spec.last_deadline_ms + 1000 * groups.retention_s
    deal_keys = [keys.groupdeal_spec("d1"), keys.groupdeal_left("d1"), keys.groupdeal_counts("d1"),
                 keys.groupdeal_deadlines("d1"), keys.group("d1", group_id),
                 keys.group_members("d1", group_id)]  # fmt: skip
    for key in deal_keys:
        seconds, micros = await redis.time()  # PEXPIRETIME needs Redis 7: the TTL from Redis' own clock
        left_ms = keep_until - (int(seconds) * 1000 + int(micros) // 1000)
        assert left_ms - 60_000 < await redis.pttl(key) <= left_ms, key


class FlakyRefunds(DemoRefunds):
    """The demo's refunds, with the provider's side down for the first hand-over."""

    fail = 1

    async def refund(self, refund: Refund) -> bool:
        if self.fail:
            self.fail -= 1
            raise RedisConnectionError("the refunds stream is unreachable")
        return await super().refund(refund)


async def test_a_refund_that_fails_stays_in_the_outbox_and_the_relay_pays_it_once(
    redis: aioredis.Redis, keys: Keys
) -> None:
    groups = store(redis, keys, FlakyRefunds(redis, keys, Scripts(redis)))
    await groups.create(deal())
    group_id = await started(groups)
    after = NOW + 1 + TTL_S * 1000 + 1
    assert await groups.expire_due("d1", now_ms=after) == [group_id]  # expired even though the refund failed
    assert await groups.outbox_size("d1") == 1
    assert await groups.relay("d1", now_ms=after + 10_000) == 1
    refunds = await RefundStream(redis, keys, Scripts(redis)).published()
    assert [(r.refund_id, r.user_id) for r in refunds] == [(refund_id(group_id, "ann"), "ann")]
    assert await groups.outbox_size("d1") == 0
