"""Lua scripts (livehub.store.scripts): package-data files with KEYS/ARGV headers, registered once per client,
run by EVALSHA and reloaded after Redis forgets them."""

from __future__ import annotations

import redis.asyncio as aioredis

from livehub.store.batcher import BatchQueueFull
from livehub.store.keys import Keys
from livehub.store.scripts import BatchQueueFull as ReExported
from livehub.store.scripts import Scripts, lua_source


def test_every_script_file_starts_with_its_keys_and_argv_header() -> None:
    from importlib import resources

    for path in resources.files("livehub.store").joinpath("lua").iterdir():
        head = lua_source(path.name.removesuffix(".lua"))[:2000]
        assert "KEYS[1]" in head and "ARGV[1]" in head, path.name


def test_a_script_is_registered_once_per_client(redis: aioredis.Redis) -> None:
    scripts = Scripts(redis)
    first = scripts.get("sale_window")
    assert scripts.get("sale_window") is first
    assert first.script == lua_source("sale_window")
    assert Scripts(redis).get("sale_window") is not first  # each Scripts registers its own


async def test_an_unbatched_call_runs_again_after_redis_lost_its_scripts(redis: aioredis.Redis, keys: Keys) -> None:
    scripts = Scripts(redis)
    assert (await scripts.run("sale_window", [keys.sale_spec("a")], ["end", ""]))[0] == b"not_found"
    await redis.script_flush()
    assert (await scripts.run("sale_window", [keys.sale_spec("b")], ["end", ""]))[0] == b"not_found"
    assert scripts.batches == 0  # no batcher: each call went through the client


async def test_a_call_given_a_pipeline_joins_that_pipeline_even_with_batching_on(
    redis: aioredis.Redis, keys: Keys
) -> None:
    scripts = Scripts(redis, batch=True)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            await scripts.run("sale_window", [keys.sale_spec("a")], ["end", ""], client=pipe)
            [answer] = await pipe.execute()
        assert answer[0] == b"not_found"
        assert scripts.batches == 0
    finally:
        await scripts.aclose()


def test_batch_queue_full_is_the_batchers_error_under_its_old_name() -> None:
    assert ReExported is BatchQueueFull
