"""Flash sales on Redis: create, schedule, buy, pay, expire.

Every state change of a sale is one Lua script on the sale's keys (all under
the hash tag ``{sale:<id>}``, built in ``livehub.store.keys``):

* buy.lua: window (server TIME), idempotency, quantity, per-user limit, stock,
  coupon minimum spend; takes the stock, records the reservation with its
  payment deadline (sorted set + hash) and appends a "reserved" event.
* pay.lua: reserved -> paid, writes the order hash once; paying again answers
  ``duplicate`` with the same order.
* expire.lua: reserved -> expired past the deadline, stock back exactly once.

Invariant at rest: ``stock == available + reserved + sold`` (the spec's
``stock`` is the initial stock).  A reservation is in exactly one state and the
state moves only reserved -> paid or reserved -> expired, each in one script,
so a payment racing the expiry has exactly one winner and two sweepers never
return the same units twice.

Decisions:

* **Per-user limit.**  A user's held units are reserved + paid.  An expired
  reservation frees them: the user got nothing, so may try again (as the big
  platforms do with unpaid flash-sale orders).  A retry of the same request id
  still answers ``duplicate`` with the expired reservation.
* **Payment deadline is hard.**  A payment after the deadline answers
  ``expired`` even before a sweeper ran; the provider integration must refund.
  ``pay`` is the integration point for a real payment provider's callback.
* **Effects outside the sale's slot** (the orders stream, a store's stock and
  order list, the guide contest, a coupon's state) cannot be in the sale's
  scripts.  pay.lua and expire.lua add them to the sale's outbox (a sorted
  set) in the same atomic step; the node applies them right away, each step
  idempotent, then removes the outbox entry; ``SaleStore.outbox``
  (livehub.store.outbox) applies, relays and reconciles them.
* **Fulfilment** is decided after the stock is taken (``stores.StoreIndex.route``)
  and recorded once in the reservation (route_record.lua); a losing or late
  routing gives its store unit back.
* **Sweeper duties** (every node may run them; all are idempotent):
  ``expire_due`` per sale, ``outbox.relay`` per sale, and, less often,
  ``outbox.reconcile_store_holds`` per store and ``outbox.reconcile_coupon_locks``
  per coupon drop, which settle a store hold or coupon lock that a node dying
  between two steps left behind.
* **Retention.**  A sale's keys do not stay forever.  No reservation can be bought
  or paid after ``ends_at_ms + reservation_ttl_s``; from then on a sale is *long
  over*.  Each reservation (and its order) gets its expiry when it is settled
  (pay.lua: paid; expire.lua: expired), and once a long-over sale has nothing
  unsettled (no reservation still reserved, no pending outbox effect) ``retire``
  (retire.lua, run by the sweeper) gives every key of the sale the same expiry:
  ``ends_at_ms + reservation_ttl_s + retention_s`` (the ``sale_retention_s``
  setting).  A reservation still reserved never gets a TTL, so the sale's
  idempotency (a retry answers ``duplicate``) and its books hold until the
  retention has passed after the last possible payment.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from redis.asyncio import Redis

from livehub.domain.attribution import GuideCredit
from livehub.domain.ids import valid_id, valid_user_id
from livehub.domain.routing import Fulfilment, warehouse_delivery
from livehub.domain.sale_rules import (
    BuyCode,
    BuyRequest,
    SaleSpec,
    flat_fields,
    now_arg,
    order_id_for,
    reservation_id,
    split_id,
    text,
)
from livehub.store.coupons import CouponCode, CouponStore
from livehub.store.keys import Keys
from livehub.store.orders import Order, OrderStore
from livehub.store.outbox import Outbox, server_time_ms
from livehub.store.scripts import Scripts
from livehub.store.stores import StoreIndex, settle_hold

log = logging.getLogger("livehub.store.sales")

WAREHOUSE = warehouse_delivery(None)  # what buy.lua records when there is nothing to route

State = Literal["reserved", "paid", "expired"]
Phase = Literal["scheduled", "open", "ended"]


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: str
    sale_id: str
    user_id: str
    request_id: str
    state: State
    qty: int
    unit_price_cents: int
    subtotal_cents: int
    discount_cents: int
    amount_cents: int
    coupon_id: str | None
    guide_id: str | None
    guide_store: str | None
    created_at_ms: int
    deadline_ms: int
    fulfilment: Fulfilment | None  # None until routed
    order_id: str | None  # once paid

    @classmethod
    def from_fields(cls, sale_id: str, f: dict[str, str]) -> Reservation:
        state = f["state"]
        if state not in ("reserved", "paid", "expired"):
            raise ValueError(f"unknown reservation state {state!r}")
        return cls(
            reservation_id=f["reservation_id"],
            sale_id=sale_id,
            user_id=f["user"],
            request_id=f["request_id"],
            state=state,  # type: ignore[arg-type]  # checked above
            qty=int(f["qty"]),
            unit_price_cents=int(f["unit_price_cents"]),
            subtotal_cents=int(f["subtotal_cents"]),
            discount_cents=int(f["discount_cents"]),
            amount_cents=int(f["amount_cents"]),
            coupon_id=f.get("coupon_id") or None,
            guide_id=f.get("guide_id") or None,
            guide_store=f.get("guide_store") or None,
            created_at_ms=int(f["created_at_ms"]),
            deadline_ms=int(f["deadline_ms"]),
            fulfilment=Fulfilment.from_fields(f),
            order_id=f.get("order_id") or None,
        )


@dataclass(frozen=True, slots=True)
class BuyResult:
    """The answer to a buy.  ``reservation`` is set for ok and duplicate."""

    code: BuyCode
    sale_id: str
    available: int = 0  # units left after this answer (0 when unknown)
    reservation: Reservation | None = None
    starts_at_ms: int | None = None  # not_started: when the window opens
    detail: str = ""  # bad_request: the field; coupon_invalid: the coupon's answer

    @property
    def fulfilment(self) -> Fulfilment | None:
        return self.reservation.fulfilment if self.reservation else None


class RetireCode(StrEnum):
    RETIRED = "retired"  # every key of the sale now expires at ends_at + reservation ttl + retention
    RUNNING = "running"  # not long over: a reservation may still be bought or paid
    UNSETTLED = "unsettled"  # long over, but a reservation is still reserved or an outbox effect pending
    NOT_FOUND = "not_found"  # no such sale (or its keys already expired)


class PayCode(StrEnum):
    PAID = "paid"  # this call confirmed the order
    DUPLICATE = "duplicate"  # paid before: the same order
    EXPIRED = "expired"  # the deadline passed: refund
    NOT_FOUND = "not_found"  # no such reservation


@dataclass(frozen=True, slots=True)
class PayResult:
    code: PayCode
    order: Order | None = None


@dataclass(frozen=True, slots=True)
class SaleState:
    spec: SaleSpec
    available: int
    reserved: int
    sold: int
    expired: int  # units that came back from expired reservations (cumulative)

    def phase(self, now_ms: int) -> Phase:
        if now_ms < self.spec.starts_at_ms:
            return "scheduled"
        return "open" if now_ms < self.spec.ends_at_ms else "ended"

    @property
    def balanced(self) -> bool:
        """The invariant: initial stock == available + reserved + sold."""
        return self.spec.stock == self.available + self.reserved + self.sold


@dataclass(frozen=True, slots=True)
class _Facts:
    """What never changes about a sale, cached per node."""

    brand: str
    sku: str


class SaleStore:
    """Flash sales of every venue.  ``stores`` routes orders (None: warehouse delivery only)."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        scripts: Scripts,
        *,
        stores: StoreIndex | None = None,
        coupons: CouponStore | None = None,
        orders: OrderStore | None = None,
        events_maxlen: int = 10_000,
        retention_s: int = 7 * 86_400,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._scripts = scripts
        self._stores = stores
        self._coupons = coupons or CouponStore(redis, keys, scripts)
        self._orders = orders or OrderStore(redis, keys)
        self.outbox = Outbox(redis, keys, scripts, self._coupons, self._orders)
        self.events_maxlen = events_maxlen
        self.retention_s = retention_s  # see "Retention" in the module docstring
        self._facts_cache: dict[str, _Facts] = {}

    # ---- hosts --------------------------------------------------------------------

    async def create(self, spec: SaleSpec) -> bool:
        """Schedule a sale (its spec and stock) and register it in its venue; False if the id exists."""
        k = self._keys
        args: list[str | int] = [spec.stock]
        for field, value in spec.to_fields().items():
            args += [field, value]
        created = bool(
            int(await self._scripts.run("create_once", [k.sale_spec(spec.sale_id), k.sale_stock(spec.sale_id)], args))
        )
        if created:
            await self._redis.sadd(k.sales_of_venue(spec.venue), spec.sale_id)
            log.info("sale %s created in %s: %d x %s", spec.sale_id, spec.venue, spec.stock, spec.sku)
        return created

    async def start_now(self, sale_id: str, now_ms: int | None = None) -> SaleSpec | None:
        """Open the window now (server time); None if no such sale.  Raises if it has ended."""
        return await self._window(sale_id, "start", now_ms)

    async def end_now(self, sale_id: str, now_ms: int | None = None) -> SaleSpec | None:
        """Close the window now (server time); None if no such sale."""
        return await self._window(sale_id, "end", now_ms)

    async def _window(self, sale_id: str, action: str, now_ms: int | None) -> SaleSpec | None:
        code, _starts, _ends = await self._scripts.run(
            "sale_window", [self._keys.sale_spec(sale_id)], [action, now_arg(now_ms)]
        )
        if text(code) == "not_found":
            return None
        if text(code) == "ended":
            raise ValueError(f"sale {sale_id} has ended")
        log.info("sale %s: %s now", sale_id, action)
        return await self.get_spec(sale_id)

    async def get_spec(self, sale_id: str) -> SaleSpec | None:
        raw = await self._redis.hgetall(self._keys.sale_spec(sale_id))
        return SaleSpec.from_fields(flat_fields(raw)) if raw else None

    async def get_state(self, sale_id: str) -> SaleState | None:
        k = self._keys
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(k.sale_spec(sale_id))
        pipe.get(k.sale_stock(sale_id))
        pipe.hmget(k.sale_counts(sale_id), ["reserved", "sold", "expired"])
        raw_spec, stock, counts = await pipe.execute()
        if not raw_spec:
            return None
        reserved, sold, expired = (int(c) if c is not None else 0 for c in counts)
        return SaleState(SaleSpec.from_fields(flat_fields(raw_spec)), int(stock or 0), reserved, sold, expired)

    async def sale_ids_of_venue(self, venue: str) -> list[str]:
        return sorted(text(m) for m in await self._redis.smembers(self._keys.sales_of_venue(venue)))

    async def sale_ids_of_venues(self, venues: Sequence[str]) -> dict[str, list[str]]:
        """Sale ids of each venue that has any, sorted (one pipelined round trip)."""
        pipe = self._redis.pipeline(transaction=False)
        for venue in venues:
            pipe.smembers(self._keys.sales_of_venue(venue))
        found = await pipe.execute()
        return {v: sorted(text(m) for m in ids) for v, ids in zip(venues, found, strict=True) if ids}

    async def stock_and_returned(self, sale_ids: Sequence[str]) -> list[tuple[int, int] | None]:
        """Per sale: (units available now, units that ever came back expired); None for a sale without
        stock (one pipelined round trip)."""
        k = self._keys
        pipe = self._redis.pipeline(transaction=False)
        for sale_id in sale_ids:
            pipe.get(k.sale_stock(sale_id))
            pipe.hget(k.sale_counts(sale_id), "expired")
        replies = await pipe.execute()
        out: list[tuple[int, int] | None] = []
        for i in range(len(sale_ids)):
            raw, returned = replies[2 * i], replies[2 * i + 1]
            out.append(None if raw is None else (int(raw), int(returned or 0)))
        return out

    async def claim_sold_out(self, sale_id: str, returned: int, owner: str, ttl_s: int) -> bool:
        """True for the one caller (of every node) that announces this sell-out (SET NX marker)."""
        return bool(await self._redis.set(self._keys.sale_sold_out(sale_id, returned), owner, nx=True, ex=ttl_s))

    async def server_time_ms(self) -> int:
        return await server_time_ms(self._redis)

    async def _facts(self, sale_id: str) -> _Facts | None:
        facts = self._facts_cache.get(sale_id)
        if facts is None:
            brand, sku = await self._redis.hmget(self._keys.sale_spec(sale_id), ["brand", "sku"])
            if brand is None or sku is None:
                return None
            if len(self._facts_cache) >= 10_000:
                self._facts_cache.clear()
            facts = self._facts_cache[sale_id] = _Facts(text(brand), text(sku))
        return facts

    # ---- buyers -------------------------------------------------------------------

    async def buy(
        self,
        sale_id: str,
        user_id: str,
        req: BuyRequest,
        *,
        guide: GuideCredit | None = None,
        now_ms: int | None = None,
    ) -> BuyResult:
        """One buy: one buy.lua call, plus the coupon lock and the store route when asked for.

        ``guide`` is the credit this buy gives (``attribution.credit_for``);
        ``now_ms`` overrides the server's clock (tests only).
        """
        if not valid_id(sale_id):
            return BuyResult(BuyCode.BAD_REQUEST, sale_id, detail="sale_id")
        if not valid_user_id(user_id):
            return BuyResult(BuyCode.BAD_REQUEST, sale_id, detail="user_id")
        rid = reservation_id(sale_id, user_id, req.request_id)
        facts = None
        if req.pickup_store is not None or req.coupon_id is not None:
            facts = await self._facts(sale_id)
            if facts is None:
                return BuyResult(BuyCode.NOT_FOUND, sale_id)
            if req.pickup_store is not None and (
                self._stores is None or not self._stores.is_store_of(facts.brand, req.pickup_store)
            ):
                return BuyResult(BuyCode.BAD_REQUEST, sale_id, detail="pickup_store")
        coupon_args: list[str | int] = ["", 0, 0]
        locked_now = False
        if req.coupon_id is not None and facts is not None:
            by = guide.guide_id if guide else None
            lock = await self._coupons.lock(req.coupon_id, user_id, rid, facts.brand, now_ms, guide=by,
                                            pickup_store=req.pickup_store)  # fmt: skip
            if lock.code not in (CouponCode.OK, CouponCode.HELD, CouponCode.USED):
                return BuyResult(BuyCode.COUPON_INVALID, sale_id, detail=lock.code.value)
            locked_now = lock.code is CouponCode.OK
            coupon_args = [req.coupon_id, lock.value_cents, lock.min_spend_cents]
        k = self._keys
        code, available, detail = await self._scripts.run(
            "buy",
            [
                k.sale_spec(sale_id),
                k.sale_stock(sale_id),
                k.sale_counts(sale_id),
                k.sale_users(sale_id),
                k.sale_deadlines(sale_id),
                k.sale_events(sale_id),
                k.reservation(sale_id, rid),
                k.sale_user_reservations(sale_id),
            ],
            [
                user_id,
                req.request_id,
                rid,
                req.qty,
                now_arg(now_ms),
                self.events_maxlen,
                *coupon_args,
                guide.guide_id if guide else "",
                guide.store_id if guide else "",
                "1" if req.location is None and req.pickup_store is None else "0",  # nothing to route
            ],
        )
        if code in (b"ok", "ok"):  # the common case: build the reservation from what was passed (buy.lua's answer)
            price, discount, created, deadline = (int(v) for v in detail)
            subtotal = price * req.qty
            reservation: Reservation | None = Reservation(
                rid, sale_id, user_id, req.request_id, "reserved", req.qty, price, subtotal, discount,
                subtotal - discount, req.coupon_id if coupon_args[0] else None,
                (guide.guide_id or None) if guide else None, (guide.store_id or None) if guide else None,
                created, deadline,
                WAREHOUSE if req.location is None and req.pickup_store is None else None, None,
            )  # fmt: skip
            result = BuyResult(BuyCode.OK, sale_id, int(available), reservation)
        else:
            result = self._buy_result(sale_id, text(code), int(available), detail)
            reservation = result.reservation
        if locked_now and req.coupon_id is not None:
            applied = (
                reservation is not None and reservation.coupon_id == req.coupon_id and reservation.state != "expired"
            )
            if not applied:
                await self._coupons.settle(req.coupon_id, rid, "release", now_ms)
        if reservation is not None and reservation.state == "reserved" and reservation.fulfilment is None:
            result = await self._route(result, reservation, req, now_ms)
        return result

    @staticmethod
    def _buy_result(sale_id: str, code: str, available: int, detail: Any) -> BuyResult:
        buy_code = BuyCode(code)
        if buy_code.took_stock:
            reservation = Reservation.from_fields(sale_id, flat_fields(detail))
            return BuyResult(buy_code, sale_id, available, reservation)
        if buy_code is BuyCode.NOT_STARTED:
            return BuyResult(buy_code, sale_id, available, starts_at_ms=int(detail))
        if buy_code is BuyCode.COUPON_INVALID:  # buy.lua's own check: the minimum spend
            return BuyResult(buy_code, sale_id, available, detail=text(detail))
        return BuyResult(buy_code, sale_id, available)

    async def holds_reservation(self, sale_id: str, user_id: str, request_id: str) -> bool:
        """Whether this buy request already holds a reservation (one read, batched like the buys).

        The admission gate asks this of an attempt it would shed: a retry of a request that
        holds a reservation goes on to :meth:`buy` (which answers ``duplicate``), a new one is shed.
        """
        if not valid_id(sale_id) or not valid_user_id(user_id):
            return False
        rid = reservation_id(sale_id, user_id, request_id)
        return bool(int(await self._scripts.run("held", [self._keys.reservation(sale_id, rid)], [])))

    async def _route(
        self, result: BuyResult, reservation: Reservation, req: BuyRequest, now_ms: int | None
    ) -> BuyResult:
        """Pick the fulfilment, take the store's units and record it once in the reservation."""
        rid = reservation.reservation_id
        facts = await self._facts(result.sale_id)
        if self._stores is None or facts is None:
            fulfilment = warehouse_delivery(None)
        else:
            fulfilment = await self._stores.route(
                facts.brand, facts.sku, reservation.qty, req.location, rid, req.pickup_store, now_ms
            )
        mine = fulfilment.to_fields()
        outcome, *values = (
            text(v)
            for v in await self._scripts.run(
                "route_record",
                [self._keys.reservation(result.sale_id, rid)],
                [mine["mode"], mine["store_id"], mine["distance_km"], mine["fallback"]],
            )
        )
        recorded = Fulfilment.from_fields(
            dict(zip(("mode", "store_id", "distance_km", "fallback"), values, strict=True))
        )
        if fulfilment.store_id is not None and (recorded is None or recorded.store_id != fulfilment.store_id):
            await settle_hold(self._scripts, self._keys, fulfilment.store_id, rid, "release")
        if outcome in ("recorded", "kept"):
            return dataclasses.replace(result, reservation=dataclasses.replace(reservation, fulfilment=recorded))
        return dataclasses.replace(result, reservation=await self.get_reservation(rid))

    async def get_reservation(self, reservation_id_: str) -> Reservation | None:
        try:
            sale_id, _ = split_id(reservation_id_)
        except ValueError:
            return None
        raw = await self._redis.hgetall(self._keys.reservation(sale_id, reservation_id_))
        return Reservation.from_fields(sale_id, flat_fields(raw)) if raw else None

    # ---- payment (the integration point of a payment provider's callback) --------

    async def pay(self, reservation_id_: str, payment_ref: str = "", *, now_ms: int | None = None) -> PayResult:
        """Confirm a reservation's payment: exactly one order per reservation, idempotent."""
        try:
            sale_id, tail = split_id(reservation_id_)
        except ValueError:
            return PayResult(PayCode.NOT_FOUND)
        if tail[0] != "r":
            return PayResult(PayCode.NOT_FOUND)
        k = self._keys
        order_id = order_id_for(reservation_id_)
        code, detail = await self._scripts.run(
            "pay",
            [
                k.reservation(sale_id, reservation_id_),
                k.sale_spec(sale_id),
                k.sale_counts(sale_id),
                k.sale_deadlines(sale_id),
                k.sale_events(sale_id),
                k.order(sale_id, order_id),
                k.sale_outbox(sale_id),
            ],
            [reservation_id_, order_id, now_arg(now_ms), self.events_maxlen, payment_ref, self.retention_s * 1000],
        )
        pay_code = PayCode(text(code))
        if pay_code not in (PayCode.PAID, PayCode.DUPLICATE):
            return PayResult(pay_code)
        order = Order.from_fields(flat_fields(detail))
        if pay_code is PayCode.PAID:
            await self.outbox.apply(sale_id, [f"paid:{reservation_id_}"], now_ms, order)
        return PayResult(pay_code, order)

    # ---- sweeper --------------------------------------------------------------------

    async def expire_due(self, sale_id: str, limit: int = 100, now_ms: int | None = None) -> int:
        """Expire up to ``limit`` unpaid reservations past their deadline; returns how many this call expired.

        Safe to run on every node at once: each reservation expires exactly once.
        """
        k = self._keys
        cutoff = now_ms if now_ms is not None else await self.server_time_ms()
        due = [
            text(m) for m in await self._redis.zrangebyscore(k.sale_deadlines(sale_id), "-inf", f"({cutoff}", 0, limit)
        ]
        if not due:
            return 0
        _available, expired, effects = await self._scripts.run(
            "expire",
            [
                k.sale_stock(sale_id),
                k.sale_counts(sale_id),
                k.sale_users(sale_id),
                k.sale_deadlines(sale_id),
                k.sale_events(sale_id),
                k.sale_outbox(sale_id),
                k.sale_spec(sale_id),
                *(k.reservation(sale_id, rid) for rid in due),
            ],
            [now_arg(now_ms), self.events_maxlen, self.retention_s * 1000, *due],
        )
        if effects:
            await self.outbox.apply(sale_id, [text(e) for e in effects], now_ms)
        return len(expired)

    async def retire(self, sale_id: str, now_ms: int | None = None) -> tuple[RetireCode, int]:
        """Give a long-over, settled sale's keys their expiry (retire.lua); idempotent, any node.

        Returns the outcome and when the sale's keys expire (unix ms; 0 for an unknown sale)."""
        k = self._keys
        sale_keys = [k.sale_spec(sale_id), k.sale_stock(sale_id), k.sale_counts(sale_id), k.sale_users(sale_id),
                     k.sale_deadlines(sale_id), k.sale_events(sale_id), k.sale_outbox(sale_id),
                     k.sale_user_reservations(sale_id)]  # fmt: skip
        code, keep_until_ = await self._scripts.run("retire", sale_keys, [now_arg(now_ms), self.retention_s * 1000])
        result, keep_until = RetireCode(text(code)), int(keep_until_)
        if result is RetireCode.RETIRED:
            log.info("sale %s retired: its keys expire at %d", sale_id, keep_until)
        return result, keep_until

    async def unlist(self, sale_id: str, venue: str) -> None:
        """Remove a sale whose keys expired from its venue's sales."""
        await self._redis.srem(self._keys.sales_of_venue(venue), sale_id)
