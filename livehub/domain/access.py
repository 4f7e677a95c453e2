"""The role table (pure): what every HTTP route and websocket command needs, and one
:func:`permits` that decides it for an identity.

The web layer enforces this table at the edge (livehub.web.http.guard_routes for HTTP, one
call in livehub.web.session before a command runs); handlers keep only what the table cannot
express (a host key, a payment signature, "from the main venue only").  tests/web/test_access_table.py
checks that the mounted routes and the parsed command types match this table exactly, and walks
it with every role against a real ``livehub serve``.

Refusals: a need that an anonymous viewer (no token) does not meet is ``unauthorized`` (HTTP
401; websocket: an error frame, the connection stays); an identity without the role is
``forbidden`` (HTTP 403 / error frame).  A wrong token is refused before the table is read
(HTTP 401, websocket close 4001).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from livehub import errors
from livehub.domain.roles import may_drive
from livehub.domain.tokens import ADMIN, GUIDE, MODERATOR, STAFF, Identity
from livehub.domain.topology import Festival


class Need(StrEnum):
    PUBLIC = "public"  # anyone; no token is looked at
    PAYMENT = "payment"  # the payment provider: no token, the handler checks its signature
    WATCH = "watch"  # anyone, anonymous viewers included (a token, when given, must be valid)
    USER = "user"  # a verified user id, any role
    BUYER = "buyer"  # a verified user id that is not a host (hosts do not buy)
    HOST = "host"  # any host
    VENUE_HOST = "venue_host"  # a host who may drive the path's venue (its own; the main host: every venue)
    VENUE_MODERATOR = "venue_moderator"  # a moderator of the path's venue, or a host who may drive it
    GUIDE_SELF = "guide_self"  # a guide (their own share code and figures)
    STORE_STAFF = "store_staff"  # staff of the path's store, a host who may drive its brand's venue, an admin
    ADMIN = "admin"  # a festival admin (the identity provider mints tokens for everyone else)
    STORE_KEEPER = "store_keeper"  # staff of the path's store, or an admin (they adjust its stock; hosts do not)


TOKENLESS = frozenset({Need.PUBLIC, Need.PAYMENT})  # the edge reads no token for these
ANONYMOUS_OK = TOKENLESS | {Need.WATCH}


@dataclass(frozen=True, slots=True)
class Rule:
    need: Need
    demo_only: bool = False  # mounted only in demo mode


WEBSOCKET = "WS"  # the "method" of the websocket route in HTTP

HTTP: dict[tuple[str, str], Rule] = {
    # public reads, the pages and the static files
    ("GET", "/healthz"): Rule(Need.PUBLIC),
    ("GET", "/readyz"): Rule(Need.PUBLIC),
    ("GET", "/metrics"): Rule(Need.PUBLIC),
    ("GET", "/api/festival"): Rule(Need.PUBLIC),
    ("GET", "/api/venues/{venue}"): Rule(Need.PUBLIC),
    ("GET", "/api/sales/{sale}"): Rule(Need.PUBLIC),
    ("GET", "/api/guides/leaderboard"): Rule(Need.PUBLIC),
    ("GET", "/"): Rule(Need.PUBLIC),
    ("GET", "/panel"): Rule(Need.PUBLIC),
    ("GET", "/watch"): Rule(Need.PUBLIC),
    ("GET", "/static"): Rule(Need.PUBLIC),
    # the websocket: anonymous viewers watch (commands: WS below)
    (WEBSOCKET, "/ws"): Rule(Need.WATCH),
    # tokens
    ("POST", "/api/auth/host"): Rule(Need.PUBLIC),  # the handler checks the host's key
    ("POST", "/api/auth/guest"): Rule(Need.PUBLIC, demo_only=True),
    ("POST", "/api/auth/staff"): Rule(Need.PUBLIC, demo_only=True),  # {store}: a staff token (demo login)
    ("POST", "/api/auth/token"): Rule(Need.ADMIN),
    # hosts drive venues
    ("POST", "/api/venues/{venue}/events"): Rule(Need.VENUE_HOST),
    ("POST", "/api/venues/{venue}/cta"): Rule(Need.VENUE_HOST),  # the handler: "from the main venue only"
    ("POST", "/api/venues/{venue}/cohost"): Rule(Need.VENUE_HOST),  # ... (400 in a brand venue)
    ("DELETE", "/api/venues/{venue}/cohost"): Rule(Need.VENUE_HOST),
    ("POST", "/api/venues/{venue}/cards"): Rule(Need.VENUE_HOST),
    ("DELETE", "/api/venues/{venue}/cards"): Rule(Need.VENUE_HOST),
    ("POST", "/api/venues/{venue}/sales"): Rule(Need.VENUE_HOST),
    ("POST", "/api/venues/{venue}/sales/{sale}/{action}"): Rule(Need.VENUE_HOST),
    ("POST", "/api/venues/{venue}/coupons"): Rule(Need.VENUE_HOST),
    # stores and guides
    ("GET", "/api/stores/{store}/orders"): Rule(Need.STORE_STAFF),
    ("GET", "/api/guides/me"): Rule(Need.GUIDE_SELF),
    ("GET", "/api/stores/{store}/pickups"): Rule(Need.STORE_STAFF),  # waiting and handed over, never the codes
    ("POST", "/api/stores/{store}/pickups/{code}"): Rule(Need.STORE_STAFF),  # hand-over (核销)
    ("GET", "/api/stores/{store}/stock"): Rule(Need.STORE_STAFF),
    ("POST", "/api/stores/{store}/stock"): Rule(Need.STORE_KEEPER),
    ("GET", "/store"): Rule(Need.PUBLIC),  # the storefront page (its calls need a staff token)
    # buyers
    ("POST", "/api/sales/{sale}/buy"): Rule(Need.BUYER),
    ("POST", "/api/coupons/{coupon}/grab"): Rule(Need.BUYER),
    ("GET", "/api/me/orders"): Rule(Need.BUYER),
    ("POST", "/api/reservations/{reservation}/pay"): Rule(Need.BUYER, demo_only=True),
    # the payment provider
    ("POST", "/api/payments/callback"): Rule(Need.PAYMENT),
}

WS: dict[str, Need] = {
    "ping": Need.WATCH,
    "join": Need.WATCH,
    "leave": Need.WATCH,
    "like": Need.WATCH,
    "comment": Need.USER,  # moderators comment like viewers (moderation actions: a later issue)
    "signal": Need.HOST,
    "buy": Need.BUYER,
    "coupon.grab": Need.BUYER,
    "orders": Need.BUYER,
}


@dataclass(frozen=True, slots=True)
class Target:
    """What a request acts on, from its path: a venue and a store the festival has."""

    venue: str | None = None
    store: str | None = None


NO_TARGET = Target()


def permits(need: Need, identity: Identity, festival: Festival, target: Target = NO_TARGET) -> bool:
    """Whether ``identity`` meets ``need`` for ``target`` (the path's venue or store)."""
    if need in ANONYMOUS_OK:
        return True
    if identity.is_anonymous:
        return False
    if need is Need.USER:
        return True
    if need is Need.BUYER:
        return not identity.is_host
    if need is Need.HOST:
        return identity.is_host
    if need is Need.VENUE_HOST:
        return target.venue is not None and may_drive(festival, identity, target.venue)
    if need is Need.VENUE_MODERATOR:
        venue = target.venue
        return venue is not None and (
            (identity.role == MODERATOR and venue in identity.venues) or may_drive(festival, identity, venue)
        )
    if need is Need.GUIDE_SELF:
        return identity.role == GUIDE and identity.guide in festival.guides
    if need is Need.STORE_STAFF:
        store = festival.stores.get(target.store or "")
        if store is None:
            return False
        return (
            (identity.role == STAFF and identity.store == store.id)
            or identity.role == ADMIN
            or (may_drive(festival, identity, festival.brands[store.brand].venue))
        )
    if need is Need.ADMIN:
        return identity.role == ADMIN
    if need is Need.STORE_KEEPER:
        return target.store in festival.stores and (
            (identity.role == STAFF and identity.store == target.store) or identity.role == ADMIN
        )
    raise AssertionError(f"unhandled need {need!r}")


def check(need: Need, identity: Identity, festival: Festival, target: Target = NO_TARGET) -> None:
    """:func:`permits`, or the refusal: ``unauthorized`` for an anonymous viewer, ``forbidden`` otherwise."""
    if permits(need, identity, festival, target):
        return
    if identity.is_anonymous:
        raise errors.LivehubError(errors.UNAUTHORIZED, "sign in first: this needs a token")
    raise errors.forbidden(f"role {identity.role!r} may not do this here (needs {need.value})")


def check_command(command_type: str, identity: Identity, festival: Festival) -> None:
    """The websocket command table's :func:`check` (an unknown type needs a verified user)."""
    check(WS.get(command_type, Need.USER), identity, festival)
