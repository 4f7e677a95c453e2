"""Pre-sales (定金) on Redis: create, deposit, pay the deposit, pay the balance, sweep.

Every state change of a deposit is one Lua script on the pre-sale's keys (all under the hash
tag ``{presale:<id>}``, built in ``livehub.store.keys``); the life cycle and the answers are in
``livehub.domain.presale_rules``:

* presale_deposit.lua: deposit window, idempotency, quantity, per-user limit, stock; takes the
  units and records the deposit (``deposit_due``) with its payment deadline.
* presale_pay_deposit.lua: ``deposit_due -> balance_due`` before the deadline.
* presale_balance.lua: ``balance_due -> completed`` inside the balance window; writes the
  order (one per deposit) with the store it was routed to, and an outbox entry.
* presale_sweep.lua: ``deposit_due -> lapsed`` past the deadline, ``balance_due ->
  forfeited | refunded`` once the balance window has ended (a refund record in the pre-sale's
  refunds stream in the same step), units back; and, when nothing is left unsettled after the
  window, the pre-sale's keys get their expiry (``balance_ends_at_ms + retention``).

Conservation at rest: ``stock == available + deposit_due + balance_due + completed``.

Routing and the orders stream live in other slots (``{store:<id>}``, ``{orders}``): the
balance payment routes first (``StoreIndex.route`` takes the store's units, held under a hold id
of this attempt's own, ``<deposit id>#<nonce>``), then presale_balance.lua records route and
hold id; an attempt that did not complete gives exactly its own units back (two racing payments
cannot take two units), and the reconciler (``Outbox.reconcile_store_holds``) commits a stale hold
only when it is the one the completed deposit records.  The order is published to the orders
stream right away (``OrderStore.publish``, idempotent) and its store hold committed; a node dying
in between leaves the outbox entry and any node's sweeper (:meth:`PresaleStore.relay`) finishes it.

Refunds are recorded, not sent: the refunds stream (``{presale:<id>}:refunds``) is the outbound
integration point a payment integration reads (:meth:`PresaleStore.refunds`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from livehub.domain.ids import valid_id, valid_user_id
from livehub.domain.presale_rules import (
    DEPOSIT_STATES,
    DepositCode,
    DepositState,
    PresaleCounts,
    PresalePayCode,
    PresaleSpec,
    deposit_id,
    presale_order_id,
    split_presale_id,
)
from livehub.domain.routing import Fulfilment, warehouse_delivery
from livehub.domain.sale_rules import Location, flat_fields, now_arg, text
from livehub.store.keys import Keys
from livehub.store.orders import Order, OrderStore
from livehub.store.outbox import server_time_ms
from livehub.store.scripts import Scripts
from livehub.store.stores import StoreIndex, settle_hold

log = logging.getLogger("livehub.store.presales")


@dataclass(frozen=True, slots=True)
class Deposit:
    deposit_id: str
    presale_id: str
    user_id: str
    request_id: str
    state: DepositState
    qty: int
    deposit_cents: int
    balance_cents: int
    created_at_ms: int
    deadline_ms: int
    location: Location | None
    pickup_store: str | None
    order_id: str | None
    fulfilment: Fulfilment | None

    @classmethod
    def from_fields(cls, presale_id: str, f: dict[str, str]) -> Deposit:
        state = f["state"]
        if state not in DEPOSIT_STATES:
            raise ValueError(f"unknown deposit state {state!r}")
        lat, lon = f.get("lat", ""), f.get("lon", "")
        return cls(
            deposit_id=f["deposit_id"], presale_id=presale_id, user_id=f["user"], request_id=f["request_id"],
            state=state,  # checked above
            qty=int(f["qty"]), deposit_cents=int(f["deposit_cents"]), balance_cents=int(f["balance_cents"]),
            created_at_ms=int(f["created_at_ms"]), deadline_ms=int(f["deadline_ms"]),
            location=Location(float(lat), float(lon)) if lat and lon else None,
            pickup_store=f.get("pickup_store") or None, order_id=f.get("order_id") or None,
            fulfilment=Fulfilment.from_fields(f) if f.get("mode") else None,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class DepositResult:
    code: DepositCode
    presale_id: str
    available: int = 0
    deposit: Deposit | None = None
    starts_at_ms: int | None = None  # not_started: when the deposit window opens
    detail: str = ""  # bad_request: the field


@dataclass(frozen=True, slots=True)
class PresalePayResult:
    code: PresalePayCode
    deposit: Deposit | None = None  # deposit stage
    order: Order | None = None  # balance stage: paid / duplicate
    starts_at_ms: int | None = None  # balance not_started: when the balance window opens


@dataclass(frozen=True, slots=True)
class SweepResult:
    lapsed: int
    unpaid: int  # forfeited or refunded by this call
    retired: bool


@dataclass(frozen=True, slots=True)
class Refund:
    deposit_id: str
    user_id: str
    amount_cents: int
    payment_ref: str
    at_ms: int


class PresaleStore:
    """Pre-sales of every venue.  ``stores`` routes orders (None: warehouse delivery only)."""

    def __init__(
        self, redis: Redis, keys: Keys, scripts: Scripts, orders: OrderStore, *, stores: StoreIndex | None = None,
        events_maxlen: int = 10_000, refunds_maxlen: int = 100_000, retention_s: int = 7 * 86_400,
    ) -> None:  # fmt: skip
        self._redis = redis
        self._keys = keys
        self._scripts = scripts
        self._orders = orders
        self._stores = stores
        self.events_maxlen = events_maxlen
        self.refunds_maxlen = refunds_maxlen
        self.retention_s = retention_s

    # ---- hosts --------------------------------------------------------------------
    async def create(self, spec: PresaleSpec) -> bool:
        """Schedule a pre-sale (spec and stock) and list it in its venue; False if the id exists."""
        k = self._keys
        args: list[str | int] = [spec.stock]
        for field, value in spec.to_fields().items():
            args += [field, value]
        keys = [k.presale_spec(spec.presale_id), k.presale_stock(spec.presale_id)]
        created = bool(int(await self._scripts.run("create_once", keys, args)))
        if created:
            await self._redis.sadd(k.presales_of_venue(spec.venue), spec.presale_id)
            log.info("pre-sale %s created in %s: %d x %s", spec.presale_id, spec.venue, spec.stock, spec.sku)
        return created

    async def get_spec(self, presale_id: str) -> PresaleSpec | None:
        if not valid_id(presale_id):
            return None
        raw = await self._redis.hgetall(self._keys.presale_spec(presale_id))
        return PresaleSpec.from_fields(flat_fields(raw)) if raw else None

    async def get_counts(self, presale_id: str) -> PresaleCounts | None:
        k = self._keys
        pipe = self._redis.pipeline(transaction=False)
        pipe.hget(k.presale_spec(presale_id), "stock")
        pipe.get(k.presale_stock(presale_id))
        pipe.hgetall(k.presale_counts(presale_id))
        stock, available, counts = await pipe.execute()
        if stock is None:
            return None
        c = flat_fields(counts)
        return PresaleCounts(
            int(stock), int(available or 0),
            *(int(c.get(s, "0")) for s in DEPOSIT_STATES),
        )  # fmt: skip

    async def presale_ids_of_venues(self, venues: Sequence[str]) -> dict[str, list[str]]:
        """Pre-sale ids of each venue that has any, sorted (one pipelined round trip)."""
        pipe = self._redis.pipeline(transaction=False)
        for venue in venues:
            pipe.smembers(self._keys.presales_of_venue(venue))
        found = await pipe.execute()
        return {v: sorted(text(m) for m in ids) for v, ids in zip(venues, found, strict=True) if ids}

    async def unlist(self, presale_id: str, venue: str) -> None:
        await self._redis.srem(self._keys.presales_of_venue(venue), presale_id)

    async def server_time_ms(self) -> int:
        return await server_time_ms(self._redis)

    # ---- buyers -------------------------------------------------------------------
    async def deposit(
        self, presale_id: str, user_id: str, request_id: str, qty: int = 1, *,
        location: Location | None = None, pickup_store: str | None = None, now_ms: int | None = None,
    ) -> DepositResult:  # fmt: skip
        """Place one deposit (presale_deposit.lua); a retried request id answers ``duplicate``."""
        if not valid_id(presale_id):
            return DepositResult(DepositCode.BAD_REQUEST, presale_id, detail="presale")
        if not valid_user_id(user_id):
            return DepositResult(DepositCode.BAD_REQUEST, presale_id, detail="user_id")
        did = deposit_id(presale_id, user_id, request_id)
        k = self._keys
        code, available, detail = await self._scripts.run(
            "presale_deposit",
            [k.presale_spec(presale_id), k.presale_stock(presale_id), k.presale_counts(presale_id),
             k.presale_users(presale_id), k.presale_deadlines(presale_id), k.presale_events(presale_id),
             k.deposit(presale_id, did)],
            [user_id, request_id, did, qty, now_arg(now_ms), self.events_maxlen,
             "" if location is None else repr(location.lat), "" if location is None else repr(location.lon),
             pickup_store or ""],
        )  # fmt: skip
        answer = DepositCode(text(code))
        if answer.took_stock:
            deposit = Deposit.from_fields(presale_id, flat_fields(detail))
            return DepositResult(answer, presale_id, int(available), deposit)
        if answer is DepositCode.NOT_STARTED:
            return DepositResult(answer, presale_id, int(available), starts_at_ms=int(detail))
        return DepositResult(answer, presale_id, int(available))

    async def get_deposit(self, deposit_id_: str) -> Deposit | None:
        try:
            presale_id, tail = split_presale_id(deposit_id_)
        except ValueError:
            return None
        if tail[0] != "d":
            return None
        raw = await self._redis.hgetall(self._keys.deposit(presale_id, deposit_id_))
        return Deposit.from_fields(presale_id, flat_fields(raw)) if raw else None

    # ---- payments (the integration points of the payment provider's callbacks) -----
    async def pay_deposit(self, deposit_id_: str, payment_ref: str = "", *, now_ms: int | None = None
                          ) -> PresalePayResult:  # fmt: skip
        """Confirm a deposit's payment (``deposit_due -> balance_due``), idempotent."""
        try:
            presale_id, tail = split_presale_id(deposit_id_)
        except ValueError:
            return PresalePayResult(PresalePayCode.NOT_FOUND)
        if tail[0] != "d":
            return PresalePayResult(PresalePayCode.NOT_FOUND)
        k = self._keys
        code, detail = await self._scripts.run(
            "presale_pay_deposit",
            [k.deposit(presale_id, deposit_id_), k.presale_counts(presale_id), k.presale_deadlines(presale_id),
             k.presale_balances(presale_id), k.presale_events(presale_id)],
            [deposit_id_, now_arg(now_ms), self.events_maxlen, payment_ref],
        )  # fmt: skip
        answer = PresalePayCode(text(code))
        deposit = Deposit.from_fields(presale_id, flat_fields(detail)) if detail else None
        return PresalePayResult(answer, deposit=deposit)

    async def pay_balance(self, deposit_id_: str, payment_ref: str = "", *, now_ms: int | None = None
                          ) -> PresalePayResult:  # fmt: skip
        """Confirm a balance payment: route the order, record it with the one order (presale_balance.lua),
        publish the order.  Idempotent: paying again answers ``duplicate`` with the same order.

        Each attempt holds its store units under a hold id of its own (``<deposit id>#<nonce>``), recorded
        in the deposit by the attempt that completes it: an attempt that did not complete releases exactly
        its own units, whatever the others did meanwhile."""
        deposit = await self.get_deposit(deposit_id_)
        if deposit is None:
            return PresalePayResult(PresalePayCode.NOT_FOUND)
        presale_id = deposit.presale_id
        fulfilment = warehouse_delivery(None)
        hold_id = f"{deposit_id_}#{secrets.token_hex(4)}"
        if deposit.state == "balance_due" and self._stores is not None:
            spec = await self.get_spec(presale_id)
            now = now_ms if now_ms is not None else await self.server_time_ms()
            if spec is not None and spec.phase(now) == "balance":  # route only a payment that can complete
                pickup = deposit.pickup_store
                if pickup is not None and not self._stores.is_store_of(spec.brand, pickup):
                    pickup = None
                fulfilment = await self._stores.route(
                    spec.brand, spec.sku, deposit.qty, deposit.location, hold_id, pickup, now_ms
                )
        mine = fulfilment.to_fields()
        k = self._keys
        order_id = presale_order_id(deposit_id_)
        code, detail = await self._scripts.run(
            "presale_balance",
            [k.deposit(presale_id, deposit_id_), k.presale_spec(presale_id), k.presale_counts(presale_id),
             k.presale_balances(presale_id), k.presale_events(presale_id), k.presale_order(presale_id, order_id),
             k.presale_outbox(presale_id)],
            [deposit_id_, order_id, now_arg(now_ms), self.events_maxlen, payment_ref,
             mine["mode"], mine["store_id"], mine["distance_km"], mine["fallback"], self.retention_s * 1000,
             hold_id if fulfilment.store_id is not None else ""],
        )  # fmt: skip
        answer = PresalePayCode(text(code))
        fields = flat_fields(detail) if answer in (PresalePayCode.PAID, PresalePayCode.DUPLICATE) else {}
        order = Order.from_fields(fields) if fields else None
        if answer is PresalePayCode.PAID and order is not None:
            await self._publish(presale_id, order, fields.get("hold_id", ""))
        elif fulfilment.store_id is not None:  # this attempt did not complete: its own units go back
            await settle_hold(self._scripts, self._keys, fulfilment.store_id, hold_id, "release")
        if answer is PresalePayCode.NOT_STARTED:
            return PresalePayResult(answer, starts_at_ms=int(detail))
        return PresalePayResult(answer, order=order)

    async def _publish(self, presale_id: str, order: Order, hold_id: str) -> None:
        """The order's effects outside the pre-sale's slot, each idempotent; then drop the outbox entry."""
        await self._orders.publish(order)
        if order.store_id is not None and hold_id:
            await settle_hold(self._scripts, self._keys, order.store_id, hold_id, "commit")
        await self._redis.zrem(self._keys.presale_outbox(presale_id), f"completed:{order.reservation_id}")

    async def relay(self, presale_id: str, older_than_ms: int = 5_000, limit: int = 100,
                    now_ms: int | None = None) -> int:  # fmt: skip
        """Publish the orders a node left unpublished (outbox entries older than ``older_than_ms``)."""
        now = now_ms if now_ms is not None else await self.server_time_ms()
        k = self._keys
        members = [text(m) for m in await self._redis.zrangebyscore(
            k.presale_outbox(presale_id), "-inf", now - older_than_ms, 0, limit)]  # fmt: skip
        for member in members:
            did = member.partition(":")[2]
            raw = await self._redis.hgetall(k.presale_order(presale_id, presale_order_id(did)))
            if raw:
                fields = flat_fields(raw)
                await self._publish(presale_id, Order.from_fields(fields), fields.get("hold_id", ""))
            else:  # the order expired with the pre-sale: nothing left to publish
                await self._redis.zrem(k.presale_outbox(presale_id), member)
        return len(members)

    # ---- sweeper --------------------------------------------------------------------
    async def sweep(self, presale_id: str, limit: int = 500, now_ms: int | None = None) -> SweepResult:
        """Lapse unpaid deposits past their deadline; after the balance window, forfeit or refund the
        unpaid balances; retire a settled pre-sale.  Safe on every node at once (presale_sweep.lua)."""
        k = self._keys
        now = now_ms if now_ms is not None else await self.server_time_ms()
        ends = await self._redis.hget(k.presale_spec(presale_id), "balance_ends_at_ms")
        if ends is None:
            return SweepResult(0, 0, False)
        candidates = [text(m) for m in await self._redis.zrangebyscore(
            k.presale_deadlines(presale_id), "-inf", f"({now}", 0, limit)]  # fmt: skip
        if now >= int(ends):
            candidates += [text(m) for m in await self._redis.zrange(k.presale_balances(presale_id), 0, limit - 1)]
        if not candidates and now < int(ends):
            return SweepResult(0, 0, False)
        fixed = [k.presale_spec(presale_id), k.presale_stock(presale_id), k.presale_counts(presale_id),
                 k.presale_users(presale_id), k.presale_deadlines(presale_id), k.presale_balances(presale_id),
                 k.presale_events(presale_id), k.presale_refunds(presale_id), k.presale_outbox(presale_id)]  # fmt: skip
        _available, lapsed, unpaid, retired = await self._scripts.run(
            "presale_sweep",
            [*fixed, *(k.deposit(presale_id, did) for did in candidates)],
            [now_arg(now_ms), self.events_maxlen, self.refunds_maxlen, self.retention_s * 1000, *candidates],
        )
        result = SweepResult(len(lapsed), len(unpaid), bool(int(retired)))
        if result.lapsed or result.unpaid:
            log.info("pre-sale %s: %d deposits lapsed, %d balances unpaid", presale_id, result.lapsed, result.unpaid)
        return result

    async def refunds(self, presale_id: str, after: str = "-", count: int = 100) -> list[tuple[str, Refund]]:
        """Refund records (entry id, refund) after entry id ``after``: what the payment integration pays back."""
        start = after if after == "-" else f"({after}"
        out: list[tuple[str, Refund]] = []
        entries = await self._redis.xrange(self._keys.presale_refunds(presale_id), start, "+", count)
        for entry_id, fields in entries or []:
            f = flat_fields(fields or {})
            refund = Refund(f["deposit_id"], f["user"], int(f["amount_cents"]), f.get("payment_ref", ""), int(f["ts"]))
            out.append((text(entry_id), refund))
        return out
