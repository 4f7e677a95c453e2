"""livehub.domain.tokens: standard JWTs (HS256, RS256, ES256), keys and algorithms fixed by configuration."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from livehub.domain.tokens import (
    ADMIN,
    ANONYMOUS_VIEWER,
    ES256,
    GUIDE,
    HOST,
    HS256,
    LIVEHUB_KID,
    MAX_TOKEN_CHARS,
    MODERATOR,
    RS256,
    STAFF,
    VIEWER,
    AuthError,
    Identity,
    Key,
    Verifier,
    mint,
    verify,
)

SECRET = "unit-test-secret-of-32-bytes-ok!"
NOW = 1_750_000_000.0
EXP = int(NOW) + 600

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PUBLIC_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
).decode()
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EC_PUBLIC_PEM = EC_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
).decode()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_jwt(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    """A JWT built by hand (no library checks): ``sign(signing_input) -> bytes``, or no signature."""
    signing_input = f"{b64(orjson.dumps(header))}.{b64(orjson.dumps(claims))}"
    return f"{signing_input}.{b64(sign(signing_input.encode())) if sign else ''}"


def auth_error(verifier: Verifier, token: str | None, now: float = NOW) -> str:
    with pytest.raises(AuthError) as info:
        verifier.verify(token, now=now)
    return str(info.value)


def hs(secret: str = SECRET, leeway_s: float = 0.0, **extra: Key) -> Verifier:
    return Verifier({None: Key(HS256, secret), LIVEHUB_KID: Key(HS256, secret), **extra}, leeway_s=leeway_s)


RS = Verifier({None: Key(RS256, RSA_PUBLIC_PEM)})
ES = Verifier({None: Key(ES256, EC_PUBLIC_PEM)})


# ---- livehub's own tokens -----------------------------------------------------------------------------------


def test_a_minted_viewer_token_verifies_to_its_identity() -> None:
    identity = verify(SECRET, mint(SECRET, "user-42", now=NOW), now=NOW + 1)

    assert identity == Identity(sub="user-42", role=VIEWER)
    assert not identity.is_host and not identity.is_anonymous


def test_a_host_token_carries_its_venue() -> None:
    identity = verify(SECRET, mint(SECRET, "host-b1", HOST, venue="b1", now=NOW), now=NOW)

    assert identity == Identity(sub="host-b1", role=HOST, venue="b1")
    assert identity.is_host


def test_a_minted_token_is_a_standard_hs256_jwt_with_livehubs_kid() -> None:
    token = mint(SECRET, "u1", now=NOW, ttl_s=60)

    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT", "kid": LIVEHUB_KID}
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {"sub": "u1", "role": "viewer", "iat": int(NOW), "exp": int(NOW) + 60}


def test_the_role_claims_of_moderators_guides_staff_and_admins() -> None:
    moderator = verify(SECRET, mint(SECRET, "m1", MODERATOR, venues=frozenset({"b1", "b2"}), now=NOW), now=NOW)
    guide = verify(SECRET, mint(SECRET, "g-user", GUIDE, guide="b1-g1", now=NOW), now=NOW)
    staff = verify(SECRET, mint(SECRET, "clerk", STAFF, store="b1-s1", now=NOW), now=NOW)
    admin = verify(SECRET, mint(SECRET, "boss", ADMIN, now=NOW), now=NOW)

    assert moderator == Identity("m1", MODERATOR, venues=frozenset({"b1", "b2"}))
    assert guide == Identity("g-user", GUIDE, guide="b1-g1")
    assert staff == Identity("clerk", STAFF, store="b1-s1")
    assert admin == Identity("boss", ADMIN)


def test_a_guide_token_without_a_guide_claim_is_the_guide_named_by_its_subject() -> None:
    assert verify(SECRET, mint(SECRET, "b1-g1", GUIDE, now=NOW), now=NOW).guide == "b1-g1"


def test_a_platform_token_without_a_role_is_a_viewer() -> None:
    token = jwt.encode({"sub": "wx-openid-123", "exp": EXP}, SECRET, algorithm="HS256")

    assert hs().verify(token, now=NOW) == Identity("wx-openid-123", VIEWER)


def test_mint_refuses_an_unknown_role_a_bad_subject_or_a_staff_token_without_store() -> None:
    with pytest.raises(ValueError, match="role"):
        mint(SECRET, "u1", "root")
    for sub in ["", "a b", "x" * 65, "tab\there"]:
        with pytest.raises(ValueError, match="subject"):
            mint(SECRET, sub)
    with pytest.raises(ValueError, match="store"):
        mint(SECRET, "clerk", STAFF)


def test_the_anonymous_viewer_has_no_user_id() -> None:
    assert ANONYMOUS_VIEWER.sub == "" and ANONYMOUS_VIEWER.is_anonymous and not ANONYMOUS_VIEWER.is_host


# ---- time: expiry, not-before, the leeway -------------------------------------------------------------------------


def test_a_token_is_valid_until_it_expires_and_not_after() -> None:
    token = mint(SECRET, "u1", ttl_s=60, now=NOW)

    assert verify(SECRET, token, now=NOW + 59).sub == "u1"
    assert "expired" in auth_error(hs(), token, now=NOW + 61)


def test_the_leeway_absorbs_clock_skew_and_no_more() -> None:
    token = mint(SECRET, "u1", ttl_s=60, now=NOW)
    early = jwt.encode({"sub": "u1", "exp": EXP, "nbf": int(NOW) + 20}, SECRET, algorithm="HS256")

    assert hs(leeway_s=30).verify(token, now=NOW + 60 + 29).sub == "u1"
    assert "expired" in auth_error(hs(leeway_s=30), token, now=NOW + 60 + 31)
    assert hs(leeway_s=30).verify(early, now=NOW).sub == "u1"
    assert "not valid yet" in auth_error(hs(leeway_s=10), early)


def test_a_token_issued_in_the_future_beyond_the_leeway_is_refused() -> None:
    token = mint(SECRET, "u1", now=NOW + 120)

    assert "future" in auth_error(hs(leeway_s=30), token)


@pytest.mark.parametrize("claims", [{"sub": "u1"}, {"exp": EXP}, {"sub": "u1", "exp": "soon"}],
                         ids=["no-exp", "no-sub", "exp-not-a-number"])  # fmt: skip
def test_a_token_without_a_subject_or_a_numeric_expiry_is_malformed(claims: dict[str, Any]) -> None:
    assert "malformed" in auth_error(hs(), jwt.encode(claims, SECRET, algorithm="HS256"))


@pytest.mark.parametrize("claims", [{"role": "root"}, {"sub": "a b"}, {"venues": "b1"}, {"role": "staff"}],
                         ids=["unknown-role", "bad-sub", "venues-not-a-list", "staff-without-store"])  # fmt: skip
def test_a_signed_token_with_a_malformed_claim_is_refused(claims: dict[str, Any]) -> None:
    token = jwt.encode({"sub": "u1", "exp": EXP, **claims}, SECRET, algorithm="HS256")

    assert "malformed" in auth_error(hs(), token)


# ---- forged, wrong key, alg none, algorithm confusion -------------------------------------------------------------


def test_a_forged_token_is_refused() -> None:
    token = mint(SECRET, "u1", now=NOW)
    header, _, signature = token.split(".")
    promoted = b64(orjson.dumps({"sub": "u1", "role": "admin", "exp": EXP}))

    assert "signature" in auth_error(hs(), f"{header}.{promoted}.{signature}")


def test_a_token_signed_with_another_key_is_refused() -> None:
    assert "signature" in auth_error(hs(), mint("another-secret-of-32-bytes-also!", "u1", now=NOW))
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert "signature" in auth_error(RS, jwt.encode({"sub": "u1", "exp": EXP}, other_rsa, algorithm="RS256"))


def test_alg_none_is_refused() -> None:
    unsigned = raw_jwt({"alg": "none", "typ": "JWT"}, {"sub": "u1", "role": "admin", "exp": EXP})

    for verifier in (hs(), RS, ES):
        assert "algorithm" in auth_error(verifier, unsigned)


def test_an_hs256_token_signed_with_the_rsa_public_key_is_refused() -> None:
    # HS/RS confusion: the public key is public, so an HMAC over it must never verify.
    def sign(data: bytes) -> bytes:
        return hmac.new(RSA_PUBLIC_PEM.encode(), data, hashlib.sha256).digest()

    forged = raw_jwt({"alg": "HS256", "typ": "JWT"}, {"sub": "u1", "role": "admin", "exp": EXP}, sign)

    assert "algorithm" in auth_error(RS, forged)


def test_the_algorithm_is_the_keys_never_the_tokens() -> None:
    rs_token = jwt.encode({"sub": "u1", "exp": EXP}, RSA_KEY, algorithm="RS256")
    es_token = jwt.encode({"sub": "u1", "exp": EXP}, EC_KEY, algorithm="ES256")

    assert RS.verify(rs_token, now=NOW).sub == "u1"
    assert ES.verify(es_token, now=NOW).sub == "u1"
    assert "algorithm" in auth_error(hs(), rs_token)
    assert "algorithm" in auth_error(RS, es_token)
    assert "algorithm" in auth_error(ES, rs_token)
    assert "algorithm" in auth_error(RS, jwt.encode({"sub": "u1", "exp": EXP}, SECRET, algorithm="HS256"))


# ---- keys by kid: rotation ----------------------------------------------------------------------------------------


def test_a_token_of_a_configured_kid_is_verified_with_that_kids_key() -> None:
    old, new = "old-secret-of-at-least-32-bytes!", "new-secret-of-at-least-32-bytes!"
    both = hs(**{"k2025": Key(HS256, old), "k2026": Key(HS256, new)})
    old_token = mint(old, "u1", kid="k2025", now=NOW)
    new_token = mint(new, "u1", kid="k2026", now=NOW)

    assert both.verify(old_token, now=NOW).sub == "u1"
    assert both.verify(new_token, now=NOW).sub == "u1"
    assert "signature" in auth_error(both, mint(new, "u1", kid="k2025", now=NOW))


def test_a_removed_kid_is_refused() -> None:
    new = "new-secret-of-at-least-32-bytes!"
    rotated = hs(**{"k2026": Key(HS256, new)})

    assert "unknown signing key" in auth_error(rotated, mint("old-secret-of-at-least-32-bytes!", "u1", kid="k2025"))


def test_a_token_without_kid_is_refused_when_no_default_key_is_configured() -> None:
    by_kid_only = Verifier({"k1": Key(RS256, RSA_PUBLIC_PEM)})

    assert "kid" in auth_error(by_kid_only, jwt.encode({"sub": "u1", "exp": EXP}, RSA_KEY, algorithm="RS256"))


def test_extra_keys_by_kid_come_from_outside_the_configuration() -> None:
    token = jwt.encode({"sub": "u1", "exp": EXP}, RSA_KEY, algorithm="RS256", headers={"kid": "jwks-1"})

    assert RS.verify(token, now=NOW, extra={"jwks-1": Key(RS256, RSA_KEY.public_key())}).sub == "u1"
    assert "unknown signing key" in auth_error(RS, token)


def test_keys_from_outside_never_shadow_a_configured_kid() -> None:
    own = mint(SECRET, "host-b1", HOST, venue="b1", now=NOW)
    shadow = {LIVEHUB_KID: Key(RS256, RSA_KEY.public_key())}

    assert hs().verify(own, now=NOW, extra=shadow).is_host


# ---- issuer and audience ------------------------------------------------------------------------------------------


def test_a_configured_issuer_and_audience_must_match() -> None:
    strict = Verifier({None: Key(HS256, SECRET)}, issuer="https://login.example", audience="livehub")
    good = jwt.encode({"sub": "u1", "exp": EXP, "iss": "https://login.example", "aud": "livehub"}, SECRET)

    assert strict.verify(good, now=NOW).sub == "u1"
    for claims in ({"iss": "https://evil.example", "aud": "livehub"}, {"iss": "https://login.example", "aud": "x"},
                   {"aud": "livehub"}):  # fmt: skip
        token = jwt.encode({"sub": "u1", "exp": EXP, **claims}, SECRET)
        assert auth_error(strict, token)


# ---- malformed tokens ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, ""])
def test_a_missing_token_is_refused(token: str | None) -> None:
    assert "missing" in auth_error(hs(), token)


@pytest.mark.parametrize("token", ["nodot", "a.b", "a.b.c.d", "x" * 10, "ünï.cö.de"])
def test_a_token_that_is_not_three_ascii_parts_is_malformed(token: str) -> None:
    assert "malformed" in auth_error(hs(), token)


def test_a_token_longer_than_the_limit_is_malformed_even_if_signed() -> None:
    token = jwt.encode({"sub": "u1", "exp": EXP, "pad": "x" * MAX_TOKEN_CHARS}, SECRET, algorithm="HS256")

    assert "malformed" in auth_error(hs(), token)


def test_a_signed_body_that_is_not_base64_json_is_malformed() -> None:
    def sign(data: bytes) -> bytes:
        return hmac.new(SECRET.encode(), data, hashlib.sha256).digest()

    header = b64(orjson.dumps({"alg": "HS256"}))
    signing_input = f"{header}.!!!!"
    token = f"{signing_input}.{b64(sign(signing_input.encode()))}"

    assert "malformed" in auth_error(hs(), token)
