"""Festival admin of a node (livehub.services.festival_admin) over a real Redis: two nodes, each its
own broker (no poke crosses), share the overlay; a node catches up on its version check, and two
admins claiming one share code at once cannot both apply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import redis.asyncio as aioredis

from livehub import errors
from livehub.backplane.memory import MemoryBroker
from livehub.domain.festival import build_festival
from livehub.domain.festival_edit import festival_doc
from livehub.domain.topology import Festival
from livehub.errors import LivehubError
from livehub.services.festival_admin import FestivalAdmin
from livehub.settings import Settings
from livehub.store.festival_edits import FestivalEdits
from livehub.store.keys import Keys
from livehub.store.scripts import Scripts
from livehub.store.stores import StoreIndex

STORE = {"id": "b1-new", "brand": "b1", "name": "New", "lat": 31.2, "lon": 121.4, "radius_km": 2.0}


@dataclass
class AdminNode:
    admin: FestivalAdmin
    adopted: list[Festival] = field(default_factory=list)


@pytest.fixture
async def nodes(redis: aioredis.Redis, keys: Keys, festival: Festival) -> AsyncIterator[tuple[AdminNode, AdminNode]]:
    scripts = Scripts(redis)
    made = []
    for _ in range(2):
        adopted: list[Festival] = []
        admin = FestivalAdmin(Settings(), festival, FestivalEdits(redis, keys, scripts, festival.id),
                              StoreIndex(redis, keys, scripts, festival), MemoryBroker(), adopted.append)  # fmt: skip
        made.append(AdminNode(admin, adopted))
    yield made[0], made[1]
    await scripts.aclose()


async def test_an_edit_is_adopted_by_its_node_at_once(nodes: tuple[AdminNode, AdminNode]) -> None:
    one, _ = nodes
    answer = await one.admin.edit({"stores": [(1, STORE)]})
    assert (answer.version, answer.applied, answer.created) == (1, True, 1)
    assert one.adopted[-1].stores["b1-new"].radius_km == 2.0 and one.admin.festival is one.adopted[-1]


async def test_a_node_that_missed_the_poke_catches_up_on_its_version_check(nodes: tuple[AdminNode, AdminNode]) -> None:
    one, other = nodes
    await one.admin.edit({"stores": [(1, STORE)]})
    assert "b1-new" not in other.admin.festival.stores
    assert await other.admin.sync() is True
    assert "b1-new" in other.adopted[-1].stores and other.admin.version == 1
    assert await other.admin.sync() is False  # nothing new: nothing rebuilt


async def test_a_dry_run_validates_and_writes_nothing(nodes: tuple[AdminNode, AdminNode]) -> None:
    one, other = nodes
    answer = await one.admin.edit({"stores": [(1, STORE)]}, dry_run=True)
    assert (answer.applied, answer.version, answer.created) == (False, 0, 1)
    assert one.adopted == [] and await other.admin.sync() is False


async def test_a_bad_batch_is_a_bad_request_listing_its_rows(nodes: tuple[AdminNode, AdminNode]) -> None:
    one, _ = nodes
    with pytest.raises(LivehubError) as caught:
        await one.admin.edit({"stores": [(1, STORE), (2, {**STORE, "id": "b1-x", "radius_km": -1.0})]})
    assert caught.value.code == errors.BAD_REQUEST and caught.value.details["problems"] == 1
    assert [(r["line"], r["field"]) for r in caught.value.details["rows"]] == [(2, "radius_km")]
    assert one.adopted == []


async def test_two_admins_claiming_one_share_code_at_once_cannot_both_apply(
    nodes: tuple[AdminNode, AdminNode],
) -> None:
    one, other = nodes

    def guide(guide_id: str) -> dict[str, object]:
        return {"id": guide_id, "name": "G", "store": "b1-s1", "brand": "b1", "share_code": "same-code"}

    results = await asyncio.gather(one.admin.edit({"guides": [(1, guide("g-one"))]}),
                                   other.admin.edit({"guides": [(1, guide("g-two"))]}),
                                   return_exceptions=True)  # fmt: skip
    refused = [r for r in results if isinstance(r, LivehubError)]
    assert len(refused) == 1 and refused[0].details["rows"][0]["field"] == "share_code"
    await one.admin.sync()
    await other.admin.sync()
    assert one.admin.version == other.admin.version == 1
    assert one.admin.festival.guide_by_code("same-code") == other.admin.festival.guide_by_code("same-code")


async def test_a_poke_makes_a_node_catch_up_without_waiting_for_its_check(nodes: tuple[AdminNode, AdminNode]) -> None:
    one, other = nodes
    caught_up = asyncio.Event()

    def adopt(festival: Festival) -> None:
        other.adopted.append(festival)
        caught_up.set()

    other.admin.adopt = adopt
    await one.admin.edit({"stores": [(1, STORE)]})
    for _ in range(3):  # pokes in a burst: one catch-up at a time
        other.admin.poked()
    await asyncio.wait_for(caught_up.wait(), timeout=10)
    assert other.admin.version == 1 and "b1-new" in other.adopted[0].stores


async def test_stored_edits_that_no_longer_fit_the_file_keep_the_festival_and_refuse_edits(
    nodes: tuple[AdminNode, AdminNode], festival: Festival
) -> None:
    one, other = nodes
    await one.admin.edit({"guides": [(1, {"id": "g-x", "name": "X", "store": "b1-s1", "brand": "b1",
                                          "share_code": "code-x"})]})  # fmt: skip
    doc = festival_doc(festival)  # a new file without the store b1-s1 (and its own guides)
    doc["stores"] = [s for s in doc["stores"] if s["id"] != "b1-s1"]
    doc["guides"] = [g for g in doc["guides"] if g["store"] != "b1-s1"]
    reduced = build_festival(doc)
    other.admin.seed = other.admin.festival = reduced
    assert await other.admin.sync() is False
    assert other.admin.festival is reduced and other.adopted == []
    with pytest.raises(LivehubError) as caught:
        await other.admin.edit({"stores": [(1, STORE)]})
    assert caught.value.code == errors.UNAVAILABLE
