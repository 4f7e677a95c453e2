"""The provider's pre-sale payment callback on a real livehub outside demo mode: signed with the
payment secret like the flash-sale callback; deposit then balance stages, retries, wrong stage or
user, and no demo payment route."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import orjson
import pytest

from livehub.services.payments import signed_headers
from tests.conftest import PAYMENT_SECRET, LivehubProcess, host_token, http_json, viewer_token

pytestmark = pytest.mark.asyncio


def post(server: LivehubProcess, raw: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(f"{server.http}/api/payments/presale-callback", data=raw, method="POST")
    for name, value in headers.items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, orjson.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read() or b"{}")


async def callback(server: LivehubProcess, body: dict[str, Any], secret: str = PAYMENT_SECRET
                   ) -> tuple[int, dict[str, Any]]:  # fmt: skip
    raw = orjson.dumps(body)
    return await asyncio.to_thread(post, server, raw, signed_headers(secret, raw, time.time()))


async def test_signed_callbacks_pay_the_deposit_then_refuse_an_early_balance_and_retries_are_duplicates(
    secure_server: LivehubProcess,
) -> None:
    presale_id = "pcb-" + uuid.uuid4().hex[:8]
    body = {"sku": "b1-sku1", "presale_id": presale_id, "stock": 3, "deposit_cents": 500, "deposit_duration_s": 600}
    status, out = await asyncio.to_thread(http_json, "POST", f"{secure_server.http}/api/venues/b1/presales", body,
                                          host_token("host-b1", "b1"))  # fmt: skip
    assert status == 201, out
    url = f"{secure_server.http}/api/presales/{presale_id}/deposit"
    status, placed = await asyncio.to_thread(http_json, "POST", url, {"id": "r1"}, viewer_token("cb-depositor"))
    assert status == 200 and placed["status"] == "ok", placed
    deposit = placed["deposit"]
    pay = {"deposit": deposit, "stage": "deposit", "payment_ref": "psp-d1", "user": "cb-depositor"}
    assert (await callback(secure_server, {**pay, "user": "someone-else"}))[0] == 404
    status, out = await callback(secure_server, pay, secret="not-the-payment-secret")
    assert status == 401 and out["details"]["reason"] == "bad_signature"
    status, out = await callback(secure_server, pay)
    assert (status, out["status"], out["state"]) == (200, "paid", "balance_due"), out
    status, out = await callback(secure_server, pay)
    assert (status, out["status"]) == (200, "duplicate")
    status, out = await callback(secure_server, {**pay, "stage": "balance", "payment_ref": "psp-b1"})
    assert (status, out["status"]) == (200, "not_started") and out["starts_at_ms"] > 0  # the window is later
    status, out = await callback(secure_server, {**pay, "stage": "later"})
    assert status == 400 and out["details"]["field"] == "stage"
    status, out = await asyncio.to_thread(http_json, "POST", f"{secure_server.http}/api/deposits/{deposit}/pay",
                                          None, viewer_token("cb-depositor"))  # fmt: skip
    assert status == 404  # no simulated payment outside demo mode
