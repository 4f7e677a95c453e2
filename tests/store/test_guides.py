"""Guide attribution end to end and the hourly leaderboard on a real Redis."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from livehub.domain.attribution import attribute, credit_for, hour_bucket, hour_start_ms
from livehub.domain.sale_rules import BuyRequest, SaleSpec
from livehub.domain.topology import Festival, Guide
from livehub.store.guides import CreditedOrder, GuideBoard, GuideHour, GuideRank, StoreRank, Winner
from livehub.store.keys import Keys
from livehub.store.orders import OrderStore
from livehub.store.sales import PayCode, SaleStore
from livehub.store.scripts import Scripts

HOUR = "2023111422"
H0 = hour_start_ms(HOUR)
ANN = Guide("ann", "Ann", "st-a1", "b1", "QR-ANN")
BO = Guide("bo", "Bo", "st-a2", "b1", "QR-BO")
CY = Guide("cy", "Cy", "st-b1", "b2", "QR-CY")
FESTIVAL = Festival(
    "f", "f", "main", {}, {}, {}, {}, {}, {g.id: g for g in (ANN, BO, CY)}, 0.05,
    guide_codes={g.share_code: g.id for g in (ANN, BO, CY)},
)  # fmt: skip


@pytest.fixture
def board(redis: aioredis.Redis, keys: Keys) -> GuideBoard:
    return GuideBoard(redis, keys, Scripts(redis), commission_rate=0.05)


async def test_crediting_an_order_twice_counts_it_once(board: GuideBoard) -> None:
    assert await board.credit("o1", "ann", "st-a1", 10_000, H0 + 5)
    assert not await board.credit("o1", "ann", "st-a1", 10_000, H0 + 6)
    assert await board.top(HOUR) == [GuideRank("ann", 10_000, 500)]
    assert await board.commission(HOUR, "ann") == 500 and await board.commission(HOUR, "bo") == 0


async def test_the_leaderboard_ranks_guides_by_sales_within_each_hour(
    board: GuideBoard, redis: aioredis.Redis, keys: Keys
) -> None:
    await board.credit("o1", "ann", "st-a1", 3_000, H0)
    await board.credit("o2", "bo", "st-a2", 5_000, H0 + 1_000)
    await board.credit("o3", "ann", "st-a1", 2_999, H0 + 3_599_999)  # the last ms of the hour
    await board.credit("o4", "bo", "st-a2", 99_999, H0 + 3_600_000)  # the next hour
    assert await board.top(HOUR) == [GuideRank("ann", 5_999, 300), GuideRank("bo", 5_000, 250)]
    assert await board.top(HOUR, n=1) == [GuideRank("ann", 5_999, 300)]
    assert await board.top(hour_bucket(H0 + 3_600_000)) == [GuideRank("bo", 99_999, 5_000)]
    assert await board.top_stores(HOUR) == [StoreRank("st-a1", 5_999), StoreRank("st-a2", 5_000)]
    assert await board.top("2000010100") == []
    assert 0 < await redis.ttl(keys.guides_sales(HOUR)) <= 8 * 86_400


async def test_a_paid_order_credits_the_sessions_guide_and_store_of_the_sales_brand_only(
    redis: aioredis.Redis, keys: Keys, board: GuideBoard
) -> None:
    scripts = Scripts(redis)
    sales = SaleStore(redis, keys, scripts, orders=OrderStore(redis, keys, guides=board))
    await sales.create(SaleSpec("s-b1", "v1", "b1", "k1", 10, 12_345, 5, H0, H0 + 3_000_000, 60))
    await sales.create(SaleSpec("s-b2", "v2", "b2", "k2", 10, 50_000, 5, H0, H0 + 3_000_000, 60))
    session_guide = attribute("QR-ANN", FESTIVAL)  # the code of the connect URL
    assert session_guide == ANN

    async def buy_and_pay(sale_id: str, request: str) -> None:
        credit = credit_for(session_guide, "b1" if sale_id == "s-b1" else "b2")
        buy = await sales.buy(sale_id, "viewer", BuyRequest(request), guide=credit, now_ms=H0 + 10)
        assert buy.reservation is not None
        paid = await sales.pay(buy.reservation.reservation_id, now_ms=H0 + 20)
        assert paid.code is PayCode.PAID and paid.order is not None
        assert paid.order.guide_id == (credit.guide_id if credit else None)

    await buy_and_pay("s-b1", "r1")
    await buy_and_pay("s-b2", "r2")  # another brand's sale: nobody is credited
    assert await board.top(HOUR) == [GuideRank("ann", 12_345, 617)]  # 617.25 rounds to 617
    assert await board.top_stores(HOUR) == [StoreRank("st-a1", 12_345)]


async def test_a_guides_hours_give_sales_commission_rank_and_latest_credited_orders(
    redis: aioredis.Redis, keys: Keys
) -> None:
    board = GuideBoard(redis, keys, Scripts(redis), commission_rate=0.05, recent_orders=2)
    next_hour = hour_bucket(H0 + 3_600_000)
    await board.credit("o1", "ann", "st-a1", 1_000, H0)
    await board.credit("o2", "bo", "st-a2", 5_000, H0 + 1)
    await board.credit("o3", "ann", "st-a1", 2_000, H0 + 2)
    await board.credit("o4", "ann", "st-a1", 3_000, H0 + 3)
    await board.credit("o4", "ann", "st-a1", 3_000, H0 + 4)  # the at-least-once fan-out again: counted once
    assert await board.hours_of("ann", [HOUR, next_hour]) == [
        GuideHour(HOUR, 6_000, 300, 1, (CreditedOrder("o4", 3_000, 150), CreditedOrder("o3", 2_000, 100))),
        GuideHour(next_hour, 0, 0, None, ()),
    ]
    assert (await board.hours_of("bo", [HOUR]))[0].rank == 2


async def test_an_hours_winner_is_its_top_guide_recorded_once_whoever_asks_later(
    board: GuideBoard, redis: aioredis.Redis, keys: Keys
) -> None:
    assert await board.record_winner(HOUR, H0 + 3_700_000, 86_400) == ("none", None)  # nobody sold
    await board.credit("o1", "ann", "st-a1", 3_000, H0)
    await board.credit("o2", "bo", "st-a2", 5_000, H0 + 1)
    first = Winner(HOUR, "bo", 5_000, 250, H0 + 3_720_000)
    assert await board.record_winner(HOUR, H0 + 3_720_000, 86_400) == ("recorded", first)
    await board.credit("o3", "ann", "st-a1", 9_000, H0 + 2)  # a late credit: the board changes, the winner not
    assert await board.record_winner(HOUR, H0 + 3_800_000, 86_400) == ("kept", first)
    assert (await board.top(HOUR, 1))[0].guide_id == "ann"
    assert await board.winners([HOUR, hour_bucket(H0 + 3_600_000)]) == [first]
    assert 86_000 < await redis.ttl(keys.guides_winner(HOUR)) <= 86_400
