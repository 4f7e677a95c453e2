"""Refunds: the outbound payment integration point (a group that expired pays its members back).

``Refunds`` is the interface the group store calls, once per refund (``Refund.refund_id``
is derived from group and member, so a retry names the same refund):

* ``RefundStream`` (outside demo mode): appends the refund to the refunds stream
  (``lh:{refunds}:stream``) exactly once, by refund_publish.lua with a per-refund marker
  in the stream's slot (as order_publish.lua does for orders).  The payment provider's
  worker reads the stream with a consumer group (at-least-once; it pays back by refund id,
  which the provider must treat as its idempotency key) and records the outcome with
  :meth:`RefundStream.settle`.
* ``DemoRefunds`` (demo mode): the same stream entry, settled at once with a simulated
  provider reference (``demo-refund:<refund id>``), so the demo and the tests can see every
  refund paid back in Redis (``lh:{refunds}:settled``).

docs/operations.md ("Group-buy refunds") describes what an operator connects.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from redis.asyncio import Redis

from livehub.domain.group_rules import Refund
from livehub.domain.sale_rules import flat_fields, text
from livehub.store.keys import Keys
from livehub.store.scripts import Scripts

log = logging.getLogger("livehub.store.refunds")


class Refunds(Protocol):
    async def refund(self, refund: Refund) -> bool:
        """Hand the refund to the provider, once per refund id; True when this call handed it over."""
        ...


class RefundStream:
    """The refunds stream: each refund appended once; settled by the provider's worker."""

    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts, *, marker_ttl_s: int = 604_800,
                 stream_maxlen: int = 1_000_000) -> None:  # fmt: skip
        self._redis = redis
        self._keys = keys
        self._scripts = scripts
        self.marker_ttl_s = marker_ttl_s  # how long "this refund is in the stream" is remembered
        self.stream_maxlen = stream_maxlen

    async def refund(self, refund: Refund) -> bool:
        fields = [part for pair in refund.to_fields().items() for part in pair]
        appended = await self._scripts.run(
            "refund_publish", [self._keys.refunds_stream(), self._keys.refund_published(refund.refund_id)],
            [refund.refund_id, self.marker_ttl_s, self.stream_maxlen, *fields],
        )  # fmt: skip
        if appended:
            log.info("refund %s published: %d cents to %s", refund.refund_id, refund.amount_cents, refund.venue)
        return bool(appended)

    async def settle(self, refund_id: str, provider_ref: str, now_ms: int) -> bool:
        """Record that the provider paid ``refund_id`` back; False when it was recorded before."""
        return bool(await self._redis.hsetnx(self._keys.refunds_settled(), refund_id, f"{provider_ref}|{now_ms}"))

    async def settled(self, refund_id: str) -> str | None:
        """The provider's reference of a settled refund, or None."""
        raw = await self._redis.hget(self._keys.refunds_settled(), refund_id)
        return text(raw).rsplit("|", 1)[0] if raw is not None else None

    async def published(self, count: int = 1_000) -> list[Refund]:
        """The refunds in the stream, oldest first (tests and the demo)."""
        raw: Any = await self._redis.xrange(self._keys.refunds_stream(), count=count)
        return [Refund.from_fields(flat_fields(fields)) for _entry_id, fields in raw]


class DemoRefunds(RefundStream):
    """Demo mode: every refund is paid back at once by the simulated provider."""

    async def refund(self, refund: Refund) -> bool:
        appended = await super().refund(refund)
        await self.settle(refund.refund_id, f"demo-refund:{refund.refund_id}", refund.created_at_ms)
        return appended
