"""Pre-sales on a real Redis: the deposit and balance life cycle, every answer, idempotent retries,
two sweepers racing, stock conservation and the routed order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from livehub.config import load_festival
from livehub.domain.presale_rules import DepositCode, PresaleCounts, PresalePayCode, PresaleSpec
from livehub.domain.sale_rules import Location
from livehub.store.keys import Keys
from livehub.store.orders import OrderStore
from livehub.store.presales import PresaleStore
from livehub.store.sales import SaleStore
from livehub.store.scripts import Scripts
from livehub.store.stores import StoreIndex

SMALL = Path(__file__).resolve().parents[2] / "config" / "small.toml"
T0 = 1_700_000_000_000
DEP_START, DEP_END = T0, T0 + 300_000
BAL_START, BAL_END = T0 + 600_000, T0 + 900_000
TTL_S = 60
NEAR_B1_S1 = Location(31.2317, 121.4726)  # at store b1-s1 (People's Square)


def spec(presale_id: str = "p1", stock: int = 10, limit: int = 2, **changes: object) -> PresaleSpec:
    fields: dict[str, object] = dict(
        presale_id=presale_id, venue="b1", brand="b1", sku="b1-sku1", stock=stock, price_cents=10_000,
        deposit_cents=1_000, per_user_limit=limit, deposit_starts_at_ms=DEP_START, deposit_ends_at_ms=DEP_END,
        balance_starts_at_ms=BAL_START, balance_ends_at_ms=BAL_END, deposit_ttl_s=TTL_S,
    )  # fmt: skip
    fields.update(changes)
    return PresaleSpec(**fields)  # type: ignore[arg-type]


def store_of(client: aioredis.Redis, keys: Keys, index: bool = False) -> PresaleStore:
    scripts = Scripts(client)
    orders = OrderStore(client, keys, scripts=scripts)
    stores = StoreIndex(client, keys, scripts, load_festival(SMALL)) if index else None
    return PresaleStore(client, keys, scripts, orders, stores=stores)


@pytest.fixture
def presales(redis: aioredis.Redis, keys: Keys) -> PresaleStore:
    return store_of(redis, keys)


@pytest.fixture
async def routed(redis: aioredis.Redis, keys: Keys) -> PresaleStore:
    store = store_of(redis, keys, index=True)
    assert store._stores is not None
    await store._stores.load()
    return store


@pytest.fixture
async def two_nodes(redis_url: str, keys: Keys) -> AsyncIterator[list[PresaleStore]]:
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
    try:
        yield [store_of(c, keys) for c in clients]
    finally:
        for c in clients:
            await c.aclose()


async def counts(presales: PresaleStore, presale_id: str = "p1") -> PresaleCounts:
    found = await presales.get_counts(presale_id)
    assert found is not None
    return found


async def paid_deposit(presales: PresaleStore, user: str, request: str, qty: int = 1) -> str:
    placed = await presales.deposit("p1", user, request, qty, now_ms=DEP_START + 1)
    assert placed.code is DepositCode.OK and placed.deposit is not None
    paid = await presales.pay_deposit(placed.deposit.deposit_id, "dep-" + request, now_ms=DEP_START + 2)
    assert paid.code is PresalePayCode.PAID
    return placed.deposit.deposit_id


# ---- the life cycle -----------------------------------------------------------------------------


async def test_a_deposit_then_its_balance_completes_one_order_and_conserves_the_stock(presales: PresaleStore) -> None:
    assert await presales.create(spec(stock=5))
    assert not await presales.create(spec(stock=99))
    placed = await presales.deposit("p1", "u1", "a", 2, now_ms=DEP_START + 10)
    assert placed.code is DepositCode.OK and placed.available == 3 and placed.deposit is not None
    d = placed.deposit
    assert (d.state, d.qty, d.deposit_cents, d.balance_cents, d.deadline_ms) == (
        "deposit_due",
        2,
        2_000,
        18_000,
        DEP_START + 10 + TTL_S * 1000,
    )
    assert (await counts(presales)).deposit_due == 2
    paid = await presales.pay_deposit(d.deposit_id, "ref-dep", now_ms=DEP_START + 20)
    assert paid.code is PresalePayCode.PAID and paid.deposit is not None and paid.deposit.state == "balance_due"
    c = await counts(presales)
    assert (c.available, c.deposit_due, c.balance_due, c.completed) == (3, 0, 2, 0) and c.balanced
    done = await presales.pay_balance(d.deposit_id, "ref-bal", now_ms=BAL_START + 5)
    assert done.code is PresalePayCode.PAID and done.order is not None
    order = done.order
    assert (order.sale_id, order.qty, order.amount_cents, order.user_id, order.reservation_id) == (
        "p1",
        2,
        20_000,
        "u1",
        d.deposit_id,
    )
    c = await counts(presales)
    assert (c.available, c.balance_due, c.completed) == (3, 0, 2) and c.balanced
    again = await presales.pay_balance(d.deposit_id, "ref-bal", now_ms=BAL_START + 6)
    assert again.code is PresalePayCode.DUPLICATE and again.order == order
    assert await presales._orders.get(order.order_id) == order  # the order store finds a pre-sale order


async def test_a_retried_deposit_answers_duplicate_and_never_takes_the_stock_twice(presales: PresaleStore) -> None:
    await presales.create(spec(stock=3))
    first = await presales.deposit("p1", "u1", "same", now_ms=DEP_START + 1)
    retries = await asyncio.gather(*(presales.deposit("p1", "u1", "same", now_ms=DEP_START + 2) for _ in range(5)))
    assert {r.code for r in retries} == {DepositCode.DUPLICATE}
    assert all(r.deposit == first.deposit for r in retries)
    assert (await counts(presales)).available == 2


async def test_paying_a_deposit_twice_answers_duplicate(presales: PresaleStore) -> None:
    await presales.create(spec())
    did = await paid_deposit(presales, "u1", "a")
    again = await presales.pay_deposit(did, "dep-a", now_ms=DEP_START + 3)
    assert again.code is PresalePayCode.DUPLICATE
    assert (await counts(presales)).balance_due == 1


async def test_every_deposit_answer_is_distinct(presales: PresaleStore) -> None:
    await presales.create(spec(stock=3, limit=2))
    early = await presales.deposit("p1", "u1", "a", now_ms=DEP_START - 1)
    assert early.code is DepositCode.NOT_STARTED and early.starts_at_ms == DEP_START
    assert (await presales.deposit("p1", "u1", "b", now_ms=DEP_END)).code is DepositCode.ENDED
    assert (await presales.deposit("p1", "u1", "c", 3, now_ms=DEP_START)).code is DepositCode.BAD_QUANTITY
    assert (await presales.deposit("p1", "u1", "d", 2, now_ms=DEP_START)).code is DepositCode.OK
    assert (await presales.deposit("p1", "u1", "e", 1, now_ms=DEP_START)).code is DepositCode.LIMIT_REACHED
    assert (await presales.deposit("p1", "u2", "f", 2, now_ms=DEP_START)).code is DepositCode.SOLD_OUT
    assert (await presales.deposit("nope", "u2", "g", now_ms=DEP_START)).code is DepositCode.NOT_FOUND
    assert (await presales.deposit("p 1", "u2", "h", now_ms=DEP_START)).code is DepositCode.BAD_REQUEST


async def test_every_payment_answer_is_distinct(presales: PresaleStore) -> None:
    await presales.create(spec())
    due = await presales.deposit("p1", "u1", "a", now_ms=DEP_START)
    assert due.deposit is not None
    due_id = due.deposit.deposit_id
    assert (await presales.pay_balance(due_id, now_ms=DEP_START + 1)).code is PresalePayCode.DEPOSIT_DUE
    did = await paid_deposit(presales, "u2", "b")
    early = await presales.pay_balance(did, now_ms=BAL_START - 1)
    assert early.code is PresalePayCode.NOT_STARTED and early.starts_at_ms == BAL_START
    assert (await presales.pay_balance(did, now_ms=BAL_END)).code is PresalePayCode.FORFEITED
    late = await presales.pay_deposit(due.deposit.deposit_id, now_ms=DEP_START + TTL_S * 1000 + 1)
    assert late.code is PresalePayCode.LAPSED
    assert (await presales.pay_deposit("p1:d" + "0" * 32)).code is PresalePayCode.NOT_FOUND
    assert (await presales.pay_balance("p1:r" + "0" * 32)).code is PresalePayCode.NOT_FOUND
    assert (await counts(presales)).balanced  # the hard deadlines answer before any sweeper: nothing moved


# ---- the sweeper ----------------------------------------------------------------------------------


async def test_an_unpaid_deposit_lapses_at_its_deadline_and_its_units_return(presales: PresaleStore) -> None:
    await presales.create(spec(stock=2))
    placed = await presales.deposit("p1", "u1", "a", 2, now_ms=DEP_START)
    assert placed.deposit is not None
    assert (await presales.sweep("p1", now_ms=DEP_START + TTL_S * 1000)).lapsed == 0  # not past it yet
    swept = await presales.sweep("p1", now_ms=DEP_START + TTL_S * 1000 + 1)
    assert swept.lapsed == 1 and not swept.retired
    c = await counts(presales)
    assert (c.available, c.deposit_due, c.lapsed) == (2, 0, 2) and c.balanced
    lapsed = await presales.get_deposit(placed.deposit.deposit_id)
    assert lapsed is not None and lapsed.state == "lapsed"
    again = await presales.deposit("p1", "u1", "b", 2, now_ms=DEP_START + TTL_S * 1000 + 2)  # the limit is free
    assert again.code is DepositCode.OK


async def test_an_unpaid_balance_is_forfeited_at_the_window_end_by_default(presales: PresaleStore) -> None:
    await presales.create(spec(stock=4))
    did = await paid_deposit(presales, "u1", "a", 2)
    done = await paid_deposit(presales, "u2", "b")
    assert (await presales.pay_balance(done, now_ms=BAL_START)).code is PresalePayCode.PAID
    assert (await presales.sweep("p1", now_ms=BAL_END - 1)).unpaid == 0
    swept = await presales.sweep("p1", now_ms=BAL_END)
    assert swept.unpaid == 1 and swept.retired
    c = await counts(presales)
    assert (c.available, c.balance_due, c.completed, c.forfeited) == (3, 0, 1, 2) and c.balanced
    forfeited = await presales.get_deposit(did)
    assert forfeited is not None and forfeited.state == "forfeited"
    assert await presales.refunds("p1") == []  # forfeit: the deposit is kept, nothing to refund


async def test_the_refund_rule_records_each_unpaid_deposit_in_the_refunds_stream(presales: PresaleStore) -> None:
    await presales.create(spec(unpaid="refund"))
    did = await paid_deposit(presales, "u1", "a", 2)
    assert (await presales.pay_balance(did, now_ms=BAL_END + 1)).code is PresalePayCode.REFUNDED
    await presales.sweep("p1", now_ms=BAL_END)
    await presales.sweep("p1", now_ms=BAL_END + 1)  # again: refunded once
    refunds = await presales.refunds("p1")
    assert [(r.deposit_id, r.user_id, r.amount_cents, r.payment_ref) for _, r in refunds] == [
        (did, "u1", 2_000, "dep-a")
    ]
    assert (await counts(presales)).refunded == 2


async def test_two_sweepers_racing_settle_every_deposit_exactly_once(two_nodes: list[PresaleStore]) -> None:
    a, b = two_nodes
    await a.create(spec(stock=40, limit=40, unpaid="refund"))
    for i in range(10):
        await a.deposit("p1", f"due{i}", "r", now_ms=DEP_START)  # never paid: lapse
    for i in range(10):
        await paid_deposit(a, f"bal{i}", "r")  # never balanced: refunded
    lapse_at = DEP_START + TTL_S * 1000 + 1
    lapsed = await asyncio.gather(*(node.sweep("p1", now_ms=lapse_at) for node in (a, b, a, b)))
    assert sum(r.lapsed for r in lapsed) == 10
    ended = await asyncio.gather(*(node.sweep("p1", now_ms=BAL_END) for node in (a, b, a, b)))
    assert sum(r.unpaid for r in ended) == 10
    c = await counts(a)
    assert (c.available, c.lapsed, c.refunded) == (40, 10, 10) and c.balanced
    assert len(await a.refunds("p1")) == 10


async def test_a_settled_pre_sale_is_retired_its_keys_expire(presales: PresaleStore, redis: aioredis.Redis,
                                                             keys: Keys) -> None:  # fmt: skip
    await presales.create(spec())
    await paid_deposit(presales, "u1", "a")
    assert (await presales.sweep("p1", now_ms=BAL_END)).retired
    assert await redis.pttl(keys.presale_spec("p1")) > 0
    assert await redis.pttl(keys.presale_stock("p1")) > 0


# ---- conservation under a crowd ---------------------------------------------------------------------


async def test_a_crowd_of_deposits_never_oversells_and_the_books_balance(two_nodes: list[PresaleStore]) -> None:
    a, b = two_nodes
    await a.create(spec(stock=25, limit=1))
    placed = await asyncio.gather(
        *((a if i % 2 else b).deposit("p1", f"u{i}", "r", now_ms=DEP_START + i) for i in range(80))
    )
    ok = [p for p in placed if p.code is DepositCode.OK]
    assert len(ok) == 25 and {p.code for p in placed} == {DepositCode.OK, DepositCode.SOLD_OUT}
    for i, p in enumerate(ok[:15]):
        assert p.deposit is not None
        await (a if i % 2 else b).pay_deposit(p.deposit.deposit_id, now_ms=DEP_START + 100)
    await asyncio.gather(a.sweep("p1", now_ms=DEP_END + TTL_S * 1000), b.sweep("p1", now_ms=DEP_END + TTL_S * 1000))
    c = await counts(a)
    assert (c.available, c.deposit_due, c.balance_due) == (10, 0, 15) and c.balanced


# ---- routing ---------------------------------------------------------------------------------------


async def test_a_paid_balance_is_routed_to_the_nearest_store_and_published_once(routed: PresaleStore,
                                                                                keys: Keys) -> None:  # fmt: skip
    await routed.create(spec())
    placed = await routed.deposit("p1", "u1", "a", location=NEAR_B1_S1, now_ms=DEP_START)
    assert placed.deposit is not None and placed.deposit.location == NEAR_B1_S1
    did = placed.deposit.deposit_id
    await routed.pay_deposit(did, now_ms=DEP_START + 1)
    assert routed._stores is not None
    before = await routed._stores.stock_of("b1-s1", "b1-sku1")
    done = await routed.pay_balance(did, "bal", now_ms=BAL_START)
    assert done.order is not None and done.order.store_id == "b1-s1"
    await routed.pay_balance(did, "bal", now_ms=BAL_START + 1)  # a retry takes nothing more
    assert await routed._stores.stock_of("b1-s1", "b1-sku1") == before - 1
    assert await routed._stores.holds_of("b1-s1") == {}  # committed
    stored = await routed._orders.orders_of_store("b1-s1")
    assert [o.order_id for o in stored] == [done.order.order_id]
    assert await routed._redis.zcard(keys.presale_outbox("p1")) == 0


async def test_a_balance_that_cannot_complete_leaves_the_store_stock_as_it_was(routed: PresaleStore) -> None:
    await routed.create(spec())
    placed = await routed.deposit("p1", "u1", "a", location=NEAR_B1_S1, now_ms=DEP_START)
    assert placed.deposit is not None
    await routed.pay_deposit(placed.deposit.deposit_id, now_ms=DEP_START + 1)
    assert routed._stores is not None
    before = await routed._stores.stock_of("b1-s1", "b1-sku1")
    late = await routed.pay_balance(placed.deposit.deposit_id, now_ms=BAL_END)
    assert late.code is PresalePayCode.FORFEITED
    assert await routed._stores.stock_of("b1-s1", "b1-sku1") == before


async def test_the_relay_publishes_an_order_a_node_left_unpublished(presales: PresaleStore, redis: aioredis.Redis,
                                                                    keys: Keys) -> None:  # fmt: skip
    await presales.create(spec())
    did = await paid_deposit(presales, "u1", "a")
    done = await presales.pay_balance(did, now_ms=BAL_START)
    assert done.order is not None
    await redis.delete(keys.orders_stream(), keys.order_published(done.order.order_id))
    await redis.zadd(keys.presale_outbox("p1"), {f"completed:{did}": BAL_START})  # as if the node died
    assert await presales.relay("p1", now_ms=BAL_START + 10_000) == 1
    assert await redis.xlen(keys.orders_stream()) == 1
    assert await redis.zcard(keys.presale_outbox("p1")) == 0


async def test_balance_payments_racing_complete_once_and_take_one_store_unit(routed: PresaleStore) -> None:
    await routed.create(spec())
    placed = await routed.deposit("p1", "u1", "a", location=NEAR_B1_S1, now_ms=DEP_START)
    assert placed.deposit is not None
    did = placed.deposit.deposit_id
    await routed.pay_deposit(did, now_ms=DEP_START + 1)
    assert routed._stores is not None
    before = await routed._stores.stock_of("b1-s1", "b1-sku1")
    answers = await asyncio.gather(*(routed.pay_balance(did, "bal", now_ms=BAL_START) for _ in range(4)))
    assert sorted(a.code.value for a in answers) == ["duplicate", "duplicate", "duplicate", "paid"]
    assert len({a.order for a in answers}) == 1
    assert await routed._stores.stock_of("b1-s1", "b1-sku1") == before - 1
    assert await routed._stores.holds_of("b1-s1") == {}
    assert (await counts(routed)).completed == 1


async def test_the_reconciler_commits_a_completed_deposits_stale_hold_and_releases_an_orphaned_one(
    routed: PresaleStore, redis: aioredis.Redis, keys: Keys
) -> None:
    await routed.create(spec())
    ids = []
    for user in ("u1", "u2"):
        placed = await routed.deposit("p1", user, "a", location=NEAR_B1_S1, now_ms=DEP_START)
        assert placed.deposit is not None
        ids.append(placed.deposit.deposit_id)
        await routed.pay_deposit(ids[-1], now_ms=DEP_START + 1)
    done = await routed.pay_balance(ids[0], now_ms=BAL_START)
    assert done.order is not None and done.order.store_id == "b1-s1"
    assert routed._stores is not None
    before = await routed._stores.stock_of("b1-s1", "b1-sku1")
    # as if nodes died: one between balance.lua and the commit, one between the store take and balance.lua
    hold = (await redis.hgetall(keys.deposit("p1", ids[0])))[b"hold_id"].decode()
    assert hold.startswith(ids[0] + "#")
    await redis.hset(keys.store_holds("b1-s1"), hold, f"b1-sku1|1|{BAL_START}")
    await redis.hincrby(keys.store_stock("b1-s1"), "b1-sku1", -1)  # (the committed unit is held again)
    await redis.hset(keys.store_holds("b1-s1"), ids[1] + "#0000", f"b1-sku1|1|{BAL_START}")
    await redis.hincrby(keys.store_stock("b1-s1"), "b1-sku1", -1)
    sales = SaleStore(redis, keys, routed._scripts)
    assert await sales.outbox.reconcile_store_holds("b1-s1", now_ms=BAL_START + 120_000) == 2
    assert await routed._stores.holds_of("b1-s1") == {}
    assert await routed._stores.stock_of("b1-s1", "b1-sku1") == before - 1  # the completed one kept, the orphan back
