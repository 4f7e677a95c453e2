"""The payment callback's signature: HMAC-SHA256 of the raw body with the secret."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from livehub import errors
from livehub.errors import LivehubError
from livehub.services.payments import payment_signature, verify_payment

BODY = b'{"reservation": "r1", "payment_ref": "p1"}'


def test_the_signature_is_sha256_hmac_hex_of_the_raw_body() -> None:
    expected = "sha256=" + hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()
    assert payment_signature("s3cret", BODY) == expected


def test_a_correct_signature_verifies() -> None:
    verify_payment("s3cret", BODY, payment_signature("s3cret", BODY))


@pytest.mark.parametrize(
    "signature",
    [None, "", payment_signature("other", BODY), payment_signature("s3cret", BODY + b" "),
     payment_signature("s3cret", BODY).removeprefix("sha256=")],
    ids=["missing", "empty", "other-secret", "other-body", "no-scheme"],
)  # fmt: skip
def test_a_missing_or_wrong_signature_is_unauthorized(signature: str | None) -> None:
    with pytest.raises(LivehubError) as exc:
        verify_payment("s3cret", BODY, signature)
    assert exc.value.code == errors.UNAUTHORIZED
