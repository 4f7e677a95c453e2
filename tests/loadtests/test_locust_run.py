"""loadtests/locustfile.py run headless by real locust against a real `livehub serve`: a short run
that works exits 0 with the checker's OK; a crowd whose websockets are refused is a failed run;
an invariant breach found after the run makes locust exit non-zero; the crowd's websocket client
(loadtests/crowd/wire.py) against the node."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from livehub.domain.sale_rules import SaleSpec
from livehub.store.keys import Keys
from livehub.store.sales import SaleStore
from livehub.store.scripts import Scripts
from tests.conftest import SECRET, SMALL_CONFIG, LivehubProcess, running

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(redis_url: str) -> Iterator[tuple[LivehubProcess, str]]:
    prefix = "loc" + os.urandom(4).hex()
    with running(redis_url, prefix, {"LIVEHUB_DEMO": "1"}) as srv:
        yield srv, prefix


async def run_locust(server: LivehubProcess, redis_url: str, prefix: str, tmp_path: Path, secret: str,
                     seconds: int = 4) -> tuple[int | None, str, list[dict[str, str]]]:  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEHUB_")}
    env.update({"LIVEHUB_SECRET": secret, "LIVEHUB_LOCUST_CONFIG": SMALL_CONFIG, "PYTHONPATH": str(ROOT)})
    cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / "locustfile.py"), "--headless",
           "-H", server.http, "-u", "6", "-r", "6", "-t", f"{seconds}s", "--stop-timeout", "2", "--only-summary",
           "--csv", str(tmp_path / "run"), "--livehub-redis-url", redis_url, "--livehub-prefix", prefix,
           "--livehub-check-settle-s", "0"]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=seconds + 60)
    stats = tmp_path / "run_stats.csv"
    rows: list[dict[str, str]] = []
    if stats.exists():
        with stats.open() as f:
            rows = list(csv.DictReader(f))
    return proc.returncode, out.decode(errors="replace"), rows


def count(rows: list[dict[str, str]], kind: str, name: str, column: str = "Request Count") -> int:
    return sum(int(r[column]) for r in rows if r["Type"] == kind and r["Name"].startswith(name))


async def test_a_short_run_joins_over_websockets_reports_them_and_checks_the_invariants(
    server: tuple[LivehubProcess, str], redis_url: str, tmp_path: Path
) -> None:
    srv, prefix = server
    code, out, rows = await run_locust(srv, redis_url, prefix, tmp_path, SECRET)
    assert code == 0, out[-3000:]
    assert count(rows, "WS", "join ") > 0 and count(rows, "WS", "join ", "Failure Count") == 0, out[-3000:]
    assert "invariants: OK" in out


async def test_viewers_whose_websockets_are_refused_are_failures_and_fail_the_run(
    server: tuple[LivehubProcess, str], redis_url: str, tmp_path: Path
) -> None:
    srv, prefix = server
    code, out, rows = await run_locust(srv, redis_url, prefix, tmp_path, "not-the-server-secret", seconds=3)
    assert code == 1, out[-3000:]
    assert count(rows, "WS", "join ", "Failure Count") > 0, out[-3000:]  # closed 4001 before any snapshot


async def test_an_invariant_breach_after_the_run_makes_locust_exit_non_zero(
    server: tuple[LivehubProcess, str], redis_url: str, tmp_path: Path
) -> None:
    srv, prefix = server
    client = aioredis.Redis.from_url(redis_url)
    keys = Keys(prefix)
    scripts = Scripts(client)
    try:
        spec = SaleSpec(sale_id="broken", venue="b1", brand="b1", sku="b1-sku1", stock=5, price_cents=100,
                        per_user_limit=1, starts_at_ms=4_000_000_000_000, ends_at_ms=4_000_000_600_000,
                        reservation_ttl_s=60)  # fmt: skip  (far ahead: no sweeper retires it meanwhile)
        assert await SaleStore(client, keys, scripts).create(spec)
        await client.decr(keys.sale_stock("broken"))  # one unit lost
        code, out, _rows = await run_locust(srv, redis_url, prefix, tmp_path, SECRET, seconds=3)
    finally:
        await client.delete(keys.sale_spec("broken"), keys.sale_stock("broken"), keys.sale_counts("broken"),
                            keys.sales_of_venue("b1"))  # fmt: skip
        await scripts.aclose()
        await client.aclose()
    assert code == 1, out[-3000:]
    assert "BREACH sale broken [units]" in out


def test_the_crowds_websocket_client_joins_asks_and_closes_and_reads_a_nodes_close_code(
    server: tuple[LivehubProcess, str],
) -> None:
    from loadtests.crowd.wire import Closed, WebSocket
    from tests.conftest import viewer_token

    srv, _prefix = server
    ws = WebSocket(f"{srv.ws}/ws?venue=b1&token={viewer_token('wire-u1')}", ["livehub.json.v1"], 10)
    try:
        assert json.loads(ws.recv(10))["type"] == "welcome"
        assert json.loads(ws.recv(10))["type"] == "snapshot"
        ws.send(json.dumps({"type": "ping", "id": "p1"}))
        frame = json.loads(ws.recv(10))
        while frame.get("id") != "p1":  # latest-value frames may come first
            frame = json.loads(ws.recv(10))
        assert frame["type"] == "reply" and "server_time" in frame["data"]
        ws.close()
        with pytest.raises(Closed):
            while True:
                ws.recv(10)
    finally:
        ws.release()
    refused = WebSocket(f"{srv.ws}/ws?venue=b1&token=forged", ["livehub.json.v1"], 10)
    try:
        assert json.loads(refused.recv(10))["code"] == "unauthorized"
        with pytest.raises(Closed) as closed:
            refused.recv(10)
        assert closed.value.code == 4001
    finally:
        refused.release()
