"""Bearer tokens (pure): standard JWTs, verified with keys given by configuration.

livehub's own tokens (host login, ``livehub token``, demo guests) are HS256 JWTs signed with
``LIVEHUB_SECRET`` and carry the header ``kid: livehub``.  A platform's login service (a
mini-program backend, an identity provider) mints its own: HS256 with a shared secret, or
RS256 / ES256 with a key pair whose public half (a PEM or a JWKS URL) every node holds.

The algorithm of each key is fixed by configuration (:class:`Verifier`), never taken from
the token: ``alg: none``, an HS256 token signed with a public key, a token whose header names
another algorithm than its key's are all refused.  Claims (docs/protocol.md, "Tokens"):
``sub`` (user, host, guide ... id), ``exp`` (unix seconds), ``role`` (default ``viewer``),
``venue`` (hosts), ``venues`` (moderators), ``guide`` (guides), ``store`` (store staff),
and ``iss`` / ``aud`` when configured.  No I/O here: fetching a JWKS is livehub.runtime.jwks.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt

from livehub.domain.ids import valid_user_id
from livehub.errors import LivehubException

VIEWER = "viewer"
HOST = "host"
MODERATOR = "moderator"
GUIDE = "guide"
STAFF = "staff"
ADMIN = "admin"
ANONYMOUS = "anonymous"  # no token: may watch; never in a token
ROLES = frozenset({VIEWER, HOST, MODERATOR, GUIDE, STAFF, ADMIN})

HS256, RS256, ES256 = "HS256", "RS256", "ES256"
ALGORITHMS = (HS256, RS256, ES256)
LIVEHUB_KID = "livehub"  # the kid of tokens livehub mints itself (HS256 with LIVEHUB_SECRET)
MAX_TOKEN_CHARS = 4096
MAX_VENUES = 64  # venues named in one moderator token


MIN_HS_KEY_BYTES = 32  # RFC 7518 3.2; shorter secrets work (livehub.runtime.jwks logs a warning once)


@contextmanager
def _short_keys_allowed() -> Iterator[None]:
    """PyJWT warns on every use of an HMAC key shorter than 32 bytes; the node warns once instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        yield


class AuthError(LivehubException):
    """The token is missing, malformed, expired or wrongly signed."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a connection or request is: ``sub`` is empty for an anonymous viewer only."""

    sub: str
    role: str
    venue: str | None = None  # host: the venue they drive
    venues: frozenset[str] = field(default_factory=frozenset)  # moderator: the venues they moderate
    guide: str | None = None  # guide: their guide id (festival [[guides]])
    store: str | None = None  # staff: their store id

    @property
    def is_host(self) -> bool:
        return self.role == HOST

    @property
    def is_anonymous(self) -> bool:
        return self.role == ANONYMOUS


ANONYMOUS_VIEWER = Identity(sub="", role=ANONYMOUS)


def mint(secret: str, sub: str, role: str = VIEWER, venue: str | None = None, ttl_s: int = 86_400,
         now: float | None = None, *, venues: frozenset[str] | None = None, guide: str | None = None,
         store: str | None = None, kid: str = LIVEHUB_KID, issuer: str | None = None,
         audience: str | None = None) -> str:  # fmt: skip
    """An HS256 JWT for ``sub`` signed with ``secret`` (header ``kid``: livehub's own by default)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if not valid_user_id(sub):
        raise ValueError("subject must be 1-64 printable characters without spaces")
    issued = int(time.time() if now is None else now)
    claims: dict[str, object] = {"sub": sub, "role": role, "iat": issued, "exp": issued + ttl_s}
    for name, value in (("venue", venue), ("guide", guide), ("store", store), ("iss", issuer), ("aud", audience)):
        if value is not None:
            claims[name] = value
    if venues is not None:
        claims["venues"] = sorted(venues)
    if role == STAFF and store is None:
        raise ValueError("a staff token names its store")
    with _short_keys_allowed():
        return jwt.encode(claims, secret, algorithm=HS256, headers={"kid": kid})


def _text(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is not None and not valid_user_id(value):
        raise AuthError(f"malformed token: claim {name!r}")
    return value


def identity_of(claims: Mapping[str, Any]) -> Identity:
    """The identity a verified token's claims name (``AuthError`` when a claim is malformed)."""
    sub, role = claims.get("sub"), claims.get("role", VIEWER)
    if not valid_user_id(sub) or not isinstance(sub, str):
        raise AuthError("malformed token: claim 'sub'")
    if role not in ROLES:
        raise AuthError("malformed token: claim 'role'")
    raw_venues = claims.get("venues", [])
    if not isinstance(raw_venues, list) or len(raw_venues) > MAX_VENUES or not all(map(valid_user_id, raw_venues)):
        raise AuthError("malformed token: claim 'venues'")
    store = _text(claims, "store")
    if role == STAFF and store is None:
        raise AuthError("malformed token: a staff token names its 'store'")
    guide = _text(claims, "guide")
    return Identity(sub=sub, role=role, venue=_text(claims, "venue"), venues=frozenset(raw_venues),
                    guide=guide if guide is not None or role != GUIDE else sub, store=store)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Key:
    """One verification key and the one algorithm it verifies (PEM text, or a cryptography key, or
    an HMAC secret)."""

    algorithm: str
    material: Any
    own: bool = False  # livehub's own key (kid "livehub"): its tokens carry no platform "iss"/"aud"

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {self.algorithm!r} (one of {', '.join(ALGORITHMS)})")


def header_kid(token: str | None) -> str | None:
    """The ``kid`` of a token's header (unverified: only to choose the key); ``AuthError`` if malformed."""
    _check_shape(token)
    assert token is not None
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError as exc:
        raise AuthError("malformed token") from exc
    if kid is not None and not valid_user_id(kid):
        raise AuthError("malformed token: header 'kid'")
    return kid


def _check_shape(token: str | None) -> None:
    if not token:
        raise AuthError("missing token")
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2 or not token.isascii():
        raise AuthError("malformed token")


@dataclass(frozen=True, slots=True)
class Verifier:
    """Verifies tokens with the keys it was given: ``keys[kid]`` for a token whose header names a
    ``kid``, ``keys[None]`` for one without.  An unknown kid is refused.  ``leeway_s`` absorbs clock
    skew on ``exp``/``nbf``/``iat``; ``issuer``/``audience``, when set, must match the token's
    (the platform's tokens: not for a key marked ``own``)."""

    keys: Mapping[str | None, Key]
    leeway_s: float = 0.0
    issuer: str | None = None
    audience: str | None = None

    def verify(self, token: str | None, now: float | None = None, extra: Mapping[str, Key] | None = None) -> Identity:
        """The token's identity; ``extra`` are keys by kid found elsewhere (a JWKS)."""
        kid = header_kid(token)
        key = self.keys.get(kid)
        if key is None and kid is not None and extra is not None:  # configured keys win: a JWKS never shadows them
            key = extra.get(kid)
        if key is None:
            raise AuthError("unknown signing key" if kid is not None else "token names no key id (kid)")
        assert token is not None
        issuer, audience = (None, None) if key.own else (self.issuer, self.audience)
        try:
            with _short_keys_allowed():
                claims = jwt.decode(
                    token, key.material, algorithms=[key.algorithm], issuer=issuer, audience=audience,
                    options={"require": ["exp", "sub"], "verify_exp": False, "verify_nbf": False,
                             "verify_iat": False, "verify_aud": audience is not None},
                )  # fmt: skip
        except jwt.InvalidSignatureError as exc:
            raise AuthError("bad token signature") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise AuthError(f"token algorithm is not {key.algorithm}") from exc
        except (jwt.InvalidIssuerError, jwt.InvalidAudienceError) as exc:
            raise AuthError(f"wrong token issuer or audience: {exc}") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"malformed token: {exc}") from exc
        except (jwt.InvalidTokenError, ValueError, TypeError) as exc:  # undecodable, unusable key, ...
            raise AuthError(f"malformed token: {exc}") from exc
        self._check_times(claims, time.time() if now is None else now)
        return identity_of(claims)

    def _check_times(self, claims: Mapping[str, Any], now: float) -> None:
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise AuthError(f"malformed token: claim {name!r}")
        if claims["exp"] + self.leeway_s <= now:
            raise AuthError("token expired")
        if "nbf" in claims and claims["nbf"] - self.leeway_s > now:
            raise AuthError("token not valid yet")
        if "iat" in claims and claims["iat"] - self.leeway_s > now:
            raise AuthError("token issued in the future")


def hs256_verifier(secret: str, leeway_s: float = 0.0) -> Verifier:
    """Tokens of one shared secret, with livehub's kid or none."""
    return Verifier({None: Key(HS256, secret), LIVEHUB_KID: Key(HS256, secret, own=True)}, leeway_s=leeway_s)


def verify(secret: str, token: str | None, now: float | None = None) -> Identity:
    """An HS256 token signed with ``secret`` (no clock leeway)."""
    return hs256_verifier(secret).verify(token, now)
