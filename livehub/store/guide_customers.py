"""A guide's customers' open reservations (reserved, not yet paid), read from the sales' own keys.

A reservation records the guide its buy credits (buy.lua), and each sale keeps its unpaid
reservations in its deadlines sorted set, so nothing is written on the buy path for this: the
guide's page looks through the open reservations of the sales of the guide's brand, soonest
deadline first, at most ``scan_max`` of them per request, and keeps the guide's.  When there
were more open reservations than that the answer says ``truncated`` (a guide's page, not the
books: the payment and the order are the record).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from livehub.domain.sale_rules import flat_fields, text
from livehub.store.keys import Keys
from livehub.store.sales import Reservation


@dataclass(frozen=True, slots=True)
class OpenReservations:
    reservations: list[Reservation]  # soonest deadline first, per sale in the order asked
    truncated: bool  # more open reservations than were looked at, or than ``limit``


class GuideCustomers:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def open_reservations(
        self, guide_id: str, sale_ids: Sequence[str], scan_max: int, limit: int
    ) -> OpenReservations:
        """The open reservations that credit ``guide_id`` in ``sale_ids`` (three pipelined round trips)."""
        k = self._keys
        pipe = self._redis.pipeline(transaction=False)
        for sale_id in sale_ids:
            pipe.zcard(k.sale_deadlines(sale_id))
        counts = [int(c) for c in await pipe.execute()]
        truncated = sum(counts) > scan_max
        budget = scan_max
        pipe = self._redis.pipeline(transaction=False)
        asked: list[str] = []
        for sale_id, count in zip(sale_ids, counts, strict=True):
            take = min(count, budget)
            if take > 0:
                pipe.zrange(k.sale_deadlines(sale_id), 0, take - 1)
                asked.append(sale_id)
                budget -= take
        pairs: list[tuple[str, str]] = []
        for sale_id, rids in zip(asked, await pipe.execute() if asked else [], strict=True):
            pairs += [(sale_id, text(rid)) for rid in rids]
        pipe = self._redis.pipeline(transaction=False)
        for sale_id, rid in pairs:
            pipe.hgetall(k.reservation(sale_id, rid))
        found: list[Reservation] = []
        for (sale_id, _rid), raw in zip(pairs, await pipe.execute() if pairs else [], strict=True):
            if not raw:
                continue
            reservation = Reservation.from_fields(sale_id, flat_fields(raw))
            if reservation.guide_id == guide_id and reservation.state == "reserved":
                found.append(reservation)
        return OpenReservations(found[:limit], truncated or len(found) > limit)
