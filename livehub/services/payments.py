"""Payment provider callbacks are signed: ``X-Livehub-Signature: sha256=<hex HMAC-SHA256 of
the raw body with LIVEHUB_SECRET>``.  Computing and checking that signature (pure)."""

from __future__ import annotations

import hashlib
import hmac

from livehub import errors
from livehub.errors import LivehubError

SIGNATURE_HEADER = "x-livehub-signature"


def payment_signature(secret: str, body: bytes) -> str:
    """What a payment provider puts in ``X-Livehub-Signature`` for a callback body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_payment(secret: str, body: bytes, signature: str | None) -> None:
    """Raise ``unauthorized`` unless ``signature`` is the body's signature (compared in constant time)."""
    expected = payment_signature(secret, body)
    if not signature or not hmac.compare_digest(signature.encode(), expected.encode()):
        raise LivehubError(errors.UNAUTHORIZED, "bad payment signature")
