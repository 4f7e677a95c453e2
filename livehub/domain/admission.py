"""Admission at the opening second: shed surplus buys on the node, before Redis (pure).

When buyers far outnumber the stock, almost every buy is bound to fail; asking
Redis for each would only queue the few that can still succeed behind the
many that cannot.  Each node therefore keeps, per sale:

* **a sold-out flag.**  Set when Redis reports nothing left (``available ==
  0`` in a buy's answer or a stock poll).  While set, buys are answered ``sold_out`` at once,
  without Redis.  Stock can come back (an unpaid reservation expires), so the
  flag is cleared as soon as the node sees ``available > 0``: the caller feeds
  every available count Redis reports, from buy answers and from the stock
  poller behind the viewers' counter, to ``observe_stock``.  So that a node without a poller is
  never wrong for long, one buy per ``probe_interval_s`` goes through to Redis
  while the flag is set (a probe); its answer sets or clears the flag.
* **a token bucket** (``rate`` buys/s, ``burst`` at once).  A buy that finds
  the bucket empty is answered ``busy`` at once: an honest "try again", since
  Redis was not asked.

So per node and sale Redis sees at most ``burst + rate * t`` buys in ``t``
seconds (plus one probe per interval while sold out), and late buyers get a
fast answer.  The sold-out answer is honest: Redis said so, and the flag is
dropped the moment stock is seen again.  Time is passed in (``now``, seconds
from any monotonic clock), so the policy is deterministic and unit-tested.

A shed decision is not the answer by itself: a retry of a request that already
holds a reservation (its ``ok`` answer was lost) must get ``duplicate`` with it,
never ``sold_out``/``busy``.  The caller (``services/buying.py``) therefore checks
a would-be-shed attempt with one cheap batched read of the request's reservation
key (its id is derived from sale, user and request id): found, the buy goes on to
Redis and answers ``duplicate``; not found, the attempt is shed without the buy
script.  Admitted buys (the common path) never pay for that read.

The gates are bounded: the caller admits only sales that exist (``services/buying.py`` looks the
sale up first, so a buy for an unknown sale id answers ``not_found`` and creates nothing here), and
at most ``max_sales`` gates are kept; a new one past that drops the least recently used gate
(that sale starts again with a full bucket and no sold-out flag: at worst one extra burst to
Redis and one buy that finds it sold out there).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

from livehub.domain.ratelimit import TokenBucket


class Decision(StrEnum):
    ADMIT = "admit"  # ask Redis
    SOLD_OUT = "sold_out"  # answer sold_out now
    BUSY = "busy"  # answer busy now


@dataclass(slots=True)
class _SaleGate:
    bucket: TokenBucket
    sold_out: bool = False
    last_probe: float = float("-inf")


class Admission:
    """Node-local admission control for every sale the node serves."""

    def __init__(self, rate: float = 2_000.0, burst: float = 500.0, probe_interval_s: float = 0.25,
                 max_sales: int = 10_000) -> None:  # fmt: skip
        if rate <= 0 or burst < 1 or probe_interval_s <= 0 or max_sales < 1:
            raise ValueError("rate and probe interval must be > 0, burst and max_sales >= 1")
        self.rate = rate
        self.burst = burst
        self.probe_interval_s = probe_interval_s
        self.max_sales = max_sales
        self._gates: OrderedDict[str, _SaleGate] = OrderedDict()

    def _gate(self, sale_id: str, now: float) -> _SaleGate:
        gate = self._gates.get(sale_id)
        if gate is None:
            gate = self._gates[sale_id] = _SaleGate(TokenBucket(self.rate, self.burst, now))
            if len(self._gates) > self.max_sales:
                self._gates.popitem(last=False)  # the least recently used gate
        else:
            self._gates.move_to_end(sale_id)
        return gate

    def __len__(self) -> int:
        """Sales with a gate on this node (at most ``max_sales``)."""
        return len(self._gates)

    def admit(self, sale_id: str, now: float) -> Decision:
        """Whether a buy of ``sale_id`` may go to Redis now."""
        gate = self._gate(sale_id, now)
        if gate.sold_out:
            if now - gate.last_probe < self.probe_interval_s:
                return Decision.SOLD_OUT
            gate.last_probe = now
            return Decision.ADMIT
        return Decision.ADMIT if gate.bucket.take(now) else Decision.BUSY

    def observe_stock(self, sale_id: str, available: int, now: float) -> None:
        """Stock Redis reported (a buy's answer, the stock poller): 0 sets the flag, > 0 clears it."""
        gate = self._gate(sale_id, now)
        if available > 0:
            gate.sold_out = False
        elif not gate.sold_out:
            gate.sold_out = True
            gate.last_probe = now

    def is_sold_out(self, sale_id: str) -> bool:
        gate = self._gates.get(sale_id)
        return gate is not None and gate.sold_out

    def forget(self, sale_id: str) -> None:
        """Drop a sale's state (the sale ended)."""
        self._gates.pop(sale_id, None)
