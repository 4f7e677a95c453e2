"""The payment provider's HTTP callback (signed and timestamped; livehub.services.payments)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub.services.payments import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    settle_callback,
    settle_presale_callback,
    verify_payment,
)
from livehub.web.http import JSONResponse, json_object, node_of, raw_body
from livehub.web.openapi import Param, declare


@declare(
    headers={
        TIMESTAMP_HEADER: Param("string", "unix seconds", required=True),
        SIGNATURE_HEADER: Param("string", "HMAC-SHA256 of <timestamp>.<raw body>", required=True),
    },
    body={
        "reservation": Param("string", "the reservation paid", required=True),
        "payment_ref": Param("string", "the provider's reference", schema={"maxLength": 128}),
        "user": Param("string", "the buyer, when the provider knows it"),
    },
    answers={200: "{status: paid | duplicate | already_paid | expired, reservation, order?}"},
)
async def payment_callback(request: Request) -> Response:
    """The payment provider's callback: ``{"reservation": ..., "payment_ref": ..., "user": ...}``
    (``user`` optional), with ``X-Livehub-Timestamp`` and ``X-Livehub-Signature`` (HMAC-SHA256 of
    ``<timestamp>.<raw body>`` with LIVEHUB_PAYMENT_SECRET); refused outside ``payment_window_s``.

    Answers ``paid`` (this call confirmed the order), ``duplicate`` (confirmed before: same
    order), ``already_paid`` (paid under another payment_ref: refund this one), ``expired``
    (the payment deadline passed: refund it); errors ``unauthorized``
    (details.reason), ``not_found``, ``forbidden`` (``wrong_user``).  Idempotent: providers retry.
    """
    node = node_of(request)
    raw = await raw_body(request)
    s = node.settings
    verify_payment(s.payment_secret, raw, request.headers.get(SIGNATURE_HEADER),
                   request.headers.get(TIMESTAMP_HEADER), time.time(), s.payment_window_s)  # fmt: skip
    return JSONResponse(await settle_callback(node.buying, node.sales, node.orders, json_object(raw)))


async def presale_payment_callback(request: Request) -> Response:
    """The provider's callback for a pre-sale's deposit or balance, signed like the one above:
    ``{"deposit": ..., "stage": "deposit" | "balance", "payment_ref": ..., "user": ...}``."""
    node = node_of(request)
    raw = await raw_body(request)
    s = node.settings
    verify_payment(s.payment_secret, raw, request.headers.get(SIGNATURE_HEADER),
                   request.headers.get(TIMESTAMP_HEADER), time.time(), s.payment_window_s)  # fmt: skip
    return JSONResponse(await settle_presale_callback(node.presales, json_object(raw)))


routes = [
    Route("/api/payments/callback", payment_callback, methods=["POST"]),
    Route("/api/payments/presale-callback", presale_payment_callback, methods=["POST"]),
]
