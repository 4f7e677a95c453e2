"""The post-run invariant checker (loadtests/invariants.py) on a real Redis: a festival whose sales
were bought, paid and expired by livehub's own stores passes; each breach injected into it is
reported, by kind, and makes the command exit non-zero."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from livehub.domain.sale_rules import BuyCode, BuyRequest, SaleSpec
from livehub.store.keys import Keys
from livehub.store.sales import PayCode, SaleStore
from livehub.store.scripts import Scripts
from loadtests.invariants import Report, main, run_check

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000_000
TTL_S = 60


def spec(sale_id: str, stock: int, limit: int = 2) -> SaleSpec:
    return SaleSpec(sale_id=sale_id, venue="b1", brand="b1", sku="b1-sku1", stock=stock, price_cents=1_000,
                    per_user_limit=limit, starts_at_ms=T0, ends_at_ms=T0 + 600_000,
                    reservation_ttl_s=TTL_S)  # fmt: skip


@pytest.fixture
async def festival(redis: aioredis.Redis, keys: Keys) -> dict[str, str]:
    """Two sales worked by livehub's SaleStore: s1 has paid, reserved and expired units; s2 is untouched.
    Returns the paid reservations' ids by user."""
    scripts = Scripts(redis)
    sales = SaleStore(redis, keys, scripts)
    try:
        assert await sales.create(spec("s1", stock=10))
        assert await sales.create(spec("s2", stock=5))
        paid: dict[str, str] = {}
        assert (await sales.buy("s1", "u5", BuyRequest("req-u5"), now_ms=T0)).code is BuyCode.OK
        for user, qty, pays in (("u1", 2, True), ("u2", 1, False), ("u3", 1, True), ("u4", 1, False)):
            bought = await sales.buy("s1", user, BuyRequest(f"req-{user}", qty), now_ms=T0 + 10)
            assert bought.code is BuyCode.OK and bought.reservation is not None
            if pays:
                rid = bought.reservation.reservation_id
                assert (await sales.pay(rid, "ref-" + user, now_ms=T0 + 20)).code is PayCode.PAID
                paid[user] = rid
        # u5 bought first and never paid: past its deadline (the others come later) its unit returns
        assert await sales.expire_due("s1", now_ms=T0 + TTL_S * 1000 + 1) == 1
    finally:
        await scripts.aclose()
    return paid


def check(redis_url: str, prefix: str) -> Report:
    return run_check(redis_url, prefix, settle_s=0)


async def test_a_festival_bought_paid_and_expired_by_livehub_passes(
    festival: dict[str, str], redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    report = check(redis_url, prefix)
    assert report.ok, report.render()
    s1, s2 = sorted(report.sales, key=lambda s: s.sale_id)
    assert (s1.initial, s1.available, s1.reserved, s1.sold, s1.expired, s1.orders) == (10, 5, 2, 3, 1, 2)
    assert (s2.initial, s2.available, s2.orders) == (5, 5, 0)
    assert report.stream_entries == 2
    assert main(["--redis-url", redis_url, "--prefix", prefix, "--settle-s", "0"]) == 0
    assert "invariants: OK" in capsys.readouterr().out


async def test_a_unit_missing_from_the_counts_is_a_breach(
    festival: dict[str, str], redis: aioredis.Redis, keys: Keys, redis_url: str, prefix: str
) -> None:
    await redis.decr(keys.sale_stock("s1"))  # a unit vanished: neither available, reserved nor sold
    report = check(redis_url, prefix)
    assert report.kinds() == {"units"}, report.render()
    assert "initial 10 != available 4 + reserved 2 + sold 3" in report.render()
    assert main(["--redis-url", redis_url, "--prefix", prefix, "--settle-s", "0"]) == 1


async def test_an_order_twice_in_the_orders_stream_is_a_breach(
    festival: dict[str, str], redis: aioredis.Redis, keys: Keys, redis_url: str, prefix: str
) -> None:
    (_entry_id, fields), *_ = await redis.xrange(keys.orders_stream(), count=1)
    await redis.xadd(keys.orders_stream(), fields)
    report = check(redis_url, prefix)
    assert report.kinds() == {"stream"}, report.render()
    assert "more than once in the stream" in report.render()
    assert main(["--redis-url", redis_url, "--prefix", prefix, "--settle-s", "0"]) == 1


async def test_an_order_missing_from_the_orders_stream_is_a_breach(
    festival: dict[str, str], redis: aioredis.Redis, keys: Keys, redis_url: str, prefix: str
) -> None:
    (entry_id, _fields), *_ = await redis.xrange(keys.orders_stream(), count=1)
    await redis.xdel(keys.orders_stream(), entry_id)
    report = check(redis_url, prefix)
    assert report.kinds() == {"stream"} and "not in the orders stream" in report.render(), report.render()


async def test_a_user_over_the_per_user_limit_is_a_breach(
    festival: dict[str, str], redis: aioredis.Redis, keys: Keys, redis_url: str, prefix: str
) -> None:
    await redis.hset(keys.sale_spec("s1"), "per_user_limit", 1)  # u1 holds 2 units
    report = check(redis_url, prefix)
    assert report.kinds() == {"limit"}, report.render()
    assert "u1 holds 2" in report.render()
    assert main(["--redis-url", redis_url, "--prefix", prefix, "--settle-s", "0"]) == 1


async def test_held_units_that_disagree_with_the_reservations_are_a_breach(
    festival: dict[str, str], redis: aioredis.Redis, keys: Keys, redis_url: str, prefix: str
) -> None:
    await redis.hdel(keys.sale_users("s1"), "u3")  # u3's paid unit no longer counts against the limit
    report = check(redis_url, prefix)
    assert report.kinds() == {"limit"} and "u3: hash 0 vs reservations 1" in report.render(), report.render()


async def test_orders_that_do_not_match_the_paid_reservations_are_a_breach(
    festival: dict[str, str], redis: aioredis.Redis, keys: Keys, redis_url: str, prefix: str
) -> None:
    rid = festival["u1"]
    await redis.hset(keys.reservation("s1", rid), "state", "reserved")  # paid, as the order says; not any more
    report = check(redis_url, prefix)
    assert "orders" in report.kinds(), report.render()
    assert "2 orders != 1 paid reservations" in report.render()
    assert main(["--redis-url", redis_url, "--prefix", prefix, "--settle-s", "0"]) == 1


async def test_a_paid_reservation_without_its_order_is_a_breach(
    festival: dict[str, str], redis: aioredis.Redis, keys: Keys, redis_url: str, prefix: str
) -> None:
    from livehub.domain.sale_rules import order_id_for

    await redis.delete(keys.order("s1", order_id_for(festival["u3"])))
    report = check(redis_url, prefix)
    assert "orders" in report.kinds() and "paid without order" in report.render(), report.render()


async def test_only_the_named_sales_are_checked_and_an_unknown_one_is_reported(
    festival: dict[str, str], redis: aioredis.Redis, keys: Keys, redis_url: str, prefix: str
) -> None:
    await redis.decr(keys.sale_stock("s1"))
    assert run_check(redis_url, prefix, sale_ids=["s2"], settle_s=0).ok
    report = run_check(redis_url, prefix, sale_ids=["s2", "nope"], settle_s=0)
    assert report.kinds() == {"scan"} and "no such sale" in report.render()


async def test_the_checker_runs_as_a_command_and_exits_non_zero_on_a_breach(
    festival: dict[str, str], redis: aioredis.Redis, keys: Keys, redis_url: str, prefix: str
) -> None:
    cmd = [sys.executable, "-m", "loadtests.invariants", "--redis-url", redis_url, "--prefix", prefix,
           "--settle-s", "0"]  # fmt: skip
    code, out = await run(cmd)
    assert code == 0 and "invariants: OK" in out, out
    await redis.hincrby(keys.sale_counts("s1"), "sold", 1)
    code, out = await run(cmd)
    assert code == 1 and "BREACH sale s1 [units]" in out, out


async def run(cmd: list[str]) -> tuple[int | None, str]:
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode, out.decode()
