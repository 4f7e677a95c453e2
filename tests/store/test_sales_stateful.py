"""Property-based test of the reservation life cycle: buy, retry, pay, expire, time passing.

A model of the sale runs next to the real Redis scripts; after every step the
answers must match the model and the invariants must hold:
initial == available + reserved + sold, no user above the limit, every
reservation in exactly one state, orders == sold.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from livehub.domain.sale_rules import BuyCode, BuyRequest, SaleSpec
from livehub.store.keys import Keys
from livehub.store.sales import PayCode, SaleStore
from livehub.store.scripts import Scripts

T = TypeVar("T")
START = 1_700_000_000_000
END = START + 300_000
TTL_MS = 60_000
STOCK, LIMIT = 4, 2
USERS = ("ann", "bo")


@dataclass
class ModelReservation:
    rid: str
    user: str
    qty: int
    deadline: int
    state: str = "reserved"


class ReservationLifecycle(RuleBasedStateMachine):
    redis_url = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.prefix = "t" + uuid.uuid4().hex[:10]
        self.client = aioredis.Redis.from_url(self.redis_url)
        self.keys = Keys(self.prefix)
        self.sweepers = [SaleStore(self.client, self.keys, Scripts(self.client)) for _ in range(2)]
        self.sales = self.sweepers[0]
        self.now = START - 1  # the window opens at the first tick
        self.available = STOCK
        self.by_request: dict[tuple[str, int], ModelReservation] = {}
        self.orders = 0
        spec = SaleSpec("s", "v", "b", "k", STOCK, 500, LIMIT, START, END, TTL_MS // 1000)
        assert self.run(self.sales.create(spec))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        async def clean() -> None:
            found = [key async for key in self.client.scan_iter(match=f"{self.prefix}:*", count=1_000)]
            if found:
                await self.client.delete(*found)
            await self.client.aclose()

        self.run(clean())
        self.loop.close()

    def held(self, user: str) -> int:
        return sum(r.qty for r in self.by_request.values() if r.user == user and r.state != "expired")

    @rule(ms=st.one_of(st.integers(0, 3), st.sampled_from([1_000, TTL_MS - 1, TTL_MS, TTL_MS + 1, 2 * TTL_MS])))
    def time_passes(self, ms: int) -> None:
        self.now += ms

    @rule(user=st.sampled_from(USERS), request=st.integers(min_value=0, max_value=4), qty=st.integers(1, LIMIT + 1))
    def buy(self, user: str, request: int, qty: int) -> None:
        result = self.run(self.sales.buy("s", user, BuyRequest(f"q{request}", qty), now_ms=self.now))
        known = self.by_request.get((user, request))
        if known is not None:
            expected = BuyCode.DUPLICATE
        elif self.now < START:
            expected = BuyCode.NOT_STARTED
        elif self.now >= END:
            expected = BuyCode.ENDED
        elif qty > LIMIT:
            expected = BuyCode.BAD_QUANTITY
        elif self.held(user) + qty > LIMIT:
            expected = BuyCode.LIMIT_REACHED
        elif self.available < qty:
            expected = BuyCode.SOLD_OUT
        else:
            expected = BuyCode.OK
        assert result.code is expected, (result, expected)
        if expected is BuyCode.OK:
            assert result.reservation is not None
            self.available -= qty
            self.by_request[(user, request)] = ModelReservation(
                result.reservation.reservation_id, user, qty, self.now + TTL_MS
            )
        if expected is BuyCode.DUPLICATE:
            assert known is not None and result.reservation is not None
            assert (result.reservation.reservation_id, result.reservation.state) == (known.rid, known.state)

    @rule(pick=st.integers(min_value=0))
    def pay(self, pick: int) -> None:
        if not self.by_request:
            return
        reservation = list(self.by_request.values())[pick % len(self.by_request)]
        result = self.run(self.sales.pay(reservation.rid, now_ms=self.now))
        if reservation.state == "paid":
            assert result.code is PayCode.DUPLICATE
        elif reservation.state == "reserved" and self.now <= reservation.deadline:
            assert result.code is PayCode.PAID
            reservation.state = "paid"
            self.orders += 1
        else:
            assert result.code is PayCode.EXPIRED

    @rule()
    def two_sweepers_race(self) -> None:
        async def sweep() -> list[int]:
            return list(await asyncio.gather(*(s.expire_due("s", 50, now_ms=self.now) for s in self.sweepers)))

        due = [r for r in self.by_request.values() if r.state == "reserved" and r.deadline < self.now]
        assert sum(self.run(sweep())) == len(due)  # each due reservation expired once, by one of them
        for r in due:
            r.state = "expired"
            self.available += r.qty

    @invariant()
    def redis_matches_the_model(self) -> None:
        k, models = self.keys, list(self.by_request.values())
        pipe = self.client.pipeline(transaction=False)
        pipe.get(k.sale_stock("s"))
        pipe.hmget(k.sale_counts("s"), ["reserved", "sold"])
        pipe.hgetall(k.sale_users("s"))
        pipe.zrange(k.sale_deadlines("s"), 0, -1)
        pipe.xlen(k.orders_stream())
        for r in models:
            pipe.hget(k.reservation("s", r.rid), "state")
        available, (reserved, sold), users, unpaid, orders, *states = self.run(pipe.execute())
        model_reserved = sum(r.qty for r in models if r.state == "reserved")
        model_sold = sum(r.qty for r in models if r.state == "paid")
        assert (int(available), int(reserved or 0), int(sold or 0)) == (self.available, model_reserved, model_sold)
        assert int(available) + int(reserved or 0) + int(sold or 0) == STOCK and int(available) >= 0
        held = {u: self.held(u) for u in USERS if self.held(u)}
        assert {u.decode(): int(n) for u, n in users.items()} == held
        assert all(n <= LIMIT for n in held.values())
        assert {m.decode() for m in unpaid} == {r.rid for r in models if r.state == "reserved"}
        assert orders == self.orders  # orders == paid reservations
        assert [s.decode() for s in states] == [r.state for r in models]


def test_reservation_life_cycle_keeps_its_invariants(redis_url: str) -> None:
    ReservationLifecycle.redis_url = redis_url
    run_state_machine_as_test(
        ReservationLifecycle,
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
