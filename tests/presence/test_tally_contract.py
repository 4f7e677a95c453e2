"""The Tally contract: one suite, run against MemoryTally and RedisTally (on the session's real Redis).

Each "node" of a test is a tally of its own on a shared backend (one MemoryBoard, or one Redis and key prefix),
as the nodes of a festival are."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from livehub.presence.memory import MemoryBoard, MemoryTally
from livehub.presence.redis_tally import RedisTally
from livehub.presence.tally import Tally

INTERVAL_S = 1.0
T0 = 1_700_000_000_000


@dataclass
class Harness:
    node: Callable[[str], Tally]  # the tally of node ``id`` on the shared backend
    nodes_reported: Callable[[str], Awaitable[set[str]]]  # the node ids holding a count of a venue


@pytest.fixture(params=["memory", "redis"])
def h(request: pytest.FixtureRequest) -> Harness:
    if request.param == "memory":
        board = MemoryBoard()

        async def memory_nodes(venue: str) -> set[str]:
            return set(board.online.get(venue, {}))

        return Harness(lambda node: MemoryTally(node, INTERVAL_S, board), memory_nodes)
    redis = request.getfixturevalue("redis")
    keys = request.getfixturevalue("keys")

    async def redis_nodes(venue: str) -> set[str]:
        return {f.decode() for f in await redis.hkeys(keys.online(venue))}

    return Harness(lambda node: RedisTally(redis, keys, node, INTERVAL_S), redis_nodes)


async def test_a_first_report_returns_the_nodes_own_count_and_no_likes(h: Harness) -> None:
    assert await h.node("n1").report({"main": 3}, {}, T0) == {"main": (3, 0)}


async def test_online_counts_of_nodes_sum_per_venue(h: Harness) -> None:
    n1, n2 = h.node("n1"), h.node("n2")
    await n1.report({"main": 3, "b1": 1}, {}, T0)
    assert await n2.report({"main": 4, "b2": 2}, {}, T0 + 10) == {"main": (7, 0), "b2": (2, 0)}
    assert await n1.report({"main": 3, "b1": 1}, {}, T0 + 20) == {"main": (7, 0), "b1": (1, 0)}


async def test_a_nodes_later_report_replaces_its_count(h: Harness) -> None:
    n1 = h.node("n1")
    await n1.report({"main": 5}, {}, T0)
    assert await n1.report({"main": 2}, {}, T0 + 1000) == {"main": (2, 0)}
    assert await n1.report({"main": 0}, {}, T0 + 2000) == {"main": (0, 0)}


async def test_likes_add_up_across_reports_and_nodes(h: Harness) -> None:
    n1, n2 = h.node("n1"), h.node("n2")
    assert await n1.report({"main": 1}, {"main": 5}, T0) == {"main": (1, 5)}
    assert await n2.report({"main": 1}, {"main": 2}, T0) == {"main": (2, 7)}
    assert await n1.report({"main": 1}, {}, T0 + 1000) == {"main": (2, 7)}  # read without adding


async def test_likes_for_a_venue_not_reported_are_added_but_not_returned(h: Harness) -> None:
    n1 = h.node("n1")
    assert await n1.report({}, {"b1": 4}, T0) == {}
    assert await n1.report({"b1": 0}, {"b1": 1}, T0 + 1000) == {"b1": (0, 5)}


async def test_a_count_older_than_three_intervals_is_ignored_and_removed(h: Harness) -> None:
    dead, live = h.node("dead"), h.node("live")
    await dead.report({"main": 100}, {}, T0)
    assert await live.report({"main": 1}, {}, T0 + 3001) == {"main": (1, 0)}
    assert await h.nodes_reported("main") == {"live"}


async def test_a_count_three_intervals_old_still_counts(h: Harness) -> None:
    quiet, live = h.node("quiet"), h.node("live")
    await quiet.report({"main": 100}, {}, T0)
    assert await live.report({"main": 1}, {}, T0 + 3000) == {"main": (101, 0)}
    assert await h.nodes_reported("main") == {"quiet", "live"}


async def test_withdraw_removes_the_nodes_counts_at_once(h: Harness) -> None:
    n1, n2 = h.node("n1"), h.node("n2")
    await n1.report({"main": 3, "b1": 3}, {}, T0)
    await n2.report({"main": 4}, {}, T0)
    await n1.withdraw(["main", "b1", "b2"])  # b2: never reported, harmless
    assert await h.nodes_reported("b1") == set()
    assert await n2.report({"main": 4}, {}, T0 + 10) == {"main": (4, 0)}


async def test_withdraw_keeps_the_likes(h: Harness) -> None:
    n1 = h.node("n1")
    await n1.report({"main": 1}, {"main": 9}, T0)
    await n1.withdraw(["main"])
    assert await h.node("n2").report({"main": 1}, {}, T0 + 10) == {"main": (1, 9)}
