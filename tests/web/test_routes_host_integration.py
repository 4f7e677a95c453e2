"""The host routes on a real `livehub serve`: which error a malformed request gets first (the
venue, then the token, then the product / guide / brand, then the numbers), as before the
routes were split by audience."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import LivehubProcess, host_token, http_json

pytestmark = pytest.mark.asyncio


async def call(server: LivehubProcess, path: str, body: object, token: str | None) -> tuple[int, dict[str, Any]]:
    return await asyncio.to_thread(http_json, "POST", f"{server.http}{path}", body, token)


@pytest.mark.parametrize(
    ("path", "body", "token", "status", "code"),
    [
        ("/api/venues/nowhere/sales", {"sku": "nope"}, None, 404, "not_found"),
        ("/api/venues/b1/sales", {"sku": "nope"}, None, 401, "unauthorized"),
        ("/api/venues/b1/sales", {"sku": "nope"}, ("host-b2", "b2"), 403, "forbidden"),
        ("/api/venues/b1/sales", {"sku": "nope", "stock": "x"}, ("host-b1", "b1"), 404, "not_found"),
        ("/api/venues/b1/sales", {"stock": 5}, ("host-b1", "b1"), 400, "bad_request"),
        ("/api/venues/b1/sales", {"sku": "b2-sku1", "stock": "x"}, ("host-b1", "b1"), 400, "bad_request"),
        ("/api/venues/b1/sales", {"sku": "b1-sku1", "stock": "x"}, ("host-b1", "b1"), 400, "bad_request"),
        ("/api/venues/b1/coupons", {"guide": "nobody", "total": "x"}, ("host-b1", "b1"), 404, "not_found"),
        ("/api/venues/b2/coupons", {"guide": "b1-g1", "total": "x"}, ("host-b2", "b2"), 403, "forbidden"),
        ("/api/venues/b1/coupons", {"brand": "b2", "total": "x"}, ("host-b1", "b1"), 403, "forbidden"),
        ("/api/venues/b1/coupons", {"total": "x"}, ("host-b1", "b1"), 400, "bad_request"),
        ("/api/venues/b1/cohost", {"brand_venue": "b1"}, ("host-b1", "b1"), 400, "bad_request"),  # main only
        ("/api/venues/main/cohost", {"brand_venue": "main"}, ("host-main", "main"), 404, "not_found"),
    ],
    ids=["venue", "token", "other-venue", "sku-before-numbers", "sku-missing", "brand-before-numbers", "numbers",
         "guide-before-numbers", "guide-brand", "coupon-brand", "coupon-numbers", "cohost-main-only",
         "cohost-brand-venue"],
)  # fmt: skip
async def test_a_malformed_host_request_gets_its_first_error(
    livehub_server: LivehubProcess, path: str, body: object, token: tuple[str, str] | None, status: int, code: str
) -> None:
    got_status, out = await call(livehub_server, path, body, host_token(*token) if token else None)
    assert (got_status, out["type"], out["code"]) == (status, "error", code), out


async def test_a_call_to_action_whose_text_is_not_a_string_is_refused_naming_the_field(
    livehub_server: LivehubProcess,
) -> None:
    status, out = await call(livehub_server, "/api/venues/main/cta", {"target": "b1", "text": {"a": 1}},
                             host_token("host-main", "main"))  # fmt: skip
    assert (status, out["code"], out["details"]) == (400, "bad_request", {"field": "text"})
    assert "'text'" in out["message"]


async def test_a_number_of_the_wrong_type_names_its_field(livehub_server: LivehubProcess) -> None:
    status, out = await call(livehub_server, "/api/venues/b1/sales", {"sku": "b1-sku1", "duration_s": True},
                             host_token("host-b1", "b1"))  # fmt: skip
    assert status == 400 and out["details"] == {"field": "duration_s"}


def post_raw(server: LivehubProcess, path: str, raw: bytes, token: str) -> tuple[int, dict[str, Any]]:
    import urllib.error
    import urllib.request

    import orjson

    req = urllib.request.Request(f"{server.http}{path}", data=raw, method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, orjson.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read())


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


async def test_event_data_nested_deeper_than_the_node_re_encodes_is_a_bad_request_naming_the_field(
    livehub_server: LivehubProcess,
) -> None:
    token = host_token("host-b1", "b1")
    raw = b'{"kind": "announce", "data": ' + nested(300) + b"}"
    status, out = await asyncio.to_thread(post_raw, livehub_server, "/api/venues/b1/events", raw, token)
    assert (status, out["code"], out.get("details")) == (400, "bad_request", {"field": "data"}), out
    raw = b'{"kind": "announce", "data": {"deep": ' + nested(100) + b"}}"  # deep, but within the limit
    status, out = await asyncio.to_thread(post_raw, livehub_server, "/api/venues/b1/events", raw, token)
    assert status == 200 and out["offset"] > 0, out
