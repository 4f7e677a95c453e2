"""Shopping-guide attribution, hour buckets and commission (pure, no I/O).

The rule (deterministic):

* **One code per session.**  A viewer's session is attributed to at most one
  guide: the guide the share code of the connect URL names (the ``guide``
  parameter of ``/ws``, from a QR poster; an HTTP buy carries it as its own
  ``guide`` parameter).  The connection keeps it for its lifetime; an unknown
  or malformed code attributes the session to nobody.  :func:`attribute` is
  the rule, for both call sites.
* **First touch lasts.**  A signed-in user who presented a guide's code stays
  attributed to that guide for ``guide_attribution_ttl_s`` (per user, in
  Redis: livehub.store.attribution), across reconnects and devices: a session
  without a code, or with another guide's code, gets the remembered guide.
  Only once it has expired does a later code take over.  A remembered guide the
  festival no longer has counts for nothing (:func:`lasting`); then the
  session's own code, if any, counts.  Anonymous viewers (no user id) keep the
  one-code-per-session rule.
* **Own brand only.**  An order credits the session's guide only when the
  sale's brand is the guide's brand; then it credits that guide and that
  guide's store.  A buy in another brand's sale credits nobody (no other guide
  is looked for).  So each order credits at most one guide and one store.
* **Hour of the contest.**  An order counts in the UTC hour ("YYYYMMDDHH") of
  its confirmation (payment) time.
* **Commission.**  ``amount_cents * rate`` rounded half up to whole cents
  (commercial rounding), computed on the rate as written in the config
  (``Decimal(str(rate))``), so 0.05 is exactly 5/100 and no binary float
  error moves a cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from livehub.domain.ids import valid_id
from livehub.domain.topology import Festival, Guide

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class GuideCredit:
    """Who an order credits: a guide and the guide's store."""

    guide_id: str
    store_id: str


def attribute(share_code: str | None, festival: Festival) -> Guide | None:
    """The guide a session presenting ``share_code`` is attributed to: the festival's guide with
    that code, or None for no code, an unknown one or a malformed one."""
    if valid_id(share_code):
        return festival.guide_by_code(share_code)
    return None


def lasting(remembered: str | None, festival: Festival) -> Guide | None:
    """The guide a remembered first-touch attribution (a guide id) names, None for none or a guide
    the festival no longer has."""
    return festival.guides.get(remembered) if remembered else None


def credit_for(guide: Guide | None, sale_brand: str) -> GuideCredit | None:
    """The credit an order of ``sale_brand`` gives: the session's guide, only for the guide's own brand."""
    if guide is None or guide.brand != sale_brand:
        return None
    return GuideCredit(guide.id, guide.store)


def hour_bucket(ts_ms: int) -> str:
    """UTC hour of a unix-ms timestamp as "YYYYMMDDHH"."""
    return datetime.fromtimestamp(ts_ms // 1000, tz=UTC).strftime("%Y%m%d%H")


def hour_start_ms(hour: str) -> int:
    """Unix ms at the start of an hour bucket; ValueError for a malformed bucket."""
    if len(hour) != 10 or not hour.isdigit():
        raise ValueError(f"hour must be YYYYMMDDHH, got {hour!r}")
    return int(datetime.strptime(hour, "%Y%m%d%H").replace(tzinfo=UTC).timestamp()) * 1000


def hours_between(first: str, last: str) -> list[str]:
    """The hour buckets from ``first`` to ``last``, both included, oldest first (empty when
    ``last`` is before ``first``); ValueError for a malformed bucket."""
    start, end = hour_start_ms(first), hour_start_ms(last)
    return [hour_bucket(ms) for ms in range(start, end + 1, HOUR_MS)]


def ended_hours(now_ms: int, grace_ms: int, n: int) -> list[str]:
    """The ``n`` latest hours that ended at least ``grace_ms`` before ``now_ms``, oldest first: the
    hours whose winner may be recorded (their late payments had ``grace_ms`` to arrive)."""
    last_end = (now_ms - grace_ms) // HOUR_MS * HOUR_MS  # the end of the latest such hour
    return [hour_bucket(last_end - HOUR_MS * i) for i in range(n, 0, -1)]


def commission_cents(amount_cents: int, rate: float) -> int:
    """Commission of an order: amount * rate, rounded half up to whole cents."""
    if amount_cents < 0:
        raise ValueError("amount must not be negative")
    if not 0 <= rate <= 1:
        raise ValueError("commission rate must be in 0..1")
    exact = Decimal(amount_cents) * Decimal(str(rate))
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
