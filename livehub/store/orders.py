"""Confirmed orders: the order hash, the ``orders`` stream, per-store lists, consumer groups.

Where an order is written, and why in two steps:

* pay.lua writes the order hash (keyed by order id, under the sale's hash tag
  ``{sale:<id>}``) in the same atomic step that marks the reservation paid, and
  adds ``paid:<reservation id>`` to the sale's outbox.  So an order exists
  exactly once, and only for a paid reservation.
* The ``orders`` stream, the store's order list and the guide credit live in
  other slots (``{orders}``, ``{store:<id>}``, ``{guides:<hour>}``), so pay.lua
  cannot write them in a Redis-Cluster-safe script.  ``OrderStore.publish``
  does them right after the payment; if a node dies in between, the outbox
  entry is still there and the sale's sweeper publishes it later
  (``Outbox.relay``, livehub.store.outbox).  Publishing may therefore run twice for
  one order, and every step of it is idempotent: the stream entry is appended by
  order_publish.lua together with a per-order marker in the stream's slot, so an
  order is in the stream exactly once (while its marker lives, ``marker_ttl_s``,
  7 days by default: far longer than a sweeper needs); the store list (ZADD) and
  the guide credit (a set of credited order ids) are idempotent.

Downstream systems read the stream with consumer groups (``OrderConsumer``):
at-least-once delivery, a per-group set of handled order ids so a redelivered
order is handled once, and XAUTOCLAIM of entries left pending
by a consumer that crashed.  ``OrderStore.tail`` follows the stream live;
``tail_main`` is ``livehub orders tail`` (one JSON object per line).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from livehub.domain.presale_rules import is_presale_id, split_presale_id
from livehub.domain.routing import Fulfilment, warehouse_delivery
from livehub.domain.sale_rules import flat_fields, sale_of, text
from livehub.settings import Settings
from livehub.store.guides import GuideBoard
from livehub.store.keys import Keys
from livehub.store.pickups import Pickups
from livehub.store.scripts import Scripts

# A consumer group remembers an order it handled for this long: a redelivery (a crash between the
# handler and the ack, a stale claim) comes within minutes, so a week is far more than enough, and
# the set of handled ids stays bounded by a week of orders instead of growing for ever.
DONE_TTL_S = 7 * 86_400

log = logging.getLogger("livehub.store.orders")

OrderHandler = Callable[["Order"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    reservation_id: str
    sale_id: str
    venue: str
    brand: str
    sku: str
    user_id: str
    qty: int
    unit_price_cents: int
    subtotal_cents: int
    discount_cents: int
    amount_cents: int
    coupon_id: str | None
    fulfilment: Fulfilment
    guide_id: str | None
    guide_store: str | None
    payment_ref: str
    created_at_ms: int

    @property
    def store_id(self) -> str | None:
        return self.fulfilment.store_id

    @classmethod
    def from_fields(cls, f: Mapping[str, str]) -> Order:
        """From the order hash (as pay.lua writes it) or a stream entry (the same fields)."""
        return cls(
            order_id=f["order_id"],
            reservation_id=f["reservation_id"],
            sale_id=f["sale_id"],
            venue=f["venue"],
            brand=f["brand"],
            sku=f["sku"],
            user_id=f["user"],
            qty=int(f["qty"]),
            unit_price_cents=int(f["unit_price_cents"]),
            subtotal_cents=int(f["subtotal_cents"]),
            discount_cents=int(f["discount_cents"]),
            amount_cents=int(f["amount_cents"]),
            coupon_id=f.get("coupon_id") or None,
            fulfilment=Fulfilment.from_fields(f) or warehouse_delivery(None),
            guide_id=f.get("guide_id") or None,
            guide_store=f.get("guide_store") or None,
            payment_ref=f.get("payment_ref", ""),
            created_at_ms=int(f["created_at_ms"]),
        )

    def to_fields(self) -> dict[str, str]:
        """The stream entry: the same fields as the order hash."""
        return {
            "order_id": self.order_id,
            "reservation_id": self.reservation_id,
            "sale_id": self.sale_id,
            "venue": self.venue,
            "brand": self.brand,
            "sku": self.sku,
            "user": self.user_id,
            "qty": str(self.qty),
            "unit_price_cents": str(self.unit_price_cents),
            "subtotal_cents": str(self.subtotal_cents),
            "discount_cents": str(self.discount_cents),
            "amount_cents": str(self.amount_cents),
            "coupon_id": self.coupon_id or "",
            **self.fulfilment.to_fields(),
            "guide_id": self.guide_id or "",
            "guide_store": self.guide_store or "",
            "payment_ref": self.payment_ref,
            "created_at_ms": str(self.created_at_ms),
        }


def _entries(raw: Any) -> list[tuple[str, Order | None]]:
    """Stream entries as (entry id, order); None for an entry trimmed away or not an order."""
    out: list[tuple[str, Order | None]] = []
    for entry_id, fields in raw or []:
        order = None
        if fields:
            try:
                order = Order.from_fields(flat_fields(fields))
            except (KeyError, ValueError):
                log.warning("orders stream entry %s is not an order", text(entry_id))
        out.append((text(entry_id), order))
    return out


class OrderStore:
    """Reads orders and publishes confirmed ones to the stream, the store lists and the guide contest."""

    def __init__(
        self, redis: Redis, keys: Keys, guides: GuideBoard | None = None, stream_maxlen: int = 1_000_000,
        scripts: Scripts | None = None, marker_ttl_s: int = 604_800, pickups: Pickups | None = None,
    ) -> None:  # fmt: skip
        self._redis = redis
        self._keys = keys
        self._guides = guides
        self._scripts = scripts or Scripts(redis)
        self.pickups = pickups or Pickups(redis, keys, self._scripts)  # a pickup order's code (livehub.store.pickups)
        self.stream_maxlen = stream_maxlen  # ~ trimming; the order hashes stay the record
        self.marker_ttl_s = marker_ttl_s  # how long "this order is in the stream" is remembered

    def _order_key(self, order_id: str) -> str:
        """The order hash of a flash-sale order (``{sale:<id>}``) or a pre-sale's (``{presale:<id>}``)."""
        if is_presale_id(order_id):
            return self._keys.presale_order(split_presale_id(order_id)[0], order_id)
        return self._keys.order(sale_of(order_id), order_id)

    async def get(self, order_id: str) -> Order | None:
        try:
            key = self._order_key(order_id)
        except ValueError:
            return None
        raw = await self._redis.hgetall(key)
        return Order.from_fields(flat_fields(raw)) if raw else None

    async def publish(self, order: Order) -> bool:
        """Append to the orders stream (once), index at its store with its pickup code, credit its guide: every step
        idempotent, so the outbox relay may run it again.  True when this call appended it."""
        keys = self._keys
        fields = [part for pair in order.to_fields().items() for part in pair]
        appended = await self._scripts.run(
            "order_publish", [keys.orders_stream(), keys.order_published(order.order_id)],
            [order.order_id, self.marker_ttl_s, self.stream_maxlen, *fields],
        )  # fmt: skip
        if order.store_id:
            await self._redis.zadd(keys.store_orders(order.store_id), {order.order_id: order.created_at_ms})
            await self.pickups.issue(order.store_id, order.order_id)  # once per order: a relay keeps the code
        if order.guide_id and order.guide_store and self._guides is not None:
            await self._guides.credit(
                order.order_id, order.guide_id, order.guide_store, order.amount_cents, order.created_at_ms
            )
        return bool(appended)

    async def orders_of_store(self, store_id: str, limit: int = 50) -> list[Order]:
        """The store's orders, newest first (for ``GET /api/stores/{id}/orders``)."""
        ids = [text(i) for i in await self._redis.zrevrange(self._keys.store_orders(store_id), 0, limit - 1)]
        if not ids:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for order_id in ids:
            pipe.hgetall(self._order_key(order_id))
        return [Order.from_fields(flat_fields(raw)) for raw in await pipe.execute() if raw]

    async def last_entry_id(self) -> str:
        newest = await self._redis.xrevrange(self._keys.orders_stream(), count=1)
        return text(newest[0][0]) if newest else "0-0"

    async def tail(
        self, after: str | None = None, block_ms: int = 1_000, count: int = 100
    ) -> AsyncIterator[tuple[str, Order]]:
        """Orders as they are published, after entry id ``after`` (default: from now on), forever."""
        last = after if after is not None else await self.last_entry_id()
        stream = self._keys.orders_stream()
        while True:
            reply: Any = await self._redis.xread({stream: last}, count=count, block=block_ms)
            for _name, raw in reply or []:
                for entry_id, order in _entries(raw):
                    last = entry_id
                    if order is not None:
                        yield entry_id, order


class OrderConsumer:
    """One consumer of a consumer group on the orders stream: at-least-once, handled once per order id.

    ``handler`` may run twice for one order only if the process dies between
    the handler's success and the acknowledgement; handlers should therefore
    be idempotent by order id themselves (e.g. an upsert).
    """

    def __init__(self, redis: Redis, keys: Keys, group: str, consumer: str, *, min_idle_ms: int = 30_000,
                 done_ttl_s: int = DONE_TTL_S) -> None:  # fmt: skip
        self._redis = redis
        self.done_ttl_ms = done_ttl_s * 1000  # handled order ids are remembered this long (bounded by age)
        self._keys = keys
        self.group = group
        self.consumer = consumer
        self.min_idle_ms = min_idle_ms
        self._stream = keys.orders_stream()
        self._done = keys.orders_done(group)
        self._claim_cursor = "0-0"

    async def ensure_group(self, start_id: str = "0") -> None:
        """Create the group (and the stream) if missing; ``start_id`` "0": from the first order kept."""
        try:
            await self._redis.xgroup_create(self._stream, self.group, id=start_id, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def claim_stale(self, count: int = 100) -> list[tuple[str, Order | None]]:
        """Take over entries pending longer than ``min_idle_ms`` (their consumer crashed), via XAUTOCLAIM."""
        reply: Any = await self._redis.xautoclaim(
            self._stream,
            self.group,
            self.consumer,
            self.min_idle_ms,
            start_id=self._claim_cursor,
            count=count,
        )
        self._claim_cursor = text(reply[0])
        return _entries(reply[1])

    async def read_new(self, count: int = 100, block_ms: int | None = None) -> list[tuple[str, Order | None]]:
        reply: Any = await self._redis.xreadgroup(
            self.group, self.consumer, {self._stream: ">"}, count=count, block=block_ms
        )
        return [entry for _name, raw in reply or [] for entry in _entries(raw)]

    async def handle(self, entries: list[tuple[str, Order | None]], handler: OrderHandler) -> int:
        """Run ``handler`` once per order id; ack what is done.  Returns the orders handled now."""
        handled = 0
        for entry_id, order in entries:
            if order is None or await self._redis.zscore(self._done, order.order_id) is not None:
                await self._redis.xack(self._stream, self.group, entry_id)
                continue
            try:
                await handler(order)
            except Exception:
                log.exception("order %s: handler failed; left pending for a retry", order.order_id)
                continue
            now = int(time.time() * 1000)
            pipe = self._redis.pipeline(transaction=False)
            pipe.zadd(self._done, {order.order_id: now})
            pipe.zremrangebyscore(self._done, "-inf", now - self.done_ttl_ms)  # older entries left the stream
            pipe.xack(self._stream, self.group, entry_id)
            await pipe.execute()
            handled += 1
        return handled

    async def run_once(self, handler: OrderHandler, count: int = 100, block_ms: int | None = 1_000) -> int:
        """One round: reclaim stale entries, then read new ones; handle both."""
        handled = await self.handle(await self.claim_stale(count), handler)
        return handled + await self.handle(await self.read_new(count, block_ms), handler)


def order_json(order: Order) -> bytes:
    """One order as a JSON object (the ``orders tail`` line)."""
    return orjson.dumps(dataclasses.asdict(order))


async def tail_main(settings: Settings, group: str | None = None, from_start: bool = False, count: int = 0) -> None:
    """``livehub orders tail``: print orders as JSON lines, live; stop after ``count`` (0: never).

    Without ``group`` it only reads the stream; with ``group`` it reads as a
    consumer of that group (created if missing), acknowledging what it printed.
    """
    redis = Redis.from_url(settings.redis_url)
    keys = Keys(settings.redis_prefix)
    printed = 0

    def show(order: Order) -> bool:
        nonlocal printed
        sys.stdout.buffer.write(order_json(order) + b"\n")
        sys.stdout.flush()
        printed += 1
        return bool(count) and printed >= count

    try:
        if group is None:
            async for _entry_id, order in OrderStore(redis, keys).tail(after="0-0" if from_start else None):
                if show(order):
                    return
        else:
            consumer = OrderConsumer(redis, keys, group, f"tail-{os.getpid()}")
            await consumer.ensure_group("0" if from_start else "$")

            async def handler(order: Order) -> None:
                show(order)

            while not count or printed < count:
                await consumer.run_once(handler, count=max(1, count - printed) if count else 100)
    finally:
        await redis.aclose()
