"""The hub over real websockets, on real `livehub serve` processes and a real Redis."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import uuid

import pytest

from livehub.client import Client, ClientError
from tests.conftest import (
    HUB_ENV,
    LivehubProcess,
    host_token,
    http_json,
    viewer_token,
)

pytestmark = pytest.mark.asyncio


def publish(server: LivehubProcess, venue: str, kind: str, data: object, token: str | None = None) -> dict:  # type: ignore[type-arg]
    host = "host-main" if venue == "main" else f"host-{venue}"
    status, body = http_json("POST", f"{server.http}/api/venues/{venue}/events", {"kind": kind, "data": data},
                             token or host_token(host, venue))  # fmt: skip
    assert status == 200, body
    return body


async def apublish(server: LivehubProcess, venue: str, kind: str, data: object) -> dict:  # type: ignore[type-arg]
    return await asyncio.to_thread(publish, server, venue, kind, data)


async def viewer(server: LivehubProcess, venue: str | None, codec: str = "json", **kw: object) -> Client:
    client = await Client.connect(server.ws, viewer_token("u-" + uuid.uuid4().hex[:8]), venue=venue, codec=codec,
                                  **kw)  # type: ignore[arg-type]  # fmt: skip
    if venue is not None:
        await client.wait_for("snapshot")
    return client


def new_run() -> str:
    """A tag for one test's events: the session servers are shared, and other tests' events (a cohost
    change, a sale, their own markers) may land in this test's window on the same venues."""
    return "run-" + uuid.uuid4().hex[:10]


async def events_until(client: Client, kind: str, marker: object, run: str, timeout: float = 10.0) -> list[dict]:  # type: ignore[type-arg]
    """This test's event frames (data.run == run) up to and including the one with ``kind`` whose
    data.marker == marker; events without this run's tag are skipped, whoever sent them."""
    seen = []
    while True:
        frame = await client.next(timeout)
        if frame.get("type") != "event":
            continue
        data = frame.get("data")
        if not isinstance(data, dict) or data.get("run") != run:
            continue
        seen.append(frame)
        if frame["kind"] == kind and data.get("marker") == marker:
            return seen


# ---- 1+N delivery ---------------------------------------------------------------------------------
async def test_brand_viewers_get_main_events_and_never_another_brands(livehub_server: LivehubProcess) -> None:
    main, b1, b2 = [await viewer(livehub_server, v) for v in ("main", "b1", "b2")]
    run = new_run()
    try:
        await apublish(livehub_server, "b1", "brand.news", {"marker": "b1-only", "run": run})
        await apublish(livehub_server, "main", "main.news", {"marker": "everyone", "run": run})
        for client in (main, b1, b2):
            seen = await events_until(client, "main.news", "everyone", run)
            markers = [e["data"]["marker"] for e in seen]
            if client is b1:
                assert markers == ["b1-only", "everyone"]
            else:
                assert markers == ["everyone"], f"{client.venue} saw {markers}"
        assert b1.positions.keys() == {"main", "b1"}
        assert main.positions.keys() == {"main"}
    finally:
        for c in (main, b1, b2):
            await c.close()


async def test_msgpack_and_json_viewers_receive_the_same_event(livehub_server: LivehubProcess) -> None:
    js, mp = await viewer(livehub_server, "b2", "json"), await viewer(livehub_server, "b2", "msgpack")
    try:
        run = new_run()
        data = {"marker": "codec", "run": run, "text": "你好", "price_cents": 1999,
                "nested": {"list": [1, 2.5, None, True]}}  # fmt: skip
        await apublish(livehub_server, "b2", "codec.check", data)
        a = (await events_until(js, "codec.check", "codec", run))[-1]
        b = (await events_until(mp, "codec.check", "codec", run))[-1]
        assert a == b
        assert a["data"] == data and a["ch"] == "b2" and isinstance(a["offset"], int)
        assert mp.welcome["v"] == js.welcome["v"] == 1
    finally:
        await js.close()
        await mp.close()


# ---- snapshot ---------------------------------------------------------------------------------
async def test_join_snapshot_carries_positions_state_and_counters(livehub_server: LivehubProcess) -> None:
    status, body = await asyncio.to_thread(
        http_json, "POST", f"{livehub_server.http}/api/venues/main/cohost", {"brand_venue": "b3"}, host_token()
    )
    assert status == 200, body
    late = await viewer(livehub_server, None)
    try:
        snap = await late.join("b3")
        assert snap["type"] == "snapshot" and snap["recovered"] is False and snap["venue"] == "b3"
        assert set(snap["channels"]) == {"main", "b3"}
        assert snap["state"]["main"]["cohost"]["brand_venue"] == "b3"
        assert snap["state"]["b3"]["cohost"]["active"] is True
        assert snap["channels"]["main"]["offset"] >= 1
        assert set(snap["counters"]["b3"]) >= {"online", "likes"}
    finally:
        await late.close()
        await asyncio.to_thread(http_json, "DELETE", f"{livehub_server.http}/api/venues/main/cohost", None,
                                host_token())  # fmt: skip


# ---- recovery ---------------------------------------------------------------------------------
async def test_resume_replays_exactly_the_missed_events(livehub_server: LivehubProcess) -> None:
    client = await viewer(livehub_server, "b1")
    run = new_run()
    try:
        await apublish(livehub_server, "b1", "tick", {"marker": 0, "run": run})
        await events_until(client, "tick", 0, run)
        await client.close()
        for i in range(1, 8):
            await apublish(livehub_server, "b1" if i % 2 else "main", "tick", {"marker": i, "run": run})
        snap = await client.resume()
        assert snap["recovered"] is True and "state" not in snap
        seen = await events_until(client, "tick", 7, run)
        for channel, markers in (("b1", [1, 3, 5, 7]), ("main", [2, 4, 6])):
            assert [e["data"]["marker"] for e in seen if e["ch"] == channel] == markers
        await apublish(livehub_server, "b1", "tick", {"marker": 8, "run": run})
        after = await events_until(client, "tick", 8, run)
        assert [e["data"]["marker"] for e in after] == [8]
        assert client.gaps == []
    finally:
        await client.close()


async def test_resume_beyond_history_gets_a_fresh_snapshot(livehub_server: LivehubProcess) -> None:
    client = await viewer(livehub_server, "b2")
    run = new_run()
    try:
        await client.close()
        history = int(HUB_ENV["LIVEHUB_HISTORY_SIZE"])
        for i in range(history + 5):
            await apublish(livehub_server, "b2", "flood", {"marker": i, "run": run})
        snap = await client.resume()
        assert snap["recovered"] is False
        assert "state" in snap
        assert snap["channels"]["b2"]["offset"] == client.positions["b2"][1]
        await apublish(livehub_server, "b2", "flood", {"marker": "after", "run": run})
        seen = await events_until(client, "flood", "after", run)
        assert [e["data"]["marker"] for e in seen] == ["after"]  # no partial replay
    finally:
        await client.close()


async def test_resume_from_an_unknown_epoch_gets_a_fresh_snapshot(livehub_server: LivehubProcess) -> None:
    client = await viewer(livehub_server, None)
    try:
        snap = await client.request({"type": "join", "venue": "b1", "since": {"main": ["deadbeef", 3],
                                                                                "b1": ["deadbeef", 1]}})  # fmt: skip
        assert snap["recovered"] is False and "state" in snap
    finally:
        await client.close()


# ---- several nodes ------------------------------------------------------------------------------
async def test_two_processes_deliver_to_viewers_on_either(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    on_a, on_b = await viewer(livehub_server, "b3"), await viewer(livehub_peer, "b3")
    run = new_run()
    try:
        assert on_a.welcome["node"] != on_b.welcome["node"]
        await apublish(livehub_server, "b3", "cross", {"marker": "from-a", "run": run})
        await apublish(livehub_peer, "main", "cross", {"marker": "from-b", "run": run})
        for client in (on_a, on_b):
            seen = await events_until(client, "cross", "from-b", run)
            assert [e["data"]["marker"] for e in seen] == ["from-a", "from-b"]
    finally:
        await on_a.close()
        await on_b.close()


async def test_online_count_is_summed_across_nodes(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    clients = [await viewer(livehub_server, "b2"), await viewer(livehub_peer, "b2"),
               await viewer(livehub_peer, "b2")]  # fmt: skip
    try:
        watcher = clients[0]
        for _ in range(50):
            frame = await watcher.wait_for("online", venue="b2")
            if frame["count"] >= 3:
                break
        assert frame["count"] >= 3
    finally:
        for c in clients:
            await c.close()


# ---- audience signals ---------------------------------------------------------------------------
async def test_comments_reach_the_room_and_likes_are_counted(livehub_server: LivehubProcess) -> None:
    a, b = await viewer(livehub_server, "b1"), await viewer(livehub_server, "b1")
    try:
        ack = await a.request({"type": "comment", "text": "  is this in stock?  "})
        assert ack == {"sampled_out": False}
        comment = await b.wait_for("comment", venue="b1")
        assert comment["text"] == "is this in stock?" and comment["user"] == a.welcome["user"]
        await a.send({"type": "like", "n": 7})
        await b.send({"type": "like", "n": 5})
        for _ in range(50):
            frame = await b.wait_for("likes", venue="b1")
            if frame["count"] >= 12:
                break
        assert frame["count"] >= 12
    finally:
        await a.close()
        await b.close()


async def test_comment_flood_is_rate_limited_per_viewer(livehub_server: LivehubProcess) -> None:
    client = await viewer(livehub_server, "b3")
    try:
        codes = []
        for i in range(6):
            try:
                await client.request({"type": "comment", "text": f"spam {i}"})
                codes.append("ok")
            except ClientError as exc:
                codes.append(exc.code)
        assert codes[:3] == ["ok", "ok", "ok"]  # comment_burst
        assert "rate_limited" in codes[3:]
        assert (await client.request({"type": "ping"}))["server_time"] > 0  # still connected
    finally:
        await client.close()


# ---- hosts ----------------------------------------------------------------------------------------
async def test_visit_call_to_action_reaches_every_sub_venue(livehub_server: LivehubProcess) -> None:
    b2 = await viewer(livehub_server, "b2")
    try:
        status, _ = await asyncio.to_thread(http_json, "POST", f"{livehub_server.http}/api/venues/main/cta",
                                            {"target": "b1", "text": "go!"}, host_token())  # fmt: skip
        assert status == 200
        frame = await b2.wait_for("event", kind="cta.visit")
        assert frame["ch"] == "main" and frame["data"]["target"] == "b1"
        moved = await b2.join(frame["data"]["target"])
        assert moved["venue"] == "b1" and set(moved["channels"]) == {"main", "b1"}
    finally:
        await b2.close()


async def test_hosts_relay_cohost_signals_to_each_other(
    livehub_server: LivehubProcess, livehub_peer: LivehubProcess
) -> None:
    main_host = await Client.connect(livehub_server.ws, host_token(), venue="main")
    brand_host = await Client.connect(livehub_peer.ws, host_token("host-b1", "b1"), venue="b1")
    try:
        await main_host.wait_for("snapshot")
        await brand_host.wait_for("snapshot")
        await main_host.request({"type": "signal", "to": "host-b1", "data": {"sdp": "offer-1"}})
        got = await brand_host.wait_for("signal")
        assert got["from"] == "host-main" and got["data"] == {"sdp": "offer-1"}
        audience = await viewer(livehub_server, "b1")
        with pytest.raises(ClientError) as err:
            await audience.request({"type": "signal", "to": "host-b1", "data": {}})
        assert err.value.code == "forbidden"
        await audience.close()
    finally:
        await main_host.close()
        await brand_host.close()


async def test_host_controls_refuse_wrong_or_missing_tokens(livehub_server: LivehubProcess) -> None:
    url = f"{livehub_server.http}/api/venues/b1/events"
    body = {"kind": "x", "data": {}}
    assert (await asyncio.to_thread(http_json, "POST", url, body))[0] == 401
    assert (await asyncio.to_thread(http_json, "POST", url, body, "junk.token"))[0] == 401
    assert (await asyncio.to_thread(http_json, "POST", url, body, viewer_token("v")))[0] == 403
    assert (await asyncio.to_thread(http_json, "POST", url, body, host_token("host-b2", "b2")))[0] == 403
    assert (await asyncio.to_thread(http_json, "POST", url, body, host_token()))[0] == 200  # main host drives all
    status, err = await asyncio.to_thread(http_json, "POST", f"{livehub_server.http}/api/venues/nope/events", body,
                                          host_token())  # fmt: skip
    assert status == 404 and err["code"] == "not_found"
    status, err = await asyncio.to_thread(http_json, "POST", url, {"kind": "BAD KIND"}, host_token())
    assert status == 400 and err["code"] == "bad_request"


# ---- bad input ---------------------------------------------------------------------------------------
async def test_bad_frames_get_documented_errors_and_the_connection_survives(livehub_server: LivehubProcess) -> None:
    client = await viewer(livehub_server, "b1")
    try:
        cases = [
            ("not json at all", "bad_frame"),
            ("[1, 2, 3]", "bad_frame"),
            ('{"no_type": 1}', "bad_frame"),
            ('{"type": "teleport"}', "unknown_type"),
            ('{"type": "like", "n": 100000}', "bad_request"),
            ('{"type": "join", "venue": "../../etc"}', "bad_request"),
            ('{"type": "join", "venue": "no-such-venue", "id": 1}', "not_found"),
            ('{"type": "comment", "text": "' + "x" * 300 + '"}', "bad_request"),
            ('{"type": "ping", "pad": "' + "x" * 9000 + '"}', "too_large"),
        ]
        for payload, code in cases:
            await client.send_raw(payload)
            frame = await client.wait_for("error")
            assert frame["code"] == code, (payload[:40], frame)
            assert frame["message"]
        assert (await client.request({"type": "ping"}))["server_time"] > 0
    finally:
        await client.close()


async def test_a_frame_above_the_websocket_limit_closes_only_that_connection(livehub_server: LivehubProcess) -> None:
    bystander = await viewer(livehub_server, "b1")
    offender = await viewer(livehub_server, "b1")
    try:
        await offender.send_raw("x" * 70_000)
        with pytest.raises(Exception):  # noqa: B017 - Closed or ConnectionClosed
            for _ in range(100):
                await offender.next(5)
        assert offender.close_code == 1009
        assert (await bystander.request({"type": "ping"}))["server_time"] > 0
        assert (await asyncio.to_thread(http_json, "GET", f"{livehub_server.http}/readyz"))[0] == 200
    finally:
        await bystander.close()
        await offender.close()


async def test_wrong_token_and_unknown_venue_close_with_documented_codes(livehub_server: LivehubProcess) -> None:
    from websockets.asyncio.client import connect

    for url, code, error in [
        (f"{livehub_server.ws}/ws?venue=main&token=forged.token", 4001, "unauthorized"),
        (f"{livehub_server.ws}/ws?venue=atlantis", 4004, "not_found"),  # no token: an anonymous viewer (issue 8)
        (f"{livehub_server.ws}/ws?venue=atlantis&token={viewer_token('v1')}", 4004, "not_found"),
    ]:
        async with connect(url) as ws:
            import orjson

            frame = orjson.loads(await ws.recv())
            assert frame["type"] == "error" and frame["code"] == error
            await ws.wait_closed()
            assert ws.close_code == code


# ---- slow consumers ----------------------------------------------------------------------------------
def _raw_ws_that_never_reads(port: int, token: str) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws?venue=b3&token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert b"101" in sock.recv(1024).split(b"\r\n")[0]
    return sock


def _metrics_text(server: LivehubProcess) -> str:
    import urllib.request

    with urllib.request.urlopen(server.http + "/metrics", timeout=5) as r:
        return str(r.read().decode())


def _metric(server: LivehubProcess, name: str) -> float:
    text = _metrics_text(server)
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


async def test_a_slow_consumer_is_closed_while_the_others_keep_receiving(livehub_server: LivehubProcess) -> None:
    before = await asyncio.to_thread(_metric, livehub_server, "livehub_slow_closes_total")
    stalled = await asyncio.to_thread(_raw_ws_that_never_reads, livehub_server.port, viewer_token("stalled"))
    healthy = await viewer(livehub_server, "b3")
    try:
        pad, run = "p" * 12_000, new_run()
        for i in range(400):
            await apublish(livehub_server, "b3", "bulk", {"marker": i, "run": run, "pad": pad})
        seen = await events_until(healthy, "bulk", 399, run, timeout=30)
        assert [e["data"]["marker"] for e in seen] == list(range(400))  # all, in order
        for _ in range(100):
            if await asyncio.to_thread(_metric, livehub_server, "livehub_slow_closes_total") > before:
                break
            await asyncio.sleep(0.1)
        assert await asyncio.to_thread(_metric, livehub_server, "livehub_slow_closes_total") > before
        assert healthy.gaps == []
    finally:
        stalled.close()
        await healthy.close()


# ---- operations ---------------------------------------------------------------------------------------
async def test_health_readiness_and_metrics_endpoints(livehub_server: LivehubProcess) -> None:
    client = await viewer(livehub_server, "main")
    try:
        assert (await asyncio.to_thread(http_json, "GET", f"{livehub_server.http}/healthz"))[0] == 200
        assert (await asyncio.to_thread(http_json, "GET", f"{livehub_server.http}/readyz"))[1]["status"] == "ready"
        text = await asyncio.to_thread(_metrics_text, livehub_server)
        for family in ["livehub_connections", "livehub_frames_sent_total", "livehub_bytes_sent_total",
                       "livehub_batched_writes_total", "livehub_coalesced_total", "livehub_dropped_total",
                       "livehub_slow_closes_total", "livehub_recovery_total",
                       "livehub_event_latency_seconds_bucket"]:  # fmt: skip
            assert family in text, family
        assert 'livehub_connections{node=' in text
    finally:
        await client.close()


async def test_graceful_shutdown_closes_viewers_with_1012(redis_url: str) -> None:
    server = LivehubProcess(redis_url, "gs" + uuid.uuid4().hex[:6], env={"LIVEHUB_SHUTDOWN_BATCH_SIZE": "2"})
    await asyncio.to_thread(server.start)
    try:
        clients = [await viewer(server, "main") for _ in range(5)]
        assert server.process is not None
        server.process.terminate()
        for c in clients:
            with pytest.raises(Exception):  # noqa: B017
                for _ in range(1000):
                    await c.next(10)
            assert c.close_code == 1012, c.close_code
        assert await asyncio.to_thread(server.process.wait, 20) == 0
    finally:
        server.stop()


async def test_workers_share_one_port_and_deliver_through_redis(redis_url: str) -> None:
    server = LivehubProcess(redis_url, "wk" + uuid.uuid4().hex[:6], workers=2)
    await asyncio.to_thread(server.start)
    clients: list[Client] = []
    try:
        nodes: set[str] = set()
        for _ in range(100):  # readyz answered from one worker: wait until the other answers too
            _status, body = await asyncio.to_thread(http_json, "GET", f"{server.http}/readyz")
            nodes.add(body.get("node", ""))
            if len(nodes) == 2:
                break
        nodes.clear()
        for _ in range(6):  # concurrent connects, so that both workers' accepts get some
            burst = await asyncio.gather(*(viewer(server, "b1") for _ in range(40)))
            clients += burst
            nodes.update(c.welcome["node"] for c in burst)
            if len(nodes) == 2:
                break
        assert len(nodes) == 2, "both worker processes accept connections"
        run = new_run()
        await apublish(server, "main", "workers", {"marker": "all", "run": run})
        for client in clients:
            assert [e["data"]["marker"] for e in await events_until(client, "workers", "all", run)] == ["all"]
    finally:
        await asyncio.gather(*(c.close() for c in clients))
        server.stop()
