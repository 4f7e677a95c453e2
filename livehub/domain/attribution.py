"""Shopping-guide attribution, hour buckets and commission (pure, no I/O).

The rule (deterministic):

* **First valid code wins, for the session.**  A viewer's session is attributed
  to at most one guide: the first share code (the ``guide`` parameter of the
  connect URL, from a QR poster) that names a guide of the festival.  Later
  codes in the same session never change it; unknown or malformed codes are
  ignored and do not use up the slot.  The websocket layer keeps the attributed
  guide id with the session (e.g. in its resume token), so a reconnect keeps it.
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


@dataclass(frozen=True, slots=True)
class GuideCredit:
    """Who an order credits: a guide and the guide's store."""

    guide_id: str
    store_id: str


def attribute(current: Guide | None, share_code: str | None, festival: Festival) -> Guide | None:
    """The session's guide after it presents ``share_code``: the first valid code wins."""
    if current is not None:
        return current
    if valid_id(share_code):
        return festival.guide_by_code(share_code)
    return None


def attribute_codes(codes: list[str | None], festival: Festival) -> Guide | None:
    """The guide a session is attributed to after presenting ``codes`` in order."""
    guide: Guide | None = None
    for code in codes:
        guide = attribute(guide, code, festival)
    return guide


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


def commission_cents(amount_cents: int, rate: float) -> int:
    """Commission of an order: amount * rate, rounded half up to whole cents."""
    if amount_cents < 0:
        raise ValueError("amount must not be negative")
    if not 0 <= rate <= 1:
        raise ValueError("commission rate must be in 0..1")
    exact = Decimal(amount_cents) * Decimal(str(rate))
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
