"""A buyer's "my orders" index on Redis: what they reserved, ordered, joined, under ``{user:<id>}``.

The index is generic: an entry is a *kind*, a *venue* and the *id* of the thing, stored as
``<kind>|<venue>|<id>`` in a sorted set scored by when it was noted (newest last); the thing
itself stays where it lives (a reservation under ``{sale:<id>}``, ...) and is read from there
when the list is shown, so the index never holds a stale copy.  Kinds: ``reservation`` (a flash
sale's reservation, and the order it becomes); group buys and pre-sales add their own kind
(see docs/architecture.md, "My orders").

Why the entry is written *before* the state change is answered, and how it is kept honest:
the index lives in the user's slot, the reservation in the sale's, so no one script can write
both on Redis Cluster.  :meth:`UserOrders.note` runs with the buy (before its answer goes out)
and counts the attempt; :meth:`UserOrders.drop` takes back a failed attempt, and the entry
leaves only when every attempt that noted it failed (user_orders.lua).  So:

* a node dying after buy.lua answered but before the answer left has already noted it: an
  acknowledged reservation is always in the index;
* a failing retry racing a succeeding one with the same request id never removes the entry
  (the success is never taken back);
* a node dying after the note but before the buy leaves an entry pointing at nothing: the
  reader hides it, and removes it (:meth:`UserOrders.prune`) once it is older than ``grace_ms``
  (far longer than any buy takes).

Bounded: at most ``max_entries`` per user (the oldest trimmed at each note), and the index
expires ``ttl_ms`` after its last note (a sale's keys expire after their retention anyway).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from livehub.domain.sale_rules import flat_fields, split_id, text
from livehub.store.keys import Keys
from livehub.store.sales import Reservation
from livehub.store.scripts import Scripts

RESERVATION = "reservation"  # a flash sale's reservation and its order (livehub.store.sales)
GROUP_BUY = "group_buy"  # a group buy the buyer started or joined (livehub.store.groups)
SALE = "sale"  # every reservation the buyer has in one flash sale (the sale's own list: buy.lua keeps it)


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a buyer's index."""

    kind: str
    venue: str
    id: str
    noted_at_ms: int

    @property
    def member(self) -> str:
        return f"{self.kind}|{self.venue}|{self.id}"

    @classmethod
    def parse(cls, member: str, score: float) -> Entry | None:
        kind, venue, ident = [*member.split("|", 2), "", ""][:3]
        return cls(kind, venue, ident, int(score)) if kind and ident else None


def member(kind: str, venue: str, ident: str) -> str:
    if "|" in kind or "|" in venue:
        raise ValueError("an entry's kind and venue cannot hold '|'")
    return f"{kind}|{venue}|{ident}"


class UserOrders:
    """Every buyer's index (one sorted set and one hash per user)."""

    def __init__(
        self, redis: Redis, keys: Keys, scripts: Scripts, *, max_entries: int = 200, grace_ms: int = 600_000,
        ttl_ms: int = 30 * 86_400_000,
    ) -> None:  # fmt: skip
        self._redis = redis
        self._keys = keys
        self._scripts = scripts
        self.max_entries = max_entries
        self.grace_ms = grace_ms
        self.ttl_ms = ttl_ms

    def _keys_of(self, user_id: str) -> list[str]:
        return [self._keys.user_orders(user_id), self._keys.user_orders_pending(user_id)]

    async def note(self, user_id: str, kind: str, venue: str, ident: str, now_ms: int) -> None:
        """Put an entry in the index (or count one more attempt at it) before the change is answered."""
        await self.note_soon(user_id, kind, venue, ident, now_ms)

    def note_soon(self, user_id: str, kind: str, venue: str, ident: str, now_ms: int) -> asyncio.Future[Any]:
        """:meth:`note`, queued now on the script batcher (the same pipeline as the change it notes, when
        that is queued in the same loop turn): await the answer before answering the change."""
        return self._scripts.submit(
            "user_orders", self._keys_of(user_id),
            ["note", member(kind, venue, ident), now_ms, self.max_entries, self.ttl_ms],
        )  # fmt: skip

    async def drop(self, user_id: str, kind: str, venue: str, ident: str) -> None:
        """An attempt noted before failed: the entry goes when no attempt at it is left."""
        await self._scripts.run("user_orders", self._keys_of(user_id), ["drop", member(kind, venue, ident), 0, 0, 0])

    async def entries(self, user_id: str, limit: int | None = None) -> list[Entry]:
        """The user's entries, newest first."""
        raw: Any = await self._redis.zrevrange(
            self._keys.user_orders(user_id), 0, (limit or self.max_entries) - 1, withscores=True
        )
        out = []
        for name, score in raw:
            entry = Entry.parse(text(name), score)
            if entry is not None:
                out.append(entry)
        return out

    async def prune(self, user_id: str, gone: Sequence[Entry], now_ms: int) -> int:
        """Remove entries whose thing does not exist, once older than the grace (a note whose change never
        ran); younger ones may belong to a buy still running.  Returns how many were removed."""
        old = [e.member for e in gone if e.noted_at_ms < now_ms - self.grace_ms]
        if not old:
            return 0
        pipe = self._redis.pipeline(transaction=True)  # one slot: the user's
        pipe.zrem(self._keys.user_orders(user_id), *old)
        pipe.hdel(self._keys.user_orders_pending(user_id), *old)
        removed, _ = await pipe.execute()
        return int(removed)

    async def reservations(self, reservation_ids: Sequence[str]) -> list[Reservation | None]:
        """The reservations (None: no such reservation, or its sale's keys expired), one pipelined round trip."""
        pipe = self._redis.pipeline(transaction=False)
        sales: list[str | None] = []
        for rid in reservation_ids:
            try:
                sale_id, _ = split_id(rid)
            except ValueError:
                sales.append(None)
                continue
            sales.append(sale_id)
            pipe.hgetall(self._keys.reservation(sale_id, rid))
        found = iter(await pipe.execute() if any(sales) else [])
        out: list[Reservation | None] = []
        for sale in sales:
            raw = next(found) if sale is not None else None
            out.append(Reservation.from_fields(sale, flat_fields(raw)) if raw and sale is not None else None)
        return out

    async def reservation_ids(self, user_id: str, sale_ids: Sequence[str]) -> list[list[str]]:
        """The user's reservation ids in each sale (buy.lua's list; empty once the sale's keys expired),
        one pipelined round trip."""
        if not sale_ids:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for sale_id in sale_ids:
            pipe.hget(self._keys.sale_user_reservations(sale_id), user_id)
        return [text(ids).split() if ids else [] for ids in await pipe.execute()]

    async def sale_skus(self, sale_ids: Sequence[str]) -> dict[str, str]:
        """The sku of each sale that still has its spec, one pipelined round trip."""
        unique = sorted(set(sale_ids))
        if not unique:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for sale_id in unique:
            pipe.hget(self._keys.sale_spec(sale_id), "sku")
        return {s: text(sku) for s, sku in zip(unique, await pipe.execute(), strict=True) if sku is not None}
