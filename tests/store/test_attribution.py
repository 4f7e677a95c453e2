"""A user's lasting guide attribution (first touch, per user, with a TTL) on a real Redis."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from livehub.store.attribution import AttributionStore
from livehub.store.keys import Keys
from livehub.store.scripts import Scripts


def store(redis: aioredis.Redis, keys: Keys, ttl_s: int = 3600) -> AttributionStore:
    return AttributionStore(redis, keys, Scripts(redis), ttl_s)


async def test_the_first_share_code_a_user_presents_is_remembered_for_its_ttl(
    redis: aioredis.Redis, keys: Keys
) -> None:
    attribution = store(redis, keys, ttl_s=3600)
    assert await attribution.lookup("fan") is None
    assert await attribution.touch("fan", "ann") == "ann"
    assert await attribution.lookup("fan") == "ann"
    assert 3500 < await attribution.ttl("fan") <= 3600
    assert await attribution.lookup("someone-else") is None


async def test_a_later_share_code_neither_overwrites_nor_extends_the_first_touch(
    redis: aioredis.Redis, keys: Keys
) -> None:
    attribution = store(redis, keys, ttl_s=3600)
    await attribution.touch("fan", "ann")
    await redis.expire(keys.user_guide("fan"), 100)  # most of the attribution's time has passed
    assert await attribution.touch("fan", "bo") == "ann"
    assert await attribution.touch("fan", "ann") == "ann"
    assert await attribution.lookup("fan") == "ann"
    assert 0 < await attribution.ttl("fan") <= 100  # coming back does not extend it


async def test_once_the_attribution_expired_the_next_share_code_takes_over(redis: aioredis.Redis, keys: Keys) -> None:
    attribution = store(redis, keys)
    await attribution.touch("fan", "ann")
    await redis.delete(keys.user_guide("fan"))  # what the TTL does when it runs out
    assert await attribution.lookup("fan") is None
    assert await attribution.touch("fan", "bo") == "bo"
    assert await attribution.lookup("fan") == "bo"


async def test_the_attribution_key_is_the_users_own_cluster_slot(keys: Keys) -> None:
    assert "{user:fan}" in keys.user_guide("fan")


def test_an_attribution_must_have_an_end(keys: Keys) -> None:
    with pytest.raises(ValueError):
        AttributionStore(aioredis.Redis(), keys, Scripts(aioredis.Redis()), 0)  # no connection is made
