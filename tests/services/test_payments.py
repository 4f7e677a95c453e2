"""The payment callback's signature and replay window: HMAC-SHA256 of "<timestamp>.<raw body>" with
the payment secret, and a timestamp within payment_window_s of now."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from livehub import errors
from livehub.errors import LivehubError
from livehub.services import payments
from livehub.services.payments import parse_callback, payment_signature, signed_headers, verify_payment

BODY = b'{"reservation": "r1", "payment_ref": "p1"}'
NOW = 1_780_000_000.0
WINDOW = 300.0


def verify(signature: str | None, timestamp: str | None, secret: str = "s3cret", now: float = NOW) -> None:
    verify_payment(secret, BODY, signature, timestamp, now, WINDOW)


def refusal(signature: str | None, timestamp: str | None, secret: str = "s3cret", now: float = NOW) -> str:
    with pytest.raises(LivehubError) as exc:
        verify(signature, timestamp, secret, now)
    assert exc.value.code == errors.UNAUTHORIZED
    return str(exc.value.details["reason"])


def test_the_signature_is_sha256_hmac_hex_of_timestamp_dot_raw_body() -> None:
    expected = "sha256=" + hmac.new(b"s3cret", b"1780000000." + BODY, hashlib.sha256).hexdigest()
    assert payment_signature("s3cret", 1_780_000_000, BODY) == expected


def test_a_correctly_signed_callback_within_the_window_verifies() -> None:
    headers = signed_headers("s3cret", BODY, NOW)
    verify(headers["X-Livehub-Signature"], headers["X-Livehub-Timestamp"])
    verify(headers["X-Livehub-Signature"], headers["X-Livehub-Timestamp"], now=NOW + WINDOW)  # the edge
    verify(headers["X-Livehub-Signature"], headers["X-Livehub-Timestamp"], now=NOW - WINDOW)  # provider clock ahead


@pytest.mark.parametrize(
    "signature",
    [None, "", payment_signature("other", int(NOW), BODY), payment_signature("s3cret", int(NOW), BODY + b" "),
     payment_signature("s3cret", int(NOW) + 1, BODY),
     payment_signature("s3cret", int(NOW), BODY).removeprefix("sha256="),
     "sha256=" + hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()],
    ids=["missing", "empty", "other-secret", "other-body", "other-timestamp", "no-scheme", "body-only-old-scheme"],
)  # fmt: skip
def test_a_missing_or_forged_signature_is_refused_as_bad_signature(signature: str | None) -> None:
    assert refusal(signature, str(int(NOW))) == payments.BAD_SIGNATURE


def test_a_replayed_callback_older_than_the_window_is_refused_as_stale() -> None:
    headers = signed_headers("s3cret", BODY, NOW - WINDOW - 1)
    assert refusal(headers["X-Livehub-Signature"], headers["X-Livehub-Timestamp"]) == payments.STALE


def test_a_callback_dated_beyond_the_window_in_the_future_is_refused_as_stale() -> None:
    headers = signed_headers("s3cret", BODY, NOW + WINDOW + 1)
    assert refusal(headers["X-Livehub-Signature"], headers["X-Livehub-Timestamp"]) == payments.STALE


@pytest.mark.parametrize("timestamp", [None, "", "soon", "-5", "1.5", "1" * 13, "١٢٣"])
def test_a_missing_or_malformed_timestamp_is_refused_before_the_signature(timestamp: str | None) -> None:
    assert refusal(payment_signature("s3cret", str(timestamp), BODY), timestamp) == payments.BAD_TIMESTAMP


def test_an_unsigned_stale_callback_is_refused_for_its_signature_not_its_clock() -> None:
    assert refusal("sha256=forged", str(int(NOW - 10 * WINDOW))) == payments.BAD_SIGNATURE


def test_with_no_payment_secret_every_callback_is_refused() -> None:
    headers = signed_headers("", BODY, NOW)
    assert refusal(headers["X-Livehub-Signature"], headers["X-Livehub-Timestamp"], secret="") == payments.NOT_CONFIGURED


def test_a_callback_body_names_a_reservation_a_payment_ref_and_optionally_the_user() -> None:
    assert parse_callback({"reservation": "r1", "payment_ref": "p1"}) == ("r1", "p1", None)
    assert parse_callback({"reservation": "r1", "payment_ref": "p1", "user": "u1"}) == ("r1", "p1", "u1")
    for bad in ({}, {"reservation": 5}, {"reservation": "r1", "payment_ref": "x" * 129},
                {"reservation": "r1", "user": 7}):  # fmt: skip
        with pytest.raises(LivehubError) as exc:
            parse_callback(bad)
        assert exc.value.code == errors.BAD_REQUEST
