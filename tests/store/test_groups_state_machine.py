"""Property-based test of the group-buy life cycle: start, join, retry, time passing, two sweepers racing.

A model of the deal runs next to the real Redis scripts; after every step the answers must
match the model and the invariants must hold: groups == left + open + completed, every group
in exactly one state, a user at most once in a group, a group complete exactly when it has N
paid members, orders == members of completed groups (each once), refunds == members of
expired groups (each once).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis.asyncio as aioredis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from livehub.domain.group_rules import GroupDealSpec, JoinCode
from livehub.store.groups import GroupStore
from livehub.store.keys import Keys
from livehub.store.orders import OrderStore
from livehub.store.refunds import DemoRefunds
from livehub.store.scripts import Scripts

T = TypeVar("T")
START = 1_800_000_000_000
END = START + 300_000
TTL_MS = 60_000
SIZE, GROUPS = 3, 3
USERS = ("ann", "bo", "cy", "dee")


@dataclass
class ModelGroup:
    group_id: str
    deadline: int
    members: dict[str, str] = field(default_factory=dict)  # user -> request id
    state: str = "open"


class GroupLifecycle(RuleBasedStateMachine):
    redis_url = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.prefix = "t" + uuid.uuid4().hex[:10]
        self.client = aioredis.Redis.from_url(self.redis_url)
        self.keys = Keys(self.prefix)
        self.nodes = []
        for _ in range(2):
            scripts = Scripts(self.client)
            orders = OrderStore(self.client, self.keys, scripts=scripts)
            refunds = DemoRefunds(self.client, self.keys, scripts)
            self.nodes.append(GroupStore(self.client, self.keys, scripts, orders, refunds))
        self.refunds = DemoRefunds(self.client, self.keys, Scripts(self.client))
        self.now = START
        self.left = GROUPS
        self.groups: dict[str, ModelGroup] = {}
        self.starts: dict[tuple[str, int], str] = {}  # (user, request) -> group id
        spec = GroupDealSpec("d", "v", "b", "k", SIZE, 700, GROUPS, START, END, TTL_MS // 1000)
        assert self.run(self.nodes[0].create(spec))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        async def clean() -> None:
            found = [key async for key in self.client.scan_iter(match=f"{self.prefix}:*", count=1_000)]
            if found:
                await self.client.delete(*found)
            await self.client.aclose()

        self.run(clean())
        self.loop.close()

    @rule(ms=st.one_of(st.integers(0, 3), st.sampled_from([1_000, TTL_MS - 1, TTL_MS, TTL_MS + 1, 2 * TTL_MS])))
    def time_passes(self, ms: int) -> None:
        self.now += ms

    @rule(user=st.sampled_from(USERS), request=st.integers(0, 3), node=st.integers(0, 1))
    def start(self, user: str, request: int, node: int) -> None:
        result = self.run(self.nodes[node].start("d", user, f"s{request}", f"p-{user}-{request}", now_ms=self.now))
        known = self.starts.get((user, request))
        if known is not None:
            expected = JoinCode.DUPLICATE
        elif self.now >= END:
            expected = JoinCode.ENDED
        elif self.left == 0:
            expected = JoinCode.NO_STOCK
        else:
            expected = JoinCode.JOINED
        assert result.code is expected, (result, expected)
        if expected is JoinCode.JOINED:
            self.left -= 1
            self.starts[(user, request)] = result.group_id
            self.groups[result.group_id] = ModelGroup(result.group_id, self.now + TTL_MS, {user: f"s{request}"})
        if expected is JoinCode.DUPLICATE:
            assert result.group_id == known

    @rule(pick=st.integers(min_value=0), user=st.sampled_from(USERS), request=st.integers(0, 1), node=st.integers(0, 1))
    def join(self, pick: int, user: str, request: int, node: int) -> None:
        if not self.groups:
            return
        group = list(self.groups.values())[pick % len(self.groups)]
        result = self.run(self.nodes[node].join(group.group_id, user, f"j{request}", f"p-{user}", now_ms=self.now))
        if user in group.members:
            expected = JoinCode.DUPLICATE if group.members[user] == f"j{request}" else JoinCode.ALREADY_MEMBER
        elif group.state == "completed":
            expected = JoinCode.FULL
        elif group.state == "expired" or self.now > group.deadline:
            expected = JoinCode.EXPIRED
        else:
            group.members[user] = f"j{request}"
            expected = JoinCode.JOINED if len(group.members) < SIZE else JoinCode.COMPLETED
            if expected is JoinCode.COMPLETED:
                group.state = "completed"
        assert result.code is expected, (result, expected)
        assert result.group is not None and result.group.joined == len(group.members)

    @rule()
    def two_sweepers_race(self) -> None:
        async def sweep() -> list[list[str]]:
            return list(await asyncio.gather(*(n.expire_due("d", 50, now_ms=self.now) for n in self.nodes)))

        due = {g.group_id for g in self.groups.values() if g.state == "open" and g.deadline < self.now}
        first, second = self.run(sweep())
        assert not set(first) & set(second) and set(first) | set(second) == due  # each due group once
        for group_id in due:
            self.groups[group_id].state = "expired"
            self.left += 1

    @invariant()
    def redis_matches_the_model(self) -> None:
        k, models = self.keys, list(self.groups.values())
        pipe = self.client.pipeline(transaction=False)
        pipe.get(k.groupdeal_left("d"))
        pipe.hmget(k.groupdeal_counts("d"), ["open", "completed"])
        pipe.zrange(k.groupdeal_deadlines("d"), 0, -1)
        pipe.xrange(k.orders_stream())
        for g in models:
            pipe.hmget(k.group("d", g.group_id), ["state", "joined"])
            pipe.hkeys(k.group_members("d", g.group_id))
        left, (open_, completed), deadlines, orders, *per_group = self.run(pipe.execute())
        model_open = sum(1 for g in models if g.state == "open")
        model_completed = sum(1 for g in models if g.state == "completed")
        assert (int(left), int(open_), int(completed)) == (self.left, model_open, model_completed)
        assert int(left) + int(open_) + int(completed) == GROUPS
        assert {m.decode() for m in deadlines} == {g.group_id for g in models if g.state == "open"}
        for g, (state, joined), users in zip(models, per_group[::2], per_group[1::2], strict=True):
            assert (state.decode(), int(joined)) == (g.state, len(g.members))
            assert {u.decode() for u in users} == set(g.members)
            assert (g.state == "completed") == (len(g.members) == SIZE)
        expected_orders = sorted((g.group_id, u) for g in models if g.state == "completed" for u in g.members)
        assert sorted((f[b"reservation_id"].decode(), f[b"user"].decode()) for _id, f in orders) == expected_orders
        refunds = self.run(self.refunds.published())
        expected_refunds = sorted((g.group_id, u) for g in models if g.state == "expired" for u in g.members)
        assert sorted((r.group_id, r.user_id) for r in refunds) == expected_refunds


def test_group_buy_life_cycle_keeps_its_invariants(redis_url: str) -> None:
    GroupLifecycle.redis_url = redis_url
    run_state_machine_as_test(
        GroupLifecycle,
        settings=settings(max_examples=60, stateful_step_count=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]),
    )  # fmt: skip
