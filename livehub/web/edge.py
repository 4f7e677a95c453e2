"""The websocket's edge checks, made once per connection before it joins the hub (docs/operations.md,
"Security", "Limits at the edge"):

* **Origin.**  A browser sends the page's origin with the handshake; it must be one of
  ``allowed_origins`` (comma-separated; empty: the same host as the request's ``Host`` header;
  ``*``: any).  A client that sends no ``Origin`` (a native app, a server) is allowed: the
  check protects browser users from other sites' pages, not the node from clients.  Refused:
  close **4003**.
* **Connections per IP and per identity** on this node (``max_connections_per_ip``,
  ``max_connections_per_identity``): a new connection beyond either is refused with close
  **4029**; the connections already open stay.  Loopback counts like any address.  Behind a
  proxy, ``trust_forwarded_for`` takes the client address from the last ``X-Forwarded-For``
  entry (the one the proxy added); never turn it on without a proxy that sets it, or clients
  choose their own address.  An anonymous viewer (no user id) counts per IP only.

:func:`admit` returns a :class:`Ticket`; an admitted one holds one count of each kind until
:meth:`Ticket.release`, which the endpoint calls once the connection ends (however it ends,
a failed join included) and which releases at most once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from livehub import errors
from livehub.domain.quotas import ANONYMOUS, Quotas, identity_key
from livehub.domain.tokens import Identity
from livehub.settings import Settings

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class Ticket:
    """One connection's place in the per-IP and per-identity counts (``refused``: it has none)."""

    __slots__ = ("_quotas", "held", "ip", "key", "refused")

    def __init__(self, quotas: Quotas, key: str, ip: str, refused: tuple[int, str] | None = None) -> None:
        self._quotas = quotas
        self.key = key  # whom this connection's rate limits count (livehub.domain.quotas.identity_key)
        self.ip = ip
        self.refused = refused  # (close code, reason) when the connection must be refused
        self.held: tuple[bool, bool] = (False, False)  # (per IP, per identity) counted

    def release(self) -> None:
        """The connection ended: give back what it counted (a second call does nothing)."""
        by_ip, by_identity = self.held
        self.held = (False, False)
        if by_ip:
            self._quotas.per_ip.leave(self.ip)
        if by_identity:
            self._quotas.per_identity.leave(self.key)


def headers_of(scope: Mapping[str, Any]) -> dict[str, str]:
    """The handshake's headers (the last of repeated names), names lower-case."""
    raw: Iterable[tuple[bytes, bytes]] = scope.get("headers") or ()
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw}


def client_ip(scope: Mapping[str, Any], headers: dict[str, str], trust_forwarded_for: bool) -> str:
    """The client's address: the socket's peer, or with ``trust_forwarded_for`` the last
    ``X-Forwarded-For`` entry (what the trusted proxy in front saw)."""
    if trust_forwarded_for:
        forwarded = headers.get("x-forwarded-for", "").rsplit(",", 1)[-1].strip()
        if forwarded:
            return forwarded[:64]
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _origin(text: str) -> tuple[str, str, int | None] | None:
    """``scheme://host[:port]`` as (scheme, host, port), lower-case, default ports filled in; None if not one."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None  # "null" (a sandboxed page, a file) and anything that is not an origin
    scheme = parts.scheme.lower()
    return scheme, parts.hostname.lower(), port if port is not None else _DEFAULT_PORTS.get(scheme)


def origin_allowed(origin: str | None, host_header: str | None, allowed: str) -> bool:
    """Whether a handshake's ``Origin`` may connect (see the module's docstring for the rule)."""
    if origin is None:
        return True
    entries = [entry.strip() for entry in allowed.split(",") if entry.strip()]
    if "*" in entries:
        return True
    seen = _origin(origin)
    if seen is None:
        return False
    if entries:
        return seen in {_origin(entry) for entry in entries}
    if not host_header:
        return False
    return _origin(f"{seen[0]}://{host_header}") == seen  # the page's own host, on the same scheme


def admit(quotas: Quotas, settings: Settings, scope: Mapping[str, Any], identity: Identity) -> Ticket:
    """The edge checks for a verified handshake: a Ticket holding its counts, or one ``refused``."""
    headers = headers_of(scope)
    ip = client_ip(scope, headers, settings.trust_forwarded_for)
    ticket = Ticket(quotas, identity_key(identity.sub, identity.role, ip), ip)
    if not origin_allowed(headers.get("origin"), headers.get("host"), settings.allowed_origins):
        ticket.refused = (errors.CLOSE_FORBIDDEN, "origin not allowed")
        return ticket
    if not quotas.per_ip.enter(ip):
        ticket.refused = (errors.CLOSE_TOO_MANY, "too many connections from this address")
        return ticket
    anonymous = identity.role == ANONYMOUS or not identity.sub
    if not anonymous and not quotas.per_identity.enter(ticket.key):
        quotas.per_ip.leave(ip)
        ticket.refused = (errors.CLOSE_TOO_MANY, "too many connections for this identity")
        return ticket
    ticket.held = (True, not anonymous)
    return ticket
