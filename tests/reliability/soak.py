"""A longer soak of the faults the tests in tests/reliability/ inject once each, bounded in time:

    PYTHONPATH=$PWD .venv/bin/python -m tests.reliability.soak --minutes 10

One redis-server (AOF, fsync always) and two livehub nodes on loopback; 40 viewers of one
brand venue buy in rounds while a host publishes; between rounds one fault, in turn: Redis
paused 5 s, Redis killed and restarted with its data, a node SIGKILLed (and started again),
a node shut down gracefully (and started again).  After every round it checks that each
viewer's events had no gap and no duplicate, that every sale balances (initial == available +
reserved + sold) and that every ``ok`` is a reservation.  Exits 1 at the first violation; every
process it started is stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from typing import Any

from livehub.client import Client, ClientError, Closed
from tests.conftest import LivehubProcess
from tests.reliability.support import (
    OwnRedis,
    eventually,
    kill_node,
    new_sale,
    node,
    publish,
    ready,
    sale_state,
    viewer,
)


async def _buy(client: Client, sale_id: str, request_id: str, fallback: list[LivehubProcess]) -> dict[str, Any]:
    for attempt in range(100):
        try:
            answer = await client.request({"type": "buy", "id": request_id, "sale": sale_id, "qty": 1}, timeout=15)
        except ClientError as exc:
            answer = {"status": exc.code}
        except (Closed, TimeoutError, OSError):
            client.base_url = fallback[attempt % len(fallback)].ws
            try:
                await client.resume()
            except Exception:
                await asyncio.sleep(0.5)
            continue
        if answer["status"] in ("ok", "duplicate", "sold_out", "limit_reached"):
            return answer
        await asyncio.sleep(0.2)
    return {"status": "gave_up"}


async def soak(minutes: float) -> int:
    redis = OwnRedis(aof=True).start()
    prefix = "soak" + uuid.uuid4().hex[:6]
    nodes = [node(redis, prefix), node(redis, prefix)]
    clients: list[Client] = []
    deadline = time.monotonic() + 60 * minutes
    faults = ["pause", "restart", "kill", "term"]
    rounds = 0
    try:
        clients = [await viewer(nodes[i % 2], "b1") for i in range(40)]
        while time.monotonic() < deadline:
            fault = faults[rounds % len(faults)]
            rounds += 1
            sale = await new_sale(nodes[1], "b1", stock=20)
            buys = [asyncio.create_task(_buy(c, sale["sale_id"], uuid.uuid4().hex, nodes)) for c in clients]
            await asyncio.sleep(0.2)
            if fault == "pause":
                redis.pause()
                await asyncio.sleep(5)
                redis.resume()
            elif fault == "restart":
                redis.kill()
                redis.start()
            elif fault == "kill":
                kill_node(nodes[0])
                nodes[0] = node(redis, prefix)
            else:
                await asyncio.to_thread(nodes[0].stop)
                nodes[0] = node(redis, prefix)
            answers = await asyncio.wait_for(asyncio.gather(*buys), 120)
            await eventually(lambda: _all_ready(nodes), "every node ready")
            text = f"round {rounds}"
            await eventually(lambda text=text: _published(nodes[1], text), "a publish")  # type: ignore[misc]
            for c in clients:
                try:
                    await c.wait_for("event", timeout=20, kind="announcement", data={"text": text})
                except Closed:  # told to resume meanwhile (4009, 1012): resume and look again
                    c.base_url = nodes[1].ws
                    await c.resume()
            state = await sale_state(nodes[1], sale["sale_id"])
            won = {a["reservation"] for a in answers if a["status"] in ("ok", "duplicate")}
            gaps = [c.gaps for c in clients if c.gaps]
            balanced = state["stock"] == state["available"] + state["reserved"] + state["sold"]
            ok = balanced and len(won) == state["reserved"] + state["sold"] and not gaps
            print(f"round {rounds} ({fault}): {len(won)} reservations, {state}, gaps {gaps[:2]}", flush=True)
            if not ok:
                return 1
        print(f"soak passed: {rounds} rounds in {minutes} minutes")
        return 0
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        for n in nodes:
            n.stop()
        redis.stop()


async def _all_ready(nodes: list[LivehubProcess]) -> bool:
    return all([await ready(n) == 200 for n in nodes])


async def _published(server: LivehubProcess, text: str) -> bool:
    status, _ = await publish(server, "b1", "announcement", {"text": text})
    return status == 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    sys.exit(asyncio.run(soak(parser.parse_args().minutes)))


if __name__ == "__main__":
    main()
