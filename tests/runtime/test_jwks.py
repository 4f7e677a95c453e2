"""livehub.runtime.jwks: the node's token verifier from Settings (keys by kid, a public key, a JWKS
fetched from a real HTTP server on 127.0.0.1, bounded refetches) and the settings it reads."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from livehub.domain.tokens import ES256, HOST, RS256, AuthError, Identity, mint
from livehub.runtime.jwks import TokenVerifier, jwks_keys
from livehub.settings import Settings, SettingsError, load_settings

SECRET = "node-secret-of-at-least-32-bytes"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_KEY_2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def pem(key: Any) -> str:
    return str(
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def jwk(key: Any, kid: str, **extra: Any) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
    return {**algorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig", **extra}


def rs_token(key: Any = RSA_KEY, kid: str | None = None, **claims: Any) -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode({"sub": "wx-1", "exp": 4_000_000_000, **claims}, key, algorithm="RS256", headers=headers)


async def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(AuthError) as info:
        await verifier.verify(token)
    return str(info.value)


class JwksServer:
    """A JWKS endpoint on 127.0.0.1 in a thread: ``keys`` is what it serves, ``hits`` counts fetches."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.hits = 0
        self.status = 200
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = orjson.dumps({"keys": outer.keys})
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> JwksServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    with JwksServer() as server:
        yield server


# ---- HS256 (the default): livehub's own tokens and rotation keys --------------------------------------------------


async def test_livehubs_own_tokens_verify_with_the_node_secret() -> None:
    verifier = TokenVerifier(Settings(secret=SECRET))

    assert await verifier.verify(mint(SECRET, "host-b1", HOST, venue="b1")) == Identity("host-b1", HOST, "b1")


async def test_rotation_keys_by_kid_are_accepted_while_configured_and_refused_once_removed() -> None:
    both = TokenVerifier(Settings(secret=SECRET, jwt_hs_keys="k1=old-secret-old-secret-old-secret,k2=new-secret"))
    rotated = TokenVerifier(Settings(secret=SECRET, jwt_hs_keys="k2=new-secret"))
    old = mint("old-secret-old-secret-old-secret", "u1", kid="k1")
    new = mint("new-secret", "u1", kid="k2")

    assert (await both.verify(old)).sub == (await both.verify(new)).sub == "u1"
    assert (await rotated.verify(new)).sub == "u1"
    assert "unknown signing key" in await refused(rotated, old)


async def test_the_configured_leeway_absorbs_clock_skew() -> None:
    expired_10s_ago = mint(SECRET, "u1", ttl_s=-10)

    assert (await TokenVerifier(Settings(secret=SECRET, jwt_leeway_s=30)).verify(expired_10s_ago)).sub == "u1"
    assert "expired" in await refused(TokenVerifier(Settings(secret=SECRET, jwt_leeway_s=0)), expired_10s_ago)


async def test_a_configured_issuer_and_audience_are_required_of_platform_tokens_not_of_livehubs_own() -> None:
    verifier = TokenVerifier(Settings(secret=SECRET, jwt_issuer="https://login.example", jwt_audience="livehub",
                                      jwt_hs_keys="platform=platform-secret-platform-secret!"))  # fmt: skip
    good = mint("platform-secret-platform-secret!", "u1", kid="platform", issuer="https://login.example",
                audience="livehub")  # fmt: skip

    assert (await verifier.verify(good)).sub == "u1"
    assert await refused(verifier, mint("platform-secret-platform-secret!", "u1", kid="platform"))
    assert (await verifier.verify(mint(SECRET, "host-b1", HOST, venue="b1"))).is_host  # host login: kid livehub


# ---- RS256 / ES256 with a public key --------------------------------------------------------------------------------


async def test_a_public_key_is_pem_text_or_the_path_of_a_pem_file(tmp_path: Path) -> None:
    path = tmp_path / "platform.pem"
    path.write_text(pem(RSA_KEY))

    for value in (pem(RSA_KEY), str(path)):
        verifier = TokenVerifier(Settings(secret=SECRET, jwt_algorithm=RS256, jwt_public_key=value))
        assert (await verifier.verify(rs_token())).sub == "wx-1"
        assert "signature" in await refused(verifier, rs_token(RSA_KEY_2))


async def test_es256_platform_tokens_verify_with_an_ec_public_key() -> None:
    verifier = TokenVerifier(Settings(secret=SECRET, jwt_algorithm=ES256, jwt_public_key=pem(EC_KEY)))
    token = jwt.encode({"sub": "wx-2", "exp": 4_000_000_000}, EC_KEY, algorithm="ES256")

    assert (await verifier.verify(token)).sub == "wx-2"
    assert "algorithm" in await refused(verifier, rs_token())


async def test_with_a_public_key_livehubs_own_kid_still_verifies_but_hs256_without_it_is_refused() -> None:
    verifier = TokenVerifier(Settings(secret=SECRET, jwt_algorithm=RS256, jwt_public_key=pem(RSA_KEY)))
    host_login = mint(SECRET, "host-b1", HOST, venue="b1")
    confused = jwt.encode({"sub": "u1", "role": "admin", "exp": 4_000_000_000}, SECRET, algorithm="HS256")

    assert (await verifier.verify(host_login)).is_host
    assert "algorithm" in await refused(verifier, confused)


def test_a_public_key_that_is_neither_pem_nor_a_file_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="jwt_public_key"):
        TokenVerifier(Settings(jwt_algorithm=RS256, jwt_public_key=str(tmp_path / "missing.pem")))


# ---- a JWKS URL ------------------------------------------------------------------------------------------------------


def jwks_settings(server: JwksServer, **extra: Any) -> Settings:
    return Settings(secret=SECRET, jwt_algorithm=RS256, jwt_jwks_url=server.url, **extra)


async def test_a_jwks_key_verifies_tokens_of_its_kid(jwks_server: JwksServer) -> None:
    jwks_server.keys = [jwk(RSA_KEY, "p1")]
    verifier = TokenVerifier(jwks_settings(jwks_server))

    assert (await verifier.verify(rs_token(kid="p1"))).sub == "wx-1"
    assert (await verifier.verify(rs_token(kid="p1", sub="wx-3"))).sub == "wx-3"
    assert jwks_server.hits == 1  # cached
    assert "signature" in await refused(verifier, rs_token(RSA_KEY_2, kid="p1"))


async def test_jwks_rotation_a_new_kid_is_fetched_and_a_removed_kid_refused(jwks_server: JwksServer) -> None:
    jwks_server.keys = [jwk(RSA_KEY, "p1")]
    verifier = TokenVerifier(jwks_settings(jwks_server, jwt_jwks_cache_s=1e-9))  # every use refetches
    assert (await verifier.verify(rs_token(kid="p1"))).sub == "wx-1"

    jwks_server.keys = [jwk(RSA_KEY, "p1"), jwk(RSA_KEY_2, "p2")]
    assert (await verifier.verify(rs_token(RSA_KEY_2, kid="p2"))).sub == "wx-1"
    assert (await verifier.verify(rs_token(kid="p1"))).sub == "wx-1"

    jwks_server.keys = [jwk(RSA_KEY_2, "p2")]
    assert "unknown signing key" in await refused(verifier, rs_token(kid="p1"))


async def test_unknown_kids_do_not_refetch_a_fresh_jwks(jwks_server: JwksServer) -> None:
    jwks_server.keys = [jwk(RSA_KEY, "p1")]
    verifier = TokenVerifier(jwks_settings(jwks_server))
    await verifier.verify(rs_token(kid="p1"))

    for n in range(20):
        assert "unknown signing key" in await refused(verifier, rs_token(kid=f"made-up-{n}"))

    assert jwks_server.hits == 1


async def test_an_unreachable_jwks_refuses_the_token_and_keeps_the_keys_fetched_before(
    jwks_server: JwksServer,
) -> None:
    jwks_server.keys = [jwk(RSA_KEY, "p1")]
    verifier = TokenVerifier(jwks_settings(jwks_server, jwt_jwks_cache_s=1e-9))
    await verifier.verify(rs_token(kid="p1"))
    jwks_server.status = 500

    assert (await verifier.verify(rs_token(kid="p1"))).sub == "wx-1"
    down = TokenVerifier(Settings(secret=SECRET, jwt_algorithm=RS256, jwt_jwks_url="http://127.0.0.1:9/jwks.json"))
    assert "unknown signing key" in await refused(down, rs_token(kid="p1"))


def test_jwks_keys_keep_only_signing_keys_of_the_configured_algorithm_and_at_most_the_bound() -> None:
    document = {"keys": [
        jwk(RSA_KEY, "rsa-1"), jwk(EC_KEY, "ec-1"), jwk(RSA_KEY, "enc-1", use="enc"),
        jwk(RSA_KEY, "rs512", alg="RS512"), {"kty": "RSA", "kid": "broken"}, jwk(RSA_KEY_2, "rsa-2"),
        jwk(RSA_KEY_2, "rsa-3"),
    ]}  # fmt: skip

    assert set(jwks_keys(document, RS256, 16)) == {"rsa-1", "rsa-2", "rsa-3"}
    assert set(jwks_keys(document, ES256, 16)) == {"ec-1"}
    assert set(jwks_keys(document, RS256, 2)) == {"rsa-1", "rsa-2"}
    assert jwks_keys({"nothing": 1}, RS256, 16) == {}


# ---- the settings ---------------------------------------------------------------------------------------------------


def test_the_jwt_settings_are_checked_when_loaded() -> None:
    with pytest.raises(SettingsError, match="jwt_algorithm"):
        load_settings(env={}, jwt_algorithm="none")
    with pytest.raises(SettingsError, match="jwt_public_key"):
        load_settings(env={}, jwt_algorithm="RS256")
    with pytest.raises(SettingsError, match="jwt_hs_keys"):
        load_settings(env={}, jwt_hs_keys="no-equals-sign")
    with pytest.raises(SettingsError, match="jwt_leeway_s"):
        load_settings(env={}, jwt_leeway_s=3600)
    env = {"LIVEHUB_JWT_JWKS_URL": "http://idp/jwks", "LIVEHUB_JWT_ALGORITHM": "ES256"}
    assert load_settings(env=env).jwt_algorithm == ES256


def test_rotation_secrets_are_never_shown() -> None:
    assert "s3cret" not in repr(Settings(jwt_hs_keys="k1=s3cret"))
