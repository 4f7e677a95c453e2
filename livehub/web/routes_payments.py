"""The payment provider's HTTP callback (signed; livehub.services.payments)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livehub import errors
from livehub.services.payments import SIGNATURE_HEADER, verify_payment
from livehub.web.http import JSONResponse, json_object, node_of, raw_body


async def payment_callback(request: Request) -> Response:
    """The payment provider's callback: ``{"reservation": ..., "payment_ref": ...}``, signed with
    ``X-Livehub-Signature: sha256=<hex HMAC-SHA256 of the raw body with LIVEHUB_SECRET>``.

    Answers ``paid`` (this call confirmed the order), ``duplicate`` (confirmed before: same
    order), ``expired`` (the payment deadline passed: refund it).  Idempotent: providers retry.
    """
    node = node_of(request)
    raw = await raw_body(request)
    verify_payment(node.settings.secret, raw, request.headers.get(SIGNATURE_HEADER))
    body = json_object(raw)
    rid, ref = body.get("reservation"), body.get("payment_ref", "")
    if not isinstance(rid, str) or not isinstance(ref, str) or len(ref) > 128:
        raise errors.bad_request("'reservation' and 'payment_ref' must be strings")
    return JSONResponse(await node.buying.pay(rid, ref))


routes = [
    Route("/api/payments/callback", payment_callback, methods=["POST"]),
]
