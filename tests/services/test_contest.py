"""The hourly contest on a real Redis: each ended hour's top guide is recorded once after its grace,
by whichever node steps first, and the winners of a span of hours are queryable with names."""

from __future__ import annotations

import dataclasses

import pytest
import redis.asyncio as aioredis

from livehub.domain.attribution import hour_start_ms
from livehub.domain.topology import Festival, Guide
from livehub.services.contest import HourlyContest
from livehub.settings import Settings
from livehub.store.guides import GuideBoard
from livehub.store.keys import Keys
from livehub.store.scripts import Scripts

ANN = Guide("ann", "Ann", "st-a1", "b1", "QR-ANN")
BO = Guide("bo", "Bo", "st-a2", "b1", "QR-BO")
FESTIVAL = Festival("f", "f", "main", {}, {}, {}, {}, {}, {g.id: g for g in (ANN, BO)}, 0.05,
                    guide_codes={g.share_code: g.id for g in (ANN, BO)})  # fmt: skip
H10, H11, H12 = "2023111410", "2023111411", "2023111412"
SETTINGS = dataclasses.replace(Settings(), guide_winner_grace_s=120, guide_winner_catch_up_hours=3,
                               guide_winners_max_hours=48)  # fmt: skip


def contest(redis: aioredis.Redis, keys: Keys) -> HourlyContest:
    return HourlyContest(SETTINGS, FESTIVAL, GuideBoard(redis, keys, Scripts(redis), 0.05))


async def test_each_ended_hour_gets_its_winner_once_after_the_grace_whichever_node_steps(
    redis: aioredis.Redis, keys: Keys
) -> None:
    node_a, node_b = contest(redis, keys), contest(redis, keys)
    await node_a.guides.credit("o1", "ann", "st-a1", 3_000, hour_start_ms(H10) + 5)
    await node_a.guides.credit("o2", "bo", "st-a2", 4_000, hour_start_ms(H11) + 5)
    await node_a.guides.credit("o3", "ann", "st-a1", 1_000, hour_start_ms(H11) + 6)
    assert await node_a.step(hour_start_ms(H12) + 119_000) == [(await node_a.guides.winners([H10]))[0]]
    assert [w.hour for w in await node_a.guides.winners([H10, H11])] == [H10]  # 11h still in its grace
    recorded = await node_b.step(hour_start_ms(H12) + 120_000)
    assert [(w.hour, w.guide_id, w.sales_cents) for w in recorded] == [(H11, "bo", 4_000)]
    assert await node_a.step(hour_start_ms(H12) + 125_000) == []  # already recorded: nothing new


async def test_the_winners_of_a_span_come_with_names_and_the_span_is_bounded(redis: aioredis.Redis, keys: Keys) -> None:
    node = contest(redis, keys)
    await node.guides.credit("o1", "ann", "st-a1", 3_000, hour_start_ms(H10) + 5)
    await node.step(hour_start_ms(H12))
    answer = await node.winners(H10, H12)
    assert answer["winners"] == [{"hour": H10, "guide_id": "ann", "name": "Ann", "store": "st-a1", "brand": "b1",
                                  "sales_cents": 3_000, "commission_cents": 150,
                                  "recorded_at_ms": hour_start_ms(H12)}]  # fmt: skip
    assert (await node.winners(H11, H12))["winners"] == []
    for first, last in ((H12, H10), ("2023111400", "2023111600"), ("soon", H10)):
        with pytest.raises(ValueError):
            await node.winners(first, last)
