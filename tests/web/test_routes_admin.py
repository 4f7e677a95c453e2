"""The festival admin routes on two real `livehub serve` nodes sharing one Redis (outside demo mode):
an admin's change on one node is served by both without a restart, reaches Redis' store index,
keeps live channels running, rotates host keys on both at once, and a CSV import with bad rows
is refused whole with each bad line.  The pair has a key prefix of its own: its edits never reach
the session's shared servers."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from livehub.client import Client
from livehub.domain.tokens import ADMIN, mint
from livehub.services.host_login import hash_key
from livehub.store.keys import Keys
from tests.conftest import HUB_ENV, SECRET, LivehubProcess, api, host_token, running, viewer_token

pytestmark = pytest.mark.asyncio

ADMIN_TOKEN = mint(SECRET, "festival-admin", ADMIN)
IMPORT_MAX_BYTES = 2_000_000  # the 10,000-row file fits
Pair = tuple[LivehubProcess, LivehubProcess]


@pytest.fixture(scope="module")
def prefix_of_pair() -> str:
    return "adm" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def pair(redis_url: str, prefix_of_pair: str) -> Iterator[Pair]:
    # no periodic catch-up within a test: a change reaches the other node by the backplane's poke
    env = {**HUB_ENV, "LIVEHUB_DEMO": "0", "LIVEHUB_FESTIVAL_SYNC_INTERVAL_S": "3600",
           "LIVEHUB_ADMIN_IMPORT_MAX_BYTES": str(IMPORT_MAX_BYTES)}  # fmt: skip
    with running(redis_url, prefix_of_pair, env) as one, running(redis_url, prefix_of_pair, env) as other:
        yield one, other


async def admin(server: LivehubProcess, method: str, path: str, body: object = None) -> tuple[int, dict[str, Any]]:
    return await api(method, server.http + path, body, ADMIN_TOKEN)


def post_csv(server: LivehubProcess, path: str, text: str, token: str = ADMIN_TOKEN) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(server.http + path, data=text.encode(), method="POST")
    request.add_header("Content-Type", "text/csv")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read() or b"{}")


async def eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """``check()`` (awaited if a coroutine) once it is truthy; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result or time.monotonic() > deadline:
            assert result, "not so within the timeout"
            return result
        await asyncio.sleep(0.1)


async def version_of(server: LivehubProcess) -> int:
    status, out = await admin(server, "GET", "/api/admin/festival")
    assert status == 200, out
    return int(out["version"])


async def served_by_both(pair: Pair, version: int) -> None:
    for server in pair:
        await eventually(lambda server=server: _at_least(server, version))


async def _at_least(server: LivehubProcess, version: int) -> bool:
    return await version_of(server) >= version


def new_id(what: str) -> str:
    return f"{what}-{uuid.uuid4().hex[:8]}"


async def test_a_store_added_on_one_node_is_served_by_both_and_indexed_in_redis(
    pair: Pair, redis_url: str, prefix_of_pair: str
) -> None:
    one, other = pair
    store = new_id("b1-adm")
    path = f"/api/stores/{store}/orders"
    assert (await admin(other, "GET", path))[0] == 404
    status, out = await admin(one, "POST", "/api/admin/festival", {"stores": [
        {"id": store, "brand": "b1", "name": "Pop-up store", "lat": 31.25, "lon": 121.45, "radius_km": 2.0,
         "stock": {"b1-sku1": 12}},
    ]})  # fmt: skip
    assert status == 200 and (out["applied"], out["created"], out["updated"]) == (True, 1, 0), out
    assert (await admin(one, "GET", path))[0] == 200  # the node that applied it serves it at once
    await eventually(lambda: _status_is(other, path, 200))  # the other without a restart

    keys = Keys(prefix_of_pair)
    r = aioredis.Redis.from_url(redis_url)
    try:
        [position] = await r.geopos(keys.brand_stores("b1"), store)
        assert position is not None and abs(position[1] - 31.25) < 1e-4
        assert await r.hget(keys.store_stock(store), "b1-sku1") == b"12"
    finally:
        await r.aclose()


async def _status_is(server: LivehubProcess, path: str, status: int) -> bool:
    return (await admin(server, "GET", path))[0] == status


async def test_a_venue_retitled_while_viewers_watch_it_keeps_its_live_channel(pair: Pair) -> None:
    one, other = pair
    title = "Swift Scooters, " + uuid.uuid4().hex[:6]
    async with await Client.connect(other.ws, viewer_token(new_id("u"))) as viewer:
        await viewer.join("b2")
        status, out = await admin(one, "POST", "/api/admin/festival", {"venues": [{"id": "b2", "title": title}]})
        assert status == 200, out
        await served_by_both(pair, out["version"])
        status, festival = await api("GET", other.http + "/api/festival")
        assert {v["id"]: v["title"] for v in festival["venues"]}["b2"] == title
        kind = new_id("bench")
        status, _ = await api("POST", f"{one.http}/api/venues/b2/events", {"kind": kind, "data": {}},
                              host_token("host-b2", "b2"))  # fmt: skip
        assert status == 200
        await viewer.wait_for("event", kind=kind)


async def test_a_host_added_on_one_node_logs_in_on_the_other_and_a_rotated_key_is_refused_on_both(
    pair: Pair,
) -> None:
    one, other = pair
    host, old_key, new_key = new_id("host"), "old-" + uuid.uuid4().hex, "new-" + uuid.uuid4().hex
    status, out = await admin(one, "POST", "/api/admin/festival", {"hosts": [
        {"id": host, "venue": "b3", "name": "Evening host", "key_hash": hash_key(old_key)}]})  # fmt: skip
    assert status == 200, out
    await served_by_both(pair, out["version"])
    status, login = await api("POST", other.http + "/api/auth/host", {"host": host, "key": old_key})
    assert status == 200 and login["venue"] == "b3", login

    status, out = await admin(other, "POST", f"/api/admin/hosts/{host}/key", {"key_hash": hash_key(new_key)})
    assert status == 200, out
    await served_by_both(pair, out["version"])
    for server in pair:
        assert (await api("POST", server.http + "/api/auth/host", {"host": host, "key": old_key}))[0] == 401
    assert (await api("POST", one.http + "/api/auth/host", {"host": host, "key": new_key}))[0] == 200


async def test_a_plaintext_host_key_is_refused_outside_demo_mode(pair: Pair) -> None:
    status, out = await admin(pair[0], "POST", "/api/admin/festival", {"hosts": [
        {"id": new_id("host"), "venue": "b3", "name": "Plain", "key": "plain-key-1"}]})  # fmt: skip
    assert status == 400 and out["code"] == "bad_request"
    assert out["details"]["rows"] == [{"section": "hosts", "line": 1, "field": "key",
                                       "reason": "plaintext keys are for demo mode only: give key_hash "
                                                 "(livehub hash-key)"}]  # fmt: skip


async def test_the_same_request_id_applies_once(pair: Pair) -> None:
    body = {"request_id": new_id("req"), "stores": [{"id": "b1-s2", "radius_km": 2.75}]}
    status, first = await admin(pair[0], "POST", "/api/admin/festival", body)
    assert status == 200 and not first["duplicate"], first
    status, again = await admin(pair[1], "POST", "/api/admin/festival", body)
    assert status == 200 and again["duplicate"] and again["version"] == first["version"], again


async def test_a_ten_thousand_row_csv_with_bad_rows_applies_nothing_and_names_each_bad_line(pair: Pair) -> None:
    one, other = pair
    tag = uuid.uuid4().hex[:6]
    header = "id,brand,name,lat,lon,radius_km,stock"
    rows = [f"imp-{tag}-{i},b2,Store {i},31.{i % 1000:03d},121.{i % 997:03d},3,b2-sku1=4" for i in range(10_000)]
    bad = list(rows)
    bad[41] = f"imp-{tag}-41,b2,Store 41,91.5,121.4,3,b2-sku1=4"  # latitude out of range
    bad[5000] = f"imp-{tag}-5000,b2,Store 5000,31.2,121.4,3,b1-sku1=4"  # another brand's product
    bad[9998] = f"imp-{tag}-9998,b2,,31.2,121.4,3,"  # no name
    before = await admin(other, "GET", "/api/admin/festival")

    status, out = await asyncio.to_thread(post_csv, one, "/api/admin/import/stores", "\n".join([header, *bad]))
    assert status == 400 and out["code"] == "bad_request", out
    assert [(r["line"], r["field"]) for r in out["details"]["rows"]] == [
        (43, "lat"), (5002, "stock.b1-sku1"), (10000, "name")]  # fmt: skip
    assert (await admin(one, "GET", "/api/admin/festival")) == before  # nothing applied

    status, out = await asyncio.to_thread(post_csv, one, "/api/admin/import/stores?dry_run=1",
                                          "\n".join([header, *rows]))  # fmt: skip
    assert status == 200 and (out["applied"], out["created"]) == (False, 10_000), out
    assert (await admin(one, "GET", "/api/admin/festival")) == before

    status, out = await asyncio.to_thread(post_csv, one, "/api/admin/import/stores", "\n".join([header, *rows]))
    assert status == 200 and (out["applied"], out["created"]) == (True, 10_000), out
    await served_by_both(pair, out["version"])
    _, after = await admin(other, "GET", "/api/admin/festival")
    assert after["stores"] == before[1]["stores"] + 10_000


async def test_a_guides_csv_adds_guides_whose_share_codes_attribute_at_once(pair: Pair) -> None:
    one, other = pair
    guide, code = new_id("g"), new_id("code")
    status, out = await asyncio.to_thread(post_csv, one, "/api/admin/import/guides",
                                          f"id,name,store,brand,share_code\n{guide},Mei,b1-s1,b1,{code}\n")  # fmt: skip
    assert status == 200 and out["created"] == 1, out
    await served_by_both(pair, out["version"])
    token = mint(SECRET, guide, "guide", guide=guide)
    status, me = await api("GET", other.http + "/api/guides/me", None, token)
    assert status == 200, me


def head_only_answer(port: int, head: str) -> bytes:
    """Send a request's head and no body; the whole answer (the server closes the connection)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer


async def test_an_import_larger_than_its_limit_is_refused_before_its_body_is_read(pair: Pair) -> None:
    head = (f"POST /api/admin/import/stores HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
            f"Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Length: {IMPORT_MAX_BYTES + 1}\r\n\r\n")  # fmt: skip
    answer = await asyncio.to_thread(head_only_answer, pair[0].port, head)  # no body sent: answered without it
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413") and b"connection: close" in rest.lower()
    assert orjson.loads(rest.partition(b"\r\n\r\n")[2])["code"] == "too_large"


async def test_an_import_body_must_be_csv(pair: Pair) -> None:
    status, out = await admin(pair[0], "POST", "/api/admin/import/guides", {"id": "x"})
    assert (status, out["details"]) == (400, {"field": "content-type"})


async def test_a_node_started_after_the_edits_serves_them(pair: Pair, redis_url: str, prefix_of_pair: str) -> None:
    store = new_id("b3-late")
    status, out = await admin(pair[0], "POST", "/api/admin/festival", {"stores": [
        {"id": store, "brand": "b3", "name": "Late store", "lat": 31.1, "lon": 121.3, "radius_km": 1.0}]})  # fmt: skip
    assert status == 200, out
    with running(redis_url, prefix_of_pair, {**HUB_ENV, "LIVEHUB_DEMO": "0"}) as late:
        assert await version_of(late) >= out["version"]
        assert (await admin(late, "GET", f"/api/stores/{store}/orders"))[0] == 200
