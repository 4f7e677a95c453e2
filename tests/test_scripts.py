"""Lua scripts: registered once, batched per loop turn, reloaded after Redis forgets them."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from livehub.keys import Keys
from livehub.scripts import Scripts, lua_source


def test_every_script_file_starts_with_its_keys_and_argv_header() -> None:
    from importlib import resources

    for path in resources.files("livehub").joinpath("lua").iterdir():
        head = lua_source(path.name.removesuffix(".lua"))[:2000]
        assert "KEYS[1]" in head and "ARGV[1]" in head, path.name


async def test_calls_in_one_loop_turn_travel_in_one_pipeline(redis: aioredis.Redis, keys: Keys) -> None:
    scripts = Scripts(redis, batch=True)
    calls = [scripts.run("sale_window", [keys.sale_spec(f"nope{i}")], ["start", ""]) for i in range(40)]
    answers = await asyncio.gather(*calls)
    assert scripts.batches == 1
    assert {a[0] for a in answers} == {b"not_found"}


async def test_a_batch_recovers_when_redis_lost_its_scripts(redis: aioredis.Redis, keys: Keys) -> None:
    scripts = Scripts(redis, batch=True)
    await scripts.run("sale_window", [keys.sale_spec("a")], ["end", ""])
    await redis.script_flush()
    answers = await asyncio.gather(*(scripts.run("sale_window", [keys.sale_spec(f"b{i}")], ["end", ""])
                                     for i in range(5)))  # fmt: skip
    assert [a[0] for a in answers] == [b"not_found"] * 5
