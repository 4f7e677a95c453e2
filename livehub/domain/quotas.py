"""Limits per identity (pure): rate buckets keyed by who acts, and open-connection counts.

A token's holder may open many connections, on many nodes; a limit kept per connection is
multiplied by the connections (one token on 200 connections took 49 of a room's 50 comments
per second).  So every rate a viewer can spend (comments, likes, buys, grabs) is a token bucket
per *identity* -- the token's user id, or for an anonymous viewer (no user id) the client's IP --
shared by all of that identity's connections and HTTP requests on the node, and the node counts
open connections per identity and per IP.

Everything is bounded:

* :class:`KeyedBuckets` holds at most ``max_keys`` buckets; a new key past that forgets the
  least recently used one (that identity starts again with a full bucket: at worst one extra
  burst for an identity idle longer than every other tracked one).
* :class:`ConnectionCounts` holds one entry per key with an open connection (so at most the
  node's open connections), removed when its count returns to 0; nothing is evicted, since a
  count must be decremented exactly once per connection.

The clock is an argument (``now``, seconds of a monotonic clock); nothing here does I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from livehub.domain.ratelimit import TokenBucket
from livehub.domain.tokens import VIEWER
from livehub.settings import Settings

ANONYMOUS = "anonymous"  # the role of a viewer without a token (livehub.domain.tokens)


def identity_key(sub: str, role: str, ip: str) -> str:
    """Whom a limit counts: a viewer's user id (the key buys and grabs count under, livehub.services.buying),
    ``<role> <id>`` for any other role (a viewer token whose user id is a host's id never takes that
    host's connections), or ``ip <address>`` for an anonymous viewer.

    A user id never contains a space (livehub.domain.ids), so the kinds never collide."""
    if role == ANONYMOUS or not sub:
        return "ip " + ip
    return sub if role == VIEWER else f"{role} {sub}"


class KeyedBuckets:
    """One :class:`TokenBucket` (``rate``/s, ``burst``) per key, at most ``max_keys`` of them (LRU)."""

    __slots__ = ("_buckets", "burst", "max_keys", "rate")

    def __init__(self, rate: float, burst: float, max_keys: int) -> None:
        if rate <= 0 or burst <= 0 or max_keys < 1:
            raise ValueError("rate and burst must be positive and max_keys at least 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str, now: float, n: float = 1.0) -> float:
        """Take ``n`` tokens from ``key``'s bucket: 0.0 when granted, else the seconds to wait until
        ``n`` tokens are there (nothing is taken; ``inf`` if ``n`` exceeds the burst)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        if bucket.take(now, n):
            return 0.0
        return bucket.wait_s(n)

    def __len__(self) -> int:
        return len(self._buckets)


class ConnectionCounts:
    """Open connections per key, at most ``limit`` each; an entry exists only while its count is > 0."""

    __slots__ = ("_counts", "limit")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._counts: dict[str, int] = {}

    def enter(self, key: str) -> bool:
        """Count one more connection of ``key`` if it is below the limit (False: refused, not counted)."""
        count = self._counts.get(key, 0)
        if count >= self.limit:
            return False
        self._counts[key] = count + 1
        return True

    def leave(self, key: str) -> None:
        """One connection of ``key`` ended (call once per successful :meth:`enter`)."""
        count = self._counts.get(key, 0)
        if count <= 1:
            self._counts.pop(key, None)
        else:
            self._counts[key] = count - 1

    def count(self, key: str) -> int:
        return self._counts.get(key, 0)

    def __len__(self) -> int:
        return len(self._counts)


@dataclass(frozen=True, slots=True)
class Quotas:
    """A node's limits per identity: rates (comments, likes, buys, grabs) and open connections."""

    comments: KeyedBuckets
    likes: KeyedBuckets
    buys: KeyedBuckets
    grabs: KeyedBuckets
    per_identity: ConnectionCounts
    per_ip: ConnectionCounts

    @classmethod
    def from_settings(cls, s: Settings) -> Quotas:
        n = s.identity_max_tracked
        return cls(
            comments=KeyedBuckets(s.comment_rate, s.comment_burst, n),
            likes=KeyedBuckets(s.identity_like_rate, s.identity_like_burst, n),
            buys=KeyedBuckets(s.identity_buy_rate, s.identity_buy_burst, n),
            grabs=KeyedBuckets(s.identity_grab_rate, s.identity_grab_burst, n),
            per_identity=ConnectionCounts(s.max_connections_per_identity),
            per_ip=ConnectionCounts(s.max_connections_per_ip),
        )
