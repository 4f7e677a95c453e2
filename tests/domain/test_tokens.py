"""livehub.domain.tokens: signed bearer tokens ``<base64url(claims)>.<base64url(hmac-sha256)>``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson
import pytest

from livehub.domain.tokens import HOST, MAX_TOKEN_CHARS, VIEWER, AuthError, Identity, mint, verify

SECRET = "unit-test-secret"
NOW = 1_750_000_000.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(claims: Any, secret: str = SECRET, raw_body: str | None = None) -> str:
    """A token signed the documented way, independently of livehub.domain.tokens."""
    body = raw_body if raw_body is not None else b64(orjson.dumps(claims))
    signature = b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}"


def claims_of(token: str) -> dict[str, Any]:
    body = token.split(".")[0]
    return orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))  # type: ignore[no-any-return]


def auth_error(token: str | None, secret: str = SECRET, now: float = NOW) -> str:
    with pytest.raises(AuthError) as info:
        verify(secret, token, now=now)
    return str(info.value)


# ---- round trip and claims --------------------------------------------------------------------------------


def test_a_minted_viewer_token_verifies_to_its_identity() -> None:
    token = mint(SECRET, "user-42", now=NOW)

    identity = verify(SECRET, token, now=NOW + 1)

    assert identity == Identity(sub="user-42", role=VIEWER, venue=None)
    assert not identity.is_host


def test_a_host_token_carries_its_venue() -> None:
    token = mint(SECRET, "host-b001", HOST, venue="b001", now=NOW)

    identity = verify(SECRET, token, now=NOW)

    assert identity == Identity(sub="host-b001", role=HOST, venue="b001")
    assert identity.is_host


def test_a_token_is_base64url_claims_dot_base64url_signature() -> None:
    token = mint(SECRET, "u1", now=NOW, ttl_s=60)

    assert token.count(".") == 1
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert claims_of(token) == {"sub": "u1", "role": "viewer", "exp": int(NOW) + 60}
    assert token == forge({"sub": "u1", "role": "viewer", "exp": int(NOW) + 60})


def test_a_token_forged_with_the_shared_secret_is_accepted() -> None:
    # Every node shares the secret: a token minted anywhere is valid everywhere.
    token = forge({"sub": "u9", "role": "host", "venue": "main", "exp": int(NOW) + 5})

    assert verify(SECRET, token, now=NOW) == Identity("u9", HOST, "main")


def test_mint_refuses_an_unknown_role_or_a_bad_subject() -> None:
    with pytest.raises(ValueError, match="role"):
        mint(SECRET, "u1", "admin")
    for sub in ["", "a b", "x" * 65, "tab\there"]:
        with pytest.raises(ValueError, match="subject"):
            mint(SECRET, sub)


# ---- expiry -------------------------------------------------------------------------------------------------


def test_a_token_is_valid_until_it_expires_and_not_after() -> None:
    token = mint(SECRET, "u1", ttl_s=60, now=NOW)

    assert verify(SECRET, token, now=NOW + 59).sub == "u1"
    assert "expired" in auth_error(token, now=NOW + 61)


def test_an_explicit_clock_of_zero_is_honoured() -> None:
    token = mint(SECRET, "u1", ttl_s=10, now=0)

    assert claims_of(token)["exp"] == 10


# ---- tampering ----------------------------------------------------------------------------------------------


def test_a_tampered_signature_is_rejected() -> None:
    token = mint(SECRET, "u1", now=NOW)
    body, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    assert "signature" in auth_error(f"{body}.{flipped}")
    assert "signature" in auth_error(f"{body}.")


def test_a_tampered_body_is_rejected() -> None:
    token = mint(SECRET, "u1", now=NOW)
    _, signature = token.split(".")
    promoted = b64(orjson.dumps({"sub": "u1", "role": "host", "venue": "main", "exp": int(NOW) + 86_400}))

    assert "signature" in auth_error(f"{promoted}.{signature}")


def test_a_token_signed_with_another_secret_is_rejected() -> None:
    token = mint("some-other-secret", "u1", now=NOW)

    assert "signature" in auth_error(token)


# ---- malformed tokens ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, ""])
def test_a_missing_token_is_rejected(token: str | None) -> None:
    assert "missing" in auth_error(token)


@pytest.mark.parametrize("token", ["nodot", "a.b.c", "..", "x" * 10])
def test_a_token_without_exactly_one_dot_is_malformed(token: str) -> None:
    assert "malformed" in auth_error(token)


def test_a_token_longer_than_the_limit_is_malformed_even_if_signed() -> None:
    token = forge({"sub": "u1", "role": "viewer", "exp": int(NOW) + 60, "pad": "x" * MAX_TOKEN_CHARS})
    assert len(token) > MAX_TOKEN_CHARS

    assert "malformed" in auth_error(token)


@pytest.mark.parametrize("body", ["a", "!!!!", "abcde"], ids=["one-char", "not-alphabet", "bad-length"])
def test_a_signed_body_that_is_not_base64_json_is_malformed(body: str) -> None:
    assert "malformed" in auth_error(forge(None, raw_body=body))


@pytest.mark.parametrize(
    "claims",
    [
        [1, 2],
        "u1",
        {"role": "viewer", "exp": int(NOW) + 60},
        {"sub": "", "role": "viewer", "exp": int(NOW) + 60},
        {"sub": "a b", "role": "viewer", "exp": int(NOW) + 60},
        {"sub": "u1", "exp": int(NOW) + 60},
        {"sub": "u1", "role": "admin", "exp": int(NOW) + 60},
        {"sub": "u1", "role": "viewer"},
        {"sub": "u1", "role": "viewer", "exp": str(int(NOW) + 60)},
        {"sub": "u1", "role": "viewer", "exp": NOW + 60.5},
        {"sub": "u1", "role": "host", "venue": 5, "exp": int(NOW) + 60},
    ],
    ids=[
        "list",
        "str",
        "no-sub",
        "empty-sub",
        "spaced-sub",
        "no-role",
        "unknown-role",
        "no-exp",
        "str-exp",
        "float-exp",
        "int-venue",
    ],
)
def test_signed_claims_of_the_wrong_shape_are_malformed(claims: Any) -> None:
    assert "malformed" in auth_error(forge(claims))


@pytest.mark.parametrize("token", ["é.abc", "abc.é"], ids=["non-ascii-body", "non-ascii-signature"])
def test_a_token_with_non_ascii_characters_is_malformed(token: str) -> None:
    assert "malformed" in auth_error(token)
