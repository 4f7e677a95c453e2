"""The shared tally of a festival's audience: online counts per venue and likes, across nodes.

:class:`Tally` is the small interface the audience signals need.  Two siblings pass the same
contract suite (tests/presence/test_tally_contract.py), like the brokers of the backplane:

* :class:`livehub.presence.memory.MemoryTally` - one process, no Redis (unit tests,
  embedding); nodes built on one :class:`~livehub.presence.memory.MemoryBoard` share it;
* :class:`livehub.presence.redis_tally.RedisTally` - many nodes sharing Redis.

Each node reports its own online count per venue, stamped with the time of the report; a
venue's online count is the sum over nodes whose report is at most three intervals old
(older ones are a dead node's: ignored, and removed).  Likes are added to a venue's total
(the node sums taps itself and adds them once per interval).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

STALE_INTERVALS = 3  # a node's count older than this many intervals is a dead node's


class Tally(Protocol):
    """One node's view of the shared tally (the node id and interval are the sibling's own)."""

    async def report(
        self, counts: Mapping[str, int], likes: Mapping[str, int], now_ms: int
    ) -> dict[str, tuple[int, int]]:
        """Set this node's online count for each venue of ``counts`` (stamped ``now_ms``) and add
        ``likes`` (any venue) to the totals; return, for each venue of ``counts``, its online
        count summed over live nodes and its likes total."""

    async def withdraw(self, venues: Iterable[str]) -> None:
        """Remove this node's online counts of ``venues`` at once (on stop); best effort."""


def stale_before(now_ms: int, interval_s: float) -> int:
    """Reports stamped before this are a dead node's."""
    return now_ms - int(interval_s * STALE_INTERVALS * 1000)
