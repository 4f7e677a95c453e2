"""Node faults under load: a node SIGKILLed in the middle of a flash sale, and a node shut
down gracefully (SIGTERM) while its buyers buy.  Its viewers resume on the other node."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from livehub.client import Client, ClientError, Closed
from tests.conftest import LivehubProcess
from tests.reliability.support import OwnRedis, kill_node, new_sale, node, publish, sale_state, viewer

pytestmark = pytest.mark.asyncio

FINAL = {"ok", "duplicate", "sold_out", "limit_reached"}


class Buyer:
    """One viewer who buys one unit with one request id until the answer is final, resuming on
    ``fallback`` when its node goes away (the same request id again: idempotent)."""

    def __init__(self, client: Client, fallback: LivehubProcess) -> None:
        self.client = client
        self.fallback = fallback
        self.request_id = uuid.uuid4().hex
        self.answers: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []

    async def run(self, sale_id: str) -> dict[str, Any]:
        for _ in range(200):  # bounded
            try:
                answer = await self.client.request({"type": "buy", "id": self.request_id, "sale": sale_id, "qty": 1},
                                                   timeout=15)  # fmt: skip
            except ClientError as exc:
                answer = {"status": exc.code}
            except (Closed, TimeoutError, OSError):
                await self.move()
                continue
            self.answers.append(answer)
            if answer["status"] in FINAL:
                return answer
            await asyncio.sleep(0.05)
        raise AssertionError(f"no final answer: {self.answers[-3:]}")

    async def move(self) -> None:
        self.client.base_url = self.fallback.ws
        self.resumes.append(await self.client.resume())
        assert self.client.close_code is None


async def buy_through(fault: Callable[[], Any], redis_server: OwnRedis) -> None:
    prefix = "node" + uuid.uuid4().hex[:6]
    a, b = node(redis_server, prefix), node(redis_server, prefix)
    clients: list[Client] = []
    stop = asyncio.Event()
    try:
        stock = 30
        sale = await new_sale(b, "b1", stock=stock)
        clients = [await viewer((a, b)[i % 2], "b1") for i in range(60)]
        buyers = [Buyer(c, b) for c in clients]

        async def host() -> int:  # events keep coming on the venue during the whole sale
            n = 0
            while not stop.is_set():
                status, _ = await publish(b, "b1", "announcement", {"n": n})
                n += status == 200
                await asyncio.sleep(0.02)
            return n

        hosting = asyncio.create_task(host())
        buying = [asyncio.create_task(x.run(sale["sale_id"])) for x in buyers]
        await asyncio.sleep(0.3)  # the rush is on
        await fault(a)
        answers = await asyncio.wait_for(asyncio.gather(*buying), 90)
        stop.set()
        await asyncio.wait_for(hosting, 30)

        # every buyer on the lost node resumed on the other one, exactly: recovered, no gap, no duplicate
        moved = buyers[0::2]
        for x in moved:
            if not x.resumes:  # done buying before its node went: it notices the close now
                with pytest.raises(Closed):
                    while True:
                        await x.client.next(timeout=20)
                await x.move()
        assert all(r["recovered"] is True for x in moved for r in x.resumes), [x.resumes for x in moved]
        status, _ = await publish(b, "b1", "announcement", {"text": "the end"})
        assert status == 200
        for c in clients:
            await c.wait_for("event", timeout=20, kind="announcement", data={"text": "the end"})
        assert all(c.gaps == [] for c in clients), [c.gaps for c in clients if c.gaps][:3]

        # every ok answer is a live reservation; nothing oversold or lost
        won = {a["reservation"] for a in answers if a["status"] in ("ok", "duplicate")}
        state = await sale_state(b, sale["sale_id"])
        assert state["balanced"]
        assert state["stock"] == stock == state["available"] + state["reserved"] + state["sold"]
        assert len(won) == state["reserved"] + state["sold"] == stock
    finally:
        stop.set()
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        a.stop()
        b.stop()


async def test_a_node_killed_in_the_middle_of_a_flash_sale_loses_no_buy_and_its_viewers_resume_exactly(
    redis_server: OwnRedis,
) -> None:
    async def sigkill(server: LivehubProcess) -> None:
        kill_node(server)

    await buy_through(sigkill, redis_server)


async def test_a_graceful_shutdown_under_load_drains_without_losing_acknowledged_work(redis_server: OwnRedis) -> None:
    async def sigterm(server: LivehubProcess) -> None:
        proc, server.process = server.process, None
        assert proc is not None
        proc.send_signal(signal.SIGTERM)
        try:  # the drain waits up to 30 s for its viewers to go (docs/operations.md, shutdown)
            returncode = await asyncio.to_thread(proc.wait, 45)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            raise
        assert returncode == 0, server.log()

    await buy_through(sigterm, redis_server)
