"""Signed bearer tokens (pure): ``<base64url(json claims)>.<base64url(hmac-sha256)>``.

Claims: ``sub`` (user or host id), ``role`` (``viewer`` or ``host``), ``venue``
(hosts only: the venue they drive), ``exp`` (unix seconds).  Every node shares
the secret (``LIVEHUB_SECRET``), so a token minted anywhere is valid everywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

import orjson

from livehub.domain.ids import valid_user_id
from livehub.errors import LivehubException

VIEWER = "viewer"
HOST = "host"
ROLES = frozenset({VIEWER, HOST})
MAX_TOKEN_CHARS = 1024


class AuthError(LivehubException):
    """The token is missing, malformed, expired or wrongly signed."""


@dataclass(frozen=True, slots=True)
class Identity:
    sub: str
    role: str
    venue: str | None = None

    @property
    def is_host(self) -> bool:
        return self.role == HOST


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), body.encode("ascii"), hashlib.sha256).digest())


def mint(secret: str, sub: str, role: str = VIEWER, venue: str | None = None, ttl_s: int = 86_400,
         now: float | None = None) -> str:  # fmt: skip
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if not valid_user_id(sub):
        raise ValueError("subject must be 1-64 printable characters without spaces")
    claims: dict[str, object] = {"sub": sub, "role": role, "exp": int((time.time() if now is None else now) + ttl_s)}
    if venue is not None:
        claims["venue"] = venue
    body = _b64(orjson.dumps(claims))
    return f"{body}.{_sign(secret, body)}"


def verify(secret: str, token: str | None, now: float | None = None) -> Identity:
    if not token:
        raise AuthError("missing token")
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1 or not token.isascii():
        raise AuthError("malformed token")
    body, signature = token.split(".")
    if not hmac.compare_digest(signature, _sign(secret, body)):
        raise AuthError("bad token signature")
    try:
        claims = orjson.loads(_unb64(body))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise AuthError("malformed token") from exc
    if not isinstance(claims, dict):
        raise AuthError("malformed token")
    sub, role, exp, venue = claims.get("sub"), claims.get("role"), claims.get("exp"), claims.get("venue")
    if not valid_user_id(sub) or role not in ROLES or not isinstance(exp, int):
        raise AuthError("malformed token")
    if exp < (time.time() if now is None else now):
        raise AuthError("token expired")
    if venue is not None and not isinstance(venue, str):
        raise AuthError("malformed token")
    assert isinstance(sub, str) and isinstance(role, str)
    return Identity(sub=sub, role=role, venue=venue)
