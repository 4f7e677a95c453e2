"""The node's token verifier, built from Settings: livehub's own HS256 key, the platform's
keys (an HS256 secret and rotation keys by kid, or a public key, or a JWKS URL), the leeway
and the optional issuer / audience; the pure checks are livehub.domain.tokens.Verifier.

A JWKS is fetched with PyJWKClient in a worker thread (never on the event loop), at most
``jwt_jwks_timeout_s`` per fetch, and cached for ``jwt_jwks_cache_s``: a token whose kid the
cache lacks triggers at most one refetch per ``jwt_jwks_cache_s`` (a stream of made-up kids
costs one fetch, not one per token; while no key could be fetched: one per 5 s), and one fetch at a time.
At most ``jwt_jwks_max_keys`` keys are kept; a key whose ``alg`` or type is not the configured algorithm's is ignored.
A failed fetch keeps the keys fetched before; tokens the known keys cannot verify get 401.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient

from livehub.domain.tokens import HS256, LIVEHUB_KID, MIN_HS_KEY_BYTES, AuthError, Identity, Key, Verifier, header_kid
from livehub.settings import Settings, SettingsError, hs_keys

log = logging.getLogger("livehub.runtime.jwks")
RETRY_S = 5.0  # after a failed fetch with no keys at hand, the next attempt waits this long


def public_key_text(value: str) -> str:
    """``jwt_public_key``: PEM text as is, otherwise the path of a PEM file."""
    if "-----BEGIN" in value:
        return value
    try:
        return Path(value).read_text()
    except OSError as exc:
        raise SettingsError(f"setting 'jwt_public_key': not PEM text and not a readable file: {exc}") from exc


def configured_keys(settings: Settings) -> dict[str | None, Key]:
    """The keys the configuration names, by kid (None: tokens without a kid)."""
    keys: dict[str | None, Key] = {LIVEHUB_KID: Key(HS256, settings.secret, own=True)}
    if settings.jwt_algorithm == HS256:
        keys[None] = Key(HS256, settings.secret)
    elif settings.jwt_public_key:
        keys[None] = Key(settings.jwt_algorithm, public_key_text(settings.jwt_public_key))
    for kid, secret in hs_keys(settings.jwt_hs_keys).items():
        keys[kid] = Key(HS256, secret)
    short = sorted(str(kid) for kid, key in keys.items()
                   if key.algorithm == HS256 and len(str(key.material).encode()) < MIN_HS_KEY_BYTES)  # fmt: skip
    if short:
        log.warning("HS256 keys shorter than %d bytes (kids %s): use longer secrets", MIN_HS_KEY_BYTES, short)
    return keys


def jwks_keys(data: Any, algorithm: str, max_keys: int) -> dict[str, Key]:
    """The signing keys of a JWKS document usable with ``algorithm`` (at most ``max_keys``)."""
    keys: dict[str, Key] = {}
    entries = data.get("keys") if isinstance(data, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if len(keys) >= max_keys:
            log.warning("JWKS has more than %d usable keys: the rest are ignored", max_keys)
            break
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("alg", algorithm) != algorithm:
            continue
        try:
            keys[entry["kid"]] = Key(algorithm, PyJWK(entry, algorithm=algorithm).key)
        except (jwt.PyJWTError, ValueError, TypeError):
            continue
    return keys


class TokenVerifier:
    """Verifies bearer tokens for the node (websocket endpoint and HTTP bearer)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.verifier = Verifier(
            configured_keys(settings), leeway_s=settings.jwt_leeway_s,
            issuer=settings.jwt_issuer or None, audience=settings.jwt_audience or None,
        )  # fmt: skip
        self.client = (
            PyJWKClient(settings.jwt_jwks_url, cache_jwk_set=False, timeout=settings.jwt_jwks_timeout_s)
            if settings.jwt_jwks_url else None
        )  # fmt: skip
        self.jwks: dict[str, Key] = {}
        self.fetched_at = -float("inf")  # monotonic time of the last fetch attempt
        self.lock = asyncio.Lock()

    def verify_known(self, token: str | None) -> Identity:
        """With the keys at hand (configured and cached), no fetch."""
        return self.verifier.verify(token, extra=self.jwks)

    async def verify(self, token: str | None) -> Identity:
        """The token's identity (``AuthError`` if it is not valid); may fetch the JWKS first."""
        kid = header_kid(token)
        if (
            self.client is not None
            and kid is not None
            and kid not in self.verifier.keys
            and (kid not in self.jwks or time.monotonic() - self.fetched_at >= self.settings.jwt_jwks_cache_s)
        ):
            await self._refresh()
        return self.verify_known(token)

    async def _refresh(self) -> None:
        async with self.lock:
            age = time.monotonic() - self.fetched_at
            if age < self.settings.jwt_jwks_cache_s and (self.jwks or age < RETRY_S):
                return  # fresh (an unknown kid stays unknown), or the last attempt failed just now
            self.fetched_at = time.monotonic()
            assert self.client is not None
            try:
                data = await asyncio.wait_for(asyncio.to_thread(self.client.fetch_data),
                                              self.settings.jwt_jwks_timeout_s + 1.0)  # fmt: skip
            except (jwt.PyJWTError, TimeoutError, OSError, ValueError) as exc:
                log.warning("JWKS fetch from %s failed: %s", self.settings.jwt_jwks_url, exc)
                return
            self.jwks = jwks_keys(data, self.settings.jwt_algorithm, self.settings.jwt_jwks_max_keys)
            log.info("JWKS from %s: %d keys", self.settings.jwt_jwks_url, len(self.jwks))


__all__ = ["AuthError", "TokenVerifier", "configured_keys", "jwks_keys", "public_key_text"]
