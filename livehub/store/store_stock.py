"""A store's stock as its staff see and adjust it: units on hand and held per sku, and audited
adjustments (store_adjust.lua: one script on the store's slot, once per request id).

Units on hand are ``{store:<id>}:stock`` (what routing takes from, livehub.store.stores); held
units are those taken for reservations not paid yet (``holds``), shown next to them.  An
adjustment adds a signed ``delta`` (a delivery, a count after a stocktake, breakage); it never
takes the units below zero (``below_zero``: nothing changes).  Each one appends to the store's
audit stream (who, sku, delta, units after, request id; trimmed to about ``audit_maxlen``), and
its answer is remembered ``answer_ttl_s`` under its request id, so a retry answers ``duplicate``
instead of adjusting twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from livehub.domain.sale_rules import now_arg, text
from livehub.store.keys import Keys
from livehub.store.scripts import Scripts

log = logging.getLogger("livehub.store.store_stock")


class AdjustCode(StrEnum):
    ADJUSTED = "adjusted"
    DUPLICATE = "duplicate"  # this request id was answered before: its units then
    BELOW_ZERO = "below_zero"  # the store has fewer units than the delta takes: nothing changed


@dataclass(frozen=True, slots=True)
class Adjusted:
    code: AdjustCode
    units: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    entry_id: str
    fields: dict[str, str]


class StoreStock:
    def __init__(
        self, redis: Redis, keys: Keys, scripts: Scripts, *, audit_maxlen: int = 1_000, answer_ttl_s: int = 86_400
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._scripts = scripts
        self.audit_maxlen = audit_maxlen
        self.answer_ttl_s = answer_ttl_s

    async def levels(self, store_id: str) -> tuple[dict[str, int], dict[str, int]]:
        """(units on hand per sku, units held for unpaid reservations per sku), one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(self._keys.store_stock(store_id))
        pipe.hvals(self._keys.store_holds(store_id))
        stock, holds = await pipe.execute()
        held: Counter[str] = Counter()
        for value in holds:
            sku, qty, _ms = text(value).rsplit("|", 2)
            held[sku] += int(qty)
        return {text(k): int(v) for k, v in stock.items()}, dict(held)

    async def adjust(
        self, store_id: str, sku: str, delta: int, who: str, request_id: str, now_ms: int | None = None
    ) -> Adjusted:
        k = self._keys
        code, units = await self._scripts.run(
            "store_adjust",
            [k.store_stock(store_id), k.store_audit(store_id), k.store_adjusted(store_id, request_id)],
            [sku, delta, who, now_arg(now_ms), self.audit_maxlen, request_id, self.answer_ttl_s * 1000],
        )
        result = Adjusted(AdjustCode(text(code)), int(units))
        if result.code is AdjustCode.ADJUSTED:
            log.info("store %s: %s %+d by %s (now %d)", store_id, sku, delta, who, result.units)
        return result

    async def audit(self, store_id: str, count: int = 50) -> list[AuditEntry]:
        """The store's latest audited actions, newest first."""
        raw: Any = await self._redis.xrevrange(self._keys.store_audit(store_id), count=count)
        return [AuditEntry(text(i), {text(a): text(b) for a, b in f.items()}) for i, f in raw]
