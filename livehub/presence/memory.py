"""The in-process tally: :class:`MemoryTally`, online counts and likes without Redis.

Nodes (or tests standing for nodes) that share one :class:`MemoryBoard` see each other's
counts, as nodes sharing Redis do; the rules are those of
:class:`livehub.presence.redis_tally.RedisTally` (tests/presence/test_tally_contract.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from livehub.presence.tally import stale_before


class MemoryBoard:
    """What nodes share: per venue, node id -> (count, stamp ms); likes per venue."""

    def __init__(self) -> None:
        self.online: dict[str, dict[str, tuple[int, int]]] = {}
        self.likes: dict[str, int] = {}


class MemoryTally:
    def __init__(self, node_id: str, interval_s: float, board: MemoryBoard | None = None) -> None:
        self.node_id = node_id
        self.interval_s = interval_s
        self.board = board if board is not None else MemoryBoard()

    async def report(
        self, counts: Mapping[str, int], likes: Mapping[str, int], now_ms: int
    ) -> dict[str, tuple[int, int]]:
        board = self.board
        for venue, n in likes.items():
            if n:
                board.likes[venue] = board.likes.get(venue, 0) + n
        cutoff = stale_before(now_ms, self.interval_s)
        out: dict[str, tuple[int, int]] = {}
        for venue, count in counts.items():
            nodes = board.online.setdefault(venue, {})
            nodes[self.node_id] = (count, now_ms)
            total = 0
            for node, (n, stamp) in list(nodes.items()):
                if stamp < cutoff:
                    del nodes[node]
                else:
                    total += n
            out[venue] = (total, board.likes.get(venue, 0))
        return out

    async def withdraw(self, venues: Iterable[str]) -> None:
        for venue in venues:
            nodes = self.board.online.get(venue)
            if nodes is not None:
                nodes.pop(self.node_id, None)
