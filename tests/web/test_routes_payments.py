"""The payment provider's callback on a real livehub outside demo mode: signed with the payment
secret (not the token secret) over "<timestamp>.<body>", refused outside the window, idempotent."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
import pytest

from livehub.domain.sale_rules import split_id
from livehub.services import payments
from livehub.services.payments import signed_headers
from tests.conftest import PAYMENT_SECRET, SECRET, LivehubProcess, host_token, http_json, payment_callback, viewer_token

pytestmark = pytest.mark.asyncio
WINDOW_S = 300  # the default payment_window_s


async def reservation_of(server: LivehubProcess, user: str, **sale: Any) -> str:
    """A fresh sale on b1 and ``user``'s reservation of one unit (HTTP buy)."""
    sale_id = "pay-" + uuid.uuid4().hex[:8]
    body = {"sku": "b1-sku1", "stock": 5, "price_cents": 990, "per_user_limit": 1, "starts_in_s": 0,
            "duration_s": 600, "sale_id": sale_id, **sale}  # fmt: skip
    status, out = await asyncio.to_thread(http_json, "POST", f"{server.http}/api/venues/b1/sales", body,
                                          host_token("host-b1", "b1"))  # fmt: skip
    assert status == 201, out
    status, out = await asyncio.to_thread(http_json, "POST", f"{server.http}/api/sales/{sale_id}/buy",
                                          {"id": uuid.uuid4().hex, "qty": 1}, viewer_token(user))  # fmt: skip
    assert status == 200 and out["status"] == "ok", out
    return str(out["reservation"])


async def callback(server: LivehubProcess, body: dict[str, Any], secret: str = PAYMENT_SECRET,
                   sent_at: float | None = None) -> tuple[int, dict[str, Any]]:  # fmt: skip
    raw = orjson.dumps(body)
    headers = signed_headers(secret, raw, time.time() if sent_at is None else sent_at)
    return await asyncio.to_thread(payment_callback, server, raw, headers)


async def test_a_signed_callback_pays_and_its_retry_is_a_duplicate_with_the_same_order(
    secure_server: LivehubProcess,
) -> None:
    rid = await reservation_of(secure_server, "cb-payer")
    body = {"reservation": rid, "payment_ref": "psp-1"}
    raw = orjson.dumps(body)
    headers = signed_headers(PAYMENT_SECRET, raw, time.time())
    first = await asyncio.to_thread(payment_callback, secure_server, raw, headers)
    again = await asyncio.to_thread(payment_callback, secure_server, raw, headers)  # the same request, replayed
    assert first[0] == 200 and first[1]["status"] == "paid"
    assert again[0] == 200 and again[1]["status"] == "duplicate" and again[1]["order"] == first[1]["order"]


async def test_a_second_payment_under_another_payment_ref_answers_already_paid_with_the_first_order(
    secure_server: LivehubProcess,
) -> None:
    rid = await reservation_of(secure_server, "cb-twice")
    first = await callback(secure_server, {"reservation": rid, "payment_ref": "psp-first"})
    second = await callback(secure_server, {"reservation": rid, "payment_ref": "psp-second"})
    retry = await callback(secure_server, {"reservation": rid, "payment_ref": "psp-first"})
    assert first[1]["status"] == "paid" and retry[1]["status"] == "duplicate"
    assert second[0] == 200 and second[1]["status"] == payments.ALREADY_PAID  # the provider refunds it
    assert first[1]["order"] == second[1]["order"] == retry[1]["order"]


async def test_a_callback_signed_with_the_token_secret_is_refused(secure_server: LivehubProcess) -> None:
    rid = await reservation_of(secure_server, "cb-forger")
    status, err = await callback(secure_server, {"reservation": rid, "payment_ref": "psp-2"}, secret=SECRET)
    assert status == 401 and err["code"] == "unauthorized" and err["details"]["reason"] == payments.BAD_SIGNATURE
    status, err = await callback(secure_server, {"reservation": rid, "payment_ref": "psp-2"}, secret="made-up")
    assert status == 401 and err["details"]["reason"] == payments.BAD_SIGNATURE


async def test_a_replayed_callback_older_than_the_window_is_refused_and_pays_nothing(
    secure_server: LivehubProcess,
) -> None:
    rid = await reservation_of(secure_server, "cb-replayed")
    body = {"reservation": rid, "payment_ref": "psp-3"}
    status, err = await callback(secure_server, body, sent_at=time.time() - WINDOW_S - 60)
    assert status == 401 and err["details"]["reason"] == payments.STALE
    status, err = await callback(secure_server, body, sent_at=time.time() + WINDOW_S + 60)
    assert status == 401 and err["details"]["reason"] == payments.STALE
    status, paid = await callback(secure_server, body)  # the same payment, fresh: the reservation was untouched
    assert status == 200 and paid["status"] == "paid"


async def test_a_callback_without_a_timestamp_is_refused(secure_server: LivehubProcess) -> None:
    raw = orjson.dumps({"reservation": "whatever", "payment_ref": "psp-4"})
    headers = signed_headers(PAYMENT_SECRET, raw, time.time())
    del headers["X-Livehub-Timestamp"]
    status, err = await asyncio.to_thread(payment_callback, secure_server, raw, headers)
    assert status == 401 and err["details"]["reason"] == payments.BAD_TIMESTAMP


async def test_a_callback_for_an_unknown_reservation_is_not_found(secure_server: LivehubProcess) -> None:
    status, err = await callback(secure_server, {"reservation": "nosale:r" + uuid.uuid4().hex,
                                                 "payment_ref": "psp-5"})  # fmt: skip
    assert status == 404 and err["code"] == "not_found"
    status, err = await callback(secure_server, {"reservation": "garbage", "payment_ref": "psp-5", "user": "u"})
    assert status == 404 and err["code"] == "not_found"


async def test_a_callback_naming_another_user_than_the_buyer_is_forbidden(secure_server: LivehubProcess) -> None:
    rid = await reservation_of(secure_server, "cb-owner")
    status, err = await callback(secure_server, {"reservation": rid, "payment_ref": "psp-6", "user": "cb-other"})
    assert status == 403 and err["code"] == "forbidden" and err["details"]["reason"] == payments.WRONG_USER
    status, paid = await callback(secure_server, {"reservation": rid, "payment_ref": "psp-6", "user": "cb-owner"})
    assert status == 200 and paid["status"] == "paid"


async def test_a_callback_after_the_payment_deadline_answers_expired(secure_server: LivehubProcess) -> None:
    rid = await reservation_of(secure_server, "cb-late", reservation_ttl_s=1)
    sale_id, _ = split_id(rid)
    for _ in range(150):  # the sweep (every 0.2 s here) expires the reservation after its 1 s deadline
        status, state = await asyncio.to_thread(http_json, "GET", f"{secure_server.http}/api/sales/{sale_id}")
        if state.get("expired") == 1:
            break
        await asyncio.sleep(0.1)
    assert state["expired"] == 1, state
    status, out = await callback(secure_server, {"reservation": rid, "payment_ref": "psp-7"})
    assert status == 200 and out["status"] == "expired"  # the provider refunds
