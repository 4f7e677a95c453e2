"""Who may do what: pure functions of the festival and a token's identity.

Hosts drive venues (their own; the main venue's host drives every venue), verified users buy
(anonymous viewers only watch), store staff see their store, and some controls are driven from
the main venue only.  Which route or command needs which of these is livehub.domain.access.
The checks that fail raise the documented error (livehub.errors); nothing here does I/O.
"""

from __future__ import annotations

from livehub import errors
from livehub.domain.tokens import Identity
from livehub.domain.topology import BRAND, MAIN, Festival, Store, host_channel, room_channel


def venue_or_404(festival: Festival, venue: str | None) -> str:
    """``venue`` if the festival has it; ``not_found`` otherwise."""
    if venue is None or venue not in festival.venues:
        raise errors.not_found(f"unknown venue {venue!r}")
    return venue


def brand_venue_or_404(festival: Festival, venue: str) -> str:
    """``venue`` if it is one of the festival's brand venues; ``not_found`` otherwise."""
    if venue not in festival.venues or festival.venues[venue].kind != BRAND:
        raise errors.not_found(f"unknown brand venue {venue!r}")
    return venue


def store_or_404(festival: Festival, store_id: str) -> Store:
    store = festival.stores.get(store_id)
    if store is None:
        raise errors.not_found(f"unknown store {store_id!r}")
    return store


def require_main_venue(festival: Festival, venue: str, what: str) -> None:
    """``what`` (co-host link-ups, visit calls to action) is driven from the main venue only."""
    if festival.venues[venue].kind != MAIN:
        raise errors.bad_request(f"{what} are driven from the main venue")


def is_main_host(festival: Festival, identity: Identity) -> bool:
    """A host token of the main venue."""
    venue = festival.venues.get(identity.venue or "")
    return identity.is_host and venue is not None and venue.kind == MAIN


def may_drive(festival: Festival, identity: Identity, venue: str) -> bool:
    """A host drives the venues its token names (``venue``, and ``venues`` for a host of several);
    the main venue's host may drive every venue."""
    return identity.is_host and (
        identity.venue == venue or venue in identity.venues or is_main_host(festival, identity)
    )


def require_user(identity: Identity) -> str:
    """The verified user id (``unauthorized`` for an anonymous viewer: sign in first)."""
    if identity.is_anonymous or not identity.sub:
        raise errors.LivehubError(errors.UNAUTHORIZED, "sign in first: this needs a verified user id")
    return identity.sub


def require_viewer(identity: Identity) -> str:
    """The buyer's verified user id (:func:`require_user`); hosts do not buy or grab (``forbidden``)."""
    require_user(identity)
    if identity.is_host:
        raise errors.forbidden("hosts do not buy; use a viewer token")
    return identity.sub


def require_host(identity: Identity, what: str) -> None:
    """Only hosts ``what`` (``forbidden`` for a viewer token)."""
    if not identity.is_host:
        raise errors.forbidden(f"only hosts {what}")


def channels_of(festival: Festival, identity: Identity, venue: str) -> tuple[str, ...]:
    """The channels a connection joining ``venue`` subscribes to: the venue's (1+N), its room,
    and for a host its own host channel (orders, signals, leaderboard)."""
    channels = (*festival.channels_for(venue), room_channel(venue))
    if identity.is_host:
        channels = (*channels, host_channel(identity.sub))
    return channels
