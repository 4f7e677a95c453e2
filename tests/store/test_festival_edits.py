"""The festival's admin overlay on Redis (livehub.store.festival_edits, festival_edit.lua): a batch is
stored in one step only on the version it was validated against, once per request id."""

from __future__ import annotations

import redis.asyncio as aioredis

from livehub.store.festival_edits import APPLIED, CHANGED, DONE_BEFORE, FestivalEdits
from livehub.store.keys import Keys
from livehub.store.scripts import Scripts

STORE = {"id": "s9", "brand": "b1", "name": "Nine", "lat": 31.0, "lon": 121.0, "radius_km": 2.0}


async def test_no_edits_is_version_zero_and_an_empty_overlay(redis: aioredis.Redis, keys: Keys) -> None:
    edits = FestivalEdits(redis, keys, Scripts(redis), "fest")
    assert await edits.version() == 0
    assert await edits.load() == (0, {})


async def test_a_batch_bumps_the_version_and_is_read_back_by_section_and_id(redis: aioredis.Redis, keys: Keys) -> None:
    edits = FestivalEdits(redis, keys, Scripts(redis), "fest")
    batch = {"stores": {"s9": STORE}, "venues": {"b1": {"id": "b1", "kind": "brand", "title": "T", "brand": "b1"}}}
    assert await edits.put(batch, 0, "r1") == (APPLIED, 1)
    assert await edits.put({"stores": {"s9": {**STORE, "radius_km": 3.0}}}, 1, "r2") == (APPLIED, 2)
    version, overlay = await edits.load()
    assert version == 2 and overlay == {"stores": {"s9": {**STORE, "radius_km": 3.0}}, "venues": batch["venues"]}


async def test_a_batch_validated_against_an_older_version_writes_nothing(redis: aioredis.Redis, keys: Keys) -> None:
    edits = FestivalEdits(redis, keys, Scripts(redis), "fest")
    await edits.put({"stores": {"s9": STORE}}, 0, "first")
    assert await edits.put({"stores": {"s10": {**STORE, "id": "s10"}}}, 0, "second") == (CHANGED, 1)
    assert (await edits.load())[1] == {"stores": {"s9": STORE}}


async def test_a_retried_request_answers_the_version_it_made_and_applies_nothing_again(
    redis: aioredis.Redis, keys: Keys
) -> None:
    edits = FestivalEdits(redis, keys, Scripts(redis), "fest")
    assert await edits.put({"stores": {"s9": STORE}}, 0, "same") == (APPLIED, 1)
    assert await edits.put({"stores": {"s9": {**STORE, "name": "Other"}}}, 1, "same") == (DONE_BEFORE, 1)
    assert await edits.load() == (1, {"stores": {"s9": STORE}})
    assert 0 < await redis.ttl(keys.festival_edit_done("fest", "same")) <= 86_400


def test_every_key_of_a_festival_is_on_its_slot() -> None:
    keys = Keys("lh")
    for key in (keys.festival_edits("f"), keys.festival_version("f"), keys.festival_edit_done("f", "r{x}")):
        assert key.startswith("lh:{festival:f}:")
