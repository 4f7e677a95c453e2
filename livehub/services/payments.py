"""Payment provider callbacks: the signature and replay window (pure), and settling one.

A callback carries ``X-Livehub-Timestamp: <unix seconds>`` and
``X-Livehub-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" keyed by
LIVEHUB_PAYMENT_SECRET>``.  The payment secret is not the token secret (livehub refuses to
start outside demo mode when they are equal): whoever signs callbacks cannot mint tokens.
A timestamp more than ``payment_window_s`` from now is refused, so a recorded callback cannot
be replayed later; inside the window a replay is harmless: paying is idempotent
(``duplicate``, same order; another payment_ref for a paid reservation: ``already_paid``).
docs/protocol.md ("Payment callbacks") has every answer.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from livehub import errors
from livehub.domain.presale_rules import PayStage
from livehub.errors import LivehubError
from livehub.services.buying import Buying
from livehub.services.presales import Presales
from livehub.store.orders import OrderStore
from livehub.store.sales import SaleStore

SIGNATURE_HEADER = "x-livehub-signature"
TIMESTAMP_HEADER = "x-livehub-timestamp"
MAX_TIMESTAMP_CHARS = 12  # unix seconds, well past year 30000

# details.reason of a refused callback (HTTP 401 unauthorized)
NOT_CONFIGURED = "not_configured"  # no payment_secret on this node (demo mode without one)
BAD_TIMESTAMP = "bad_timestamp"  # X-Livehub-Timestamp missing or not unix seconds
BAD_SIGNATURE = "bad_signature"  # X-Livehub-Signature missing or not this body's and timestamp's
STALE = "stale"  # the timestamp is more than payment_window_s from now: a replay, or a skewed clock
WRONG_USER = "wrong_user"  # (403 forbidden) the callback's "user" is not the reservation's buyer
ALREADY_PAID = "already_paid"  # (status) paid before under another payment_ref: refund this payment


def payment_signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """What a payment provider puts in ``X-Livehub-Signature`` for ``body`` sent at ``timestamp``."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, now_s: float) -> dict[str, str]:
    """The two headers of a callback sent now (providers and tests)."""
    ts = int(now_s)
    return {"X-Livehub-Timestamp": str(ts), "X-Livehub-Signature": payment_signature(secret, ts, body)}


def _refused(reason: str, message: str) -> LivehubError:
    return LivehubError(errors.UNAUTHORIZED, message, reason=reason)


def verify_payment(secret: str, body: bytes, signature: str | None, timestamp: str | None,
                   now_s: float, window_s: float) -> None:  # fmt: skip
    """Raise ``unauthorized`` (``details.reason``: one of the reasons above) unless the callback is
    signed with ``secret`` and its timestamp is within ``window_s`` of ``now_s``.

    The signature is checked (in constant time) before the window, so an unsigned
    request learns nothing about the clock.
    """
    if not secret:
        raise _refused(NOT_CONFIGURED, "payment callbacks are not configured (LIVEHUB_PAYMENT_SECRET)")
    ts = (timestamp or "").strip()
    if not ts.isascii() or not ts.isdigit() or len(ts) > MAX_TIMESTAMP_CHARS:
        raise _refused(BAD_TIMESTAMP, "X-Livehub-Timestamp must be unix seconds")
    expected = payment_signature(secret, ts, body)
    if not signature or not hmac.compare_digest(signature.encode(), expected.encode()):
        raise _refused(BAD_SIGNATURE, "bad payment signature")
    if abs(now_s - int(ts)) > window_s:
        raise _refused(STALE, f"callback timestamp is more than {window_s:g} s from now")


def parse_callback(body: dict[str, Any]) -> tuple[str, str, str | None]:
    """``(reservation, payment_ref, user)`` of a callback body; ``bad_request`` if malformed."""
    rid, ref, user = body.get("reservation"), body.get("payment_ref", ""), body.get("user")
    if not isinstance(rid, str) or not isinstance(ref, str) or len(ref) > 128 or len(rid) > 256:
        raise errors.bad_request("'reservation' and 'payment_ref' must be strings (payment_ref <= 128)")
    if user is not None and not isinstance(user, str):
        raise errors.bad_request("'user' must be a string")
    return rid, ref, user


async def settle_callback(buying: Buying, sales: SaleStore, orders: OrderStore,
                          body: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """Pay the callback's reservation: ``paid`` / ``duplicate`` (the same payment_ref again: same
    order) / ``already_paid`` (paid before under another payment_ref: refund this one) /
    ``expired``; ``not_found`` for an unknown reservation; ``forbidden`` (reason ``wrong_user``)
    when the callback names a user who is not the buyer."""
    rid, ref, user = parse_callback(body)
    if user is not None:
        reservation = await sales.get_reservation(rid)
        if reservation is None:
            raise errors.not_found(f"unknown reservation {rid!r}")
        if reservation.user_id != user:
            raise LivehubError(errors.FORBIDDEN, "the reservation belongs to another user", reason=WRONG_USER)
    out = await buying.pay(rid, ref)
    if out.get("status") == "duplicate" and isinstance(out.get("order"), str):
        order = await orders.get(out["order"])
        if order is not None and order.payment_ref != ref:
            out["status"] = ALREADY_PAID
    return out


async def settle_presale_callback(presales: Presales, body: dict[str, Any]) -> dict[str, Any]:
    """A pre-sale payment callback ``{"deposit", "stage": "deposit" | "balance", "payment_ref", "user"?}``:
    every answer of :class:`livehub.domain.presale_rules.PresalePayCode` (``lapsed`` / ``forfeited`` /
    ``refunded`` for a late payment: refund it), ``not_found`` for an unknown deposit or another user's."""
    deposit, ref, user, stage = body.get("deposit"), body.get("payment_ref", ""), body.get("user"), body.get("stage")
    if not isinstance(deposit, str) or len(deposit) > 256 or not isinstance(ref, str) or len(ref) > 128:
        raise errors.bad_request("'deposit' and 'payment_ref' must be strings (payment_ref <= 128)")
    if stage not in ("deposit", "balance"):
        raise errors.bad_request("'stage' must be deposit or balance", field="stage")
    if user is not None and not isinstance(user, str):
        raise errors.bad_request("'user' must be a string", field="user")
    return await presales.pay(deposit, ref, PayStage(stage), user=user)
