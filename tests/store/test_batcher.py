"""The pipelined script batcher (livehub.store.batcher), through Scripts(batch=True): one pipeline per loop
turn, a bounded queue, a deadline per batch, its own few connections, NOSCRIPT recovery."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

import livehub.store.batcher
from livehub.store.batcher import BatchQueueFull
from livehub.store.keys import Keys
from livehub.store.scripts import Scripts, lua_source


async def test_calls_in_one_loop_turn_travel_in_one_pipeline(redis: aioredis.Redis, keys: Keys) -> None:
    scripts = Scripts(redis, batch=True)
    calls = [scripts.run("sale_window", [keys.sale_spec(f"nope{i}")], ["start", ""]) for i in range(40)]
    answers = await asyncio.gather(*calls)
    assert scripts.batches == 1
    assert {a[0] for a in answers} == {b"not_found"}


async def test_a_batch_recovers_when_redis_lost_its_scripts(redis: aioredis.Redis, keys: Keys) -> None:
    scripts = Scripts(redis, batch=True)
    try:
        await scripts.run("sale_window", [keys.sale_spec("a")], ["end", ""])
        await redis.script_flush()
        answers = await asyncio.gather(*(scripts.run("sale_window", [keys.sale_spec(f"b{i}")], ["end", ""])
                                         for i in range(5)))  # fmt: skip
    finally:
        await scripts.aclose()
    assert [a[0] for a in answers] == [b"not_found"] * 5


# ---- the batcher's own connections ------------------------------------------------------------------------
# Redis is held with CLIENT PAUSE WRITE (EVALSHA waits in Redis, unanswered, until CLIENT UNPAUSE), so a batch
# stays in flight for exactly as long as a test needs, without timing.

END = ["end", "999999999999"]  # sale_window "end" at a time past every window below: answers the spec unchanged


@contextlib.asynccontextmanager
async def writes_paused(admin: aioredis.Redis) -> AsyncIterator[None]:
    await admin.client_pause(10_000, all=False)  # CLIENT PAUSE 10000 WRITE
    try:
        yield
    finally:
        await admin.client_unpause()


async def specs(redis: aioredis.Redis, keys: Keys, n: int) -> list[list[str]]:
    """``n`` sale specs whose sale_window answers differ: spec i answers [ok, 1000 + i, 2000 + i]."""
    for i in range(n):
        await redis.hset(keys.sale_spec(f"s{i}"), mapping={"starts_at_ms": 1000 + i, "ends_at_ms": 2000 + i})
    await redis.script_load(lua_source("sale_window"))  # no NOSCRIPT detour through the client's pool
    return [[keys.sale_spec(f"s{i}")] for i in range(n)]


def answer(i: int) -> list[Any]:
    return [b"ok", 1000 + i, 2000 + i]


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"timed out waiting for {what}")


async def connection_ids(admin: aioredis.Redis, name: str) -> list[int]:
    return sorted(int(c["id"]) for c in await admin.client_list() if c.get("name") == name)


@contextlib.asynccontextmanager
async def named_client(redis_url: str) -> AsyncIterator[tuple[aioredis.Redis, str]]:
    """A client whose connections (the batcher's included: it copies the pool's settings) carry a name."""
    name = "batcher-" + uuid.uuid4().hex[:8]
    client = aioredis.Redis.from_url(redis_url, client_name=name)
    try:
        yield client, name
    finally:
        await client.aclose()


async def test_calls_made_while_the_only_connection_is_busy_wait_and_leave_together(
    redis: aioredis.Redis, keys: Keys
) -> None:
    spec = await specs(redis, keys, 32)
    scripts = Scripts(redis, batch=True, connections=1)
    try:
        assert await scripts.run("sale_window", spec[0], END) == answer(0)
        async with writes_paused(redis):
            first = asyncio.ensure_future(scripts.run("sale_window", spec[1], END))
            await until(lambda: scripts.batches == 2, "the held batch to leave")
            later = []
            for i in range(2, 32):  # one call per loop turn, all while the only connection waits on Redis
                later.append(asyncio.ensure_future(scripts.run("sale_window", spec[i], END)))
                await asyncio.sleep(0)
            assert scripts.batches == 2 and not first.done()
        answers = await asyncio.gather(first, *later)
        assert answers == [answer(i) for i in range(1, 32)]
        assert scripts.batches == 3  # the 30 waiting calls left together, in one pipeline
    finally:
        await scripts.aclose()


async def test_the_batcher_opens_at_most_its_connections_and_calls_beyond_them_wait(
    redis: aioredis.Redis, redis_url: str, keys: Keys
) -> None:
    spec = await specs(redis, keys, 5)
    async with named_client(redis_url) as (client, name):
        scripts = Scripts(client, batch=True, connections=2)
        try:
            async with writes_paused(redis):
                calls = []
                for i in range(2):  # while the first batch is held, the second call opens the second connection
                    calls.append(asyncio.ensure_future(scripts.run("sale_window", spec[i], END)))
                    await until(lambda: scripts.batches == len(calls), "the batch to leave")
                for i in range(2, 5):
                    calls.append(asyncio.ensure_future(scripts.run("sale_window", spec[i], END)))
                    await asyncio.sleep(0)
                await asyncio.sleep(0)
                assert scripts.batches == 2  # one held batch per connection; calls 3-5 wait
                for _ in range(500):  # a batch counts when it leaves; its connection may still be connecting
                    if len(await connection_ids(redis, name)) == 2:
                        break
                    await asyncio.sleep(0.01)
                assert len(await connection_ids(redis, name)) == 2
                assert scripts.batches == 2  # and no third connection or batch meanwhile
            assert await asyncio.gather(*calls) == [answer(i) for i in range(5)]
            assert scripts.batches == 3
        finally:
            await scripts.aclose()


async def test_an_error_answer_fails_only_its_own_call_and_the_rest_of_the_batch_succeeds(
    redis: aioredis.Redis, keys: Keys
) -> None:
    spec = await specs(redis, keys, 6)
    wrong = keys.sale_spec("a-list")
    await redis.rpush(wrong, "not a hash")  # HMGET on a list: WRONGTYPE inside the script
    scripts = Scripts(redis, batch=True)
    try:
        outcomes = await asyncio.gather(
            *(scripts.run("sale_window", spec[i], END) for i in range(3)),
            scripts.run("sale_window", [wrong], END),
            *(scripts.run("sale_window", spec[i], END) for i in range(3, 6)),
            return_exceptions=True,
        )
        assert scripts.batches == 1
        assert isinstance(outcomes[3], ResponseError) and "WRONGTYPE" in str(outcomes[3])
        assert outcomes[:3] + outcomes[4:] == [answer(i) for i in range(6)]
        # the connection is still in step: the next batch's answers belong to their own calls
        assert await asyncio.gather(*(scripts.run("sale_window", spec[i], END) for i in (5, 0, 3))) == [
            answer(5), answer(0), answer(3)]  # fmt: skip
        assert scripts.batches == 2
    finally:
        await scripts.aclose()


async def test_a_caller_that_gives_up_does_not_shift_the_answers_of_the_others(
    redis: aioredis.Redis, keys: Keys
) -> None:
    spec = await specs(redis, keys, 4)
    scripts = Scripts(redis, batch=True, connections=1)
    try:
        async with writes_paused(redis):
            calls = [asyncio.ensure_future(scripts.run("sale_window", spec[i], END)) for i in range(4)]
            await until(lambda: scripts.batches == 1, "the batch to leave")
            calls[1].cancel()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        assert isinstance(outcomes[1], asyncio.CancelledError)
        assert [outcomes[0], outcomes[2], outcomes[3]] == [answer(0), answer(2), answer(3)]
        assert await scripts.run("sale_window", spec[1], END) == answer(1)
    finally:
        await scripts.aclose()


async def test_a_killed_connection_fails_its_in_flight_calls_and_the_next_calls_reconnect(
    redis: aioredis.Redis, redis_url: str, keys: Keys
) -> None:
    spec = await specs(redis, keys, 10)
    async with named_client(redis_url) as (client, name):
        scripts = Scripts(client, batch=True, connections=1)
        try:
            assert await scripts.run("sale_window", spec[0], END) == answer(0)
            [victim] = await connection_ids(redis, name)
            async with writes_paused(redis):
                in_flight = [asyncio.ensure_future(scripts.run("sale_window", spec[i], END)) for i in range(1, 5)]
                await until(lambda: scripts.batches == 2, "the batch to leave")
                assert await redis.client_kill_filter(_id=str(victim)) == 1
                outcomes = await asyncio.gather(*in_flight, return_exceptions=True)
            assert all(isinstance(o, RedisError) for o in outcomes), outcomes

            answers = await asyncio.gather(*(scripts.run("sale_window", spec[i], END) for i in range(5, 10)))
            assert answers == [answer(i) for i in range(5, 10)]
            [again] = await connection_ids(redis, name)
            assert again != victim  # a new connection, opened by the batcher itself
        finally:
            await scripts.aclose()


async def test_a_batch_past_its_deadline_fails_and_its_late_answers_never_reach_the_next_calls(
    redis: aioredis.Redis, redis_url: str, keys: Keys
) -> None:
    spec = await specs(redis, keys, 8)
    # the batcher's deadline per batch: it counts from submission, so the warm-up call below pays the
    # connect and the script load within it; generous for a loaded machine, and the paused calls wait it out
    client = aioredis.Redis.from_url(redis_url, socket_timeout=1.5)
    scripts = Scripts(client, batch=True, connections=1)
    try:
        assert await scripts.run("sale_window", spec[0], END) == answer(0)
        async with writes_paused(redis):  # held past the deadline; Redis runs them once unpaused
            late = [asyncio.ensure_future(scripts.run("sale_window", spec[i], END)) for i in range(1, 4)]
            outcomes = await asyncio.gather(*late, return_exceptions=True)
        assert all(isinstance(o, RedisError) for o in outcomes), outcomes

        answers = await asyncio.gather(*(scripts.run("sale_window", spec[i], END) for i in range(4, 8)))
        assert answers == [answer(i) for i in range(4, 8)]
    finally:
        await scripts.aclose()
        await client.aclose()


async def test_calls_beyond_max_queued_fail_at_once_while_the_queued_ones_are_answered(
    redis: aioredis.Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(livehub.store.batcher, "MAX_QUEUED", 5)
    spec = await specs(redis, keys, 8)
    scripts = Scripts(redis, batch=True, connections=1)
    try:
        async with writes_paused(redis):
            held = asyncio.ensure_future(scripts.run("sale_window", spec[0], END))
            await until(lambda: scripts.batches == 1, "the held batch to leave")
            queued = [asyncio.ensure_future(scripts.run("sale_window", spec[i], END)) for i in range(1, 6)]
            await asyncio.sleep(0)
            over = asyncio.ensure_future(scripts.run("sale_window", spec[6], END))
            await asyncio.sleep(0)
            assert over.done(), "a call past MAX_QUEUED fails at once, without waiting for Redis"
            assert isinstance(over.exception(), BatchQueueFull)
            assert isinstance(over.exception(), RedisError)  # callers answer it as "unavailable"
            assert not held.done() and not any(q.done() for q in queued)
        assert await asyncio.gather(held, *queued) == [answer(i) for i in range(6)]
        assert await scripts.run("sale_window", spec[7], END) == answer(7)  # room again
    finally:
        await scripts.aclose()


async def test_aclose_closes_the_batchers_connections_and_leaves_the_clients_pool_alone(
    redis: aioredis.Redis, redis_url: str, keys: Keys
) -> None:
    spec = await specs(redis, keys, 3)
    async with named_client(redis_url) as (client, name):
        scripts = Scripts(client, batch=True, connections=3)
        async with writes_paused(redis):  # three held batches: one on each of three connections
            calls = []
            for i in range(3):
                calls.append(asyncio.ensure_future(scripts.run("sale_window", spec[i], END)))
                await until(lambda: scripts.batches == len(calls), "the batch to leave")
        assert await asyncio.gather(*calls) == [answer(i) for i in range(3)]
        assert len(await connection_ids(redis, name)) == 3

        await scripts.aclose()

        for _ in range(500):
            if not await connection_ids(redis, name):
                break
            await asyncio.sleep(0.01)
        assert await connection_ids(redis, name) == []
        assert await client.ping()
