"""Commerce counters of one node: plain integers bumped where the answers are made (buying, the
expiry sweep) and read by the Prometheus collector (livehub.runtime.metrics) only at scrape time.

Each answer costs one dictionary increment: no metric call, no lock, no I/O on the buy path.
The keys of every answer map exist from the start, so a scrape shows every answer, zeros included.
"""

from __future__ import annotations

from livehub.domain.sale_rules import BuyCode
from livehub.store.coupons import CouponCode

RATE_LIMITED = "rate_limited"  # the identity's own bucket was empty (livehub.domain.quotas)
BUY_ANSWERS = (*(code.value for code in BuyCode), RATE_LIMITED)
GRAB_ANSWERS = (*(code.value for code in CouponCode), RATE_LIMITED)
SHED_REASONS = ("busy", "sold_out")  # the node-local admission gate answered without asking Redis


class CommerceTally:
    """What the node's buyers were answered, and what the sweeper and the payments did."""

    __slots__ = ("admission_shed", "buys", "coupon_grabs", "gmv_cents", "orders", "reservations_expired")

    def __init__(self) -> None:
        self.buys = dict.fromkeys(BUY_ANSWERS, 0)  # buy attempts by answer (websocket and HTTP)
        self.coupon_grabs = dict.fromkeys(GRAB_ANSWERS, 0)  # grab attempts by answer
        self.admission_shed = dict.fromkeys(SHED_REASONS, 0)  # buys answered by the gate alone
        self.orders = 0  # payments that confirmed an order on this node
        self.gmv_cents = 0  # ... and what those orders were worth (amount paid, after coupons)
        self.reservations_expired = 0  # unpaid reservations this node's sweeper expired
