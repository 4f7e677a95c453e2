"""Pre-sales (定金): a host schedules one, buyers place and pay deposits, then pay the balance; the
sweeper settles what was left unpaid.  The rules and answers: livehub.domain.presale_rules; the
Redis side: livehub.store.presales.

* A pre-sale is latest-value state ``presale:<id>`` of its venue (the public spec and its
  phase times, so it is in every join snapshot), announced by a ``presale.scheduled`` event.
* Deposits go through the buyer's own bucket (``quotas.buys``, shared with flash-sale buys).
* The units available are pushed to this node's viewers as ``stock`` frames (``sale`` is the
  pre-sale id) by the sweeper loop, when they changed: no event per deposit.
* A completed balance is announced to the hosts (an ``order`` frame, like a flash-sale order).
* The sweeper (every ``sweep_interval_s`` on every node; the scripts make that safe): lapse
  unpaid deposits, forfeit or refund unpaid balances after the balance window, publish orders
  a node left unpublished, and forget a pre-sale whose keys expired.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from livehub import errors
from livehub.backplane.broker import Broker, StateOp
from livehub.domain.presale_rules import (
    DepositCode,
    PayStage,
    PresalePayCode,
    PresaleSpec,
    UnpaidRule,
)
from livehub.domain.sale_rules import BuyCode, BuyRequest, BuyRequestError, SaleSpecError
from livehub.domain.topology import Festival, Product
from livehub.hub.fanout import Hub
from livehub.protocol import frames
from livehub.runtime.periodic import Periodic
from livehub.services.buying import Buying
from livehub.services.views import order_view
from livehub.store.presales import Deposit, DepositResult, PresalePayResult, PresaleStore

log = logging.getLogger("livehub.services.presales")

# deposit outcomes answered as a reply; not_found and bad_request are error frames / 404 / 400
DEPOSIT_ANSWERS = {DepositCode.OK, DepositCode.DUPLICATE, DepositCode.NOT_STARTED, DepositCode.ENDED,
                   DepositCode.SOLD_OUT, DepositCode.LIMIT_REACHED, DepositCode.BAD_QUANTITY}  # fmt: skip


@dataclass(frozen=True, slots=True)
class PresaleDraft:
    """A host's new pre-sale as requested; times default relative to now (server time)."""

    product: Product
    presale_id: Any = None
    stock: int = 0
    price_cents: int | None = None  # default: the product's price
    deposit_cents: int = 0
    per_user_limit: int = 1
    deposit_starts_in_s: int = 0
    deposit_duration_s: int = 600
    balance_starts_in_s: int | None = None  # after the deposit window opens; default: when it closes
    balance_duration_s: int = 600
    deposit_ttl_s: int = 900
    unpaid: Any = "forfeit"


def presale_public(festival: Festival, spec: PresaleSpec) -> dict[str, Any]:
    """A pre-sale as every viewer sees it (event data and latest-value state ``presale:<id>``)."""
    product = festival.products.get(spec.sku)
    return {
        "presale_id": spec.presale_id, "venue": spec.venue, "brand": spec.brand, "sku": spec.sku,
        "title": product.title if product else spec.sku, "image_url": product.image_url if product else None,
        "price_cents": spec.price_cents, "deposit_cents": spec.deposit_cents, "balance_cents": spec.balance_cents,
        "stock": spec.stock, "per_user_limit": spec.per_user_limit,
        "deposit_starts_at_ms": spec.deposit_starts_at_ms, "deposit_ends_at_ms": spec.deposit_ends_at_ms,
        "balance_starts_at_ms": spec.balance_starts_at_ms, "balance_ends_at_ms": spec.balance_ends_at_ms,
        "deposit_ttl_s": spec.deposit_ttl_s, "unpaid": spec.unpaid,
    }  # fmt: skip


def deposit_view(d: Deposit) -> dict[str, Any]:
    f = d.fulfilment
    return {"deposit": d.deposit_id, "presale": d.presale_id, "state": d.state, "qty": d.qty,
            "deposit_cents": d.deposit_cents, "balance_cents": d.balance_cents, "pay_deposit_by": d.deadline_ms,
            "order": d.order_id, "mode": f.mode if f else None, "store": f.store_id if f else None}  # fmt: skip


def deposit_answer(result: DepositResult) -> dict[str, Any]:
    out: dict[str, Any] = {"status": result.code.value, "presale": result.presale_id, "available": result.available}
    if result.deposit is not None:
        out.update(deposit_view(result.deposit))
    if result.starts_at_ms is not None:
        out["starts_at_ms"] = result.starts_at_ms
    return out


class Presales:
    def __init__(self, festival: Festival, broker: Broker, hub: Hub, store: PresaleStore, buying: Buying,
                 *, sweep_interval_s: float) -> None:  # fmt: skip
        self.festival = festival
        self.broker = broker
        self.hub = hub
        self.store = store
        self.buying = buying
        self.sweep_interval_s = sweep_interval_s
        self.known: dict[str, str] = {}  # pre-sale id -> venue, refreshed by the sweeper
        self.available: dict[str, int] = {}  # last units pushed per pre-sale
        self.retired: set[str] = set()  # settled pre-sales whose keys now expire on their own
        self.jobs = Periodic()

    async def start(self) -> None:
        self.jobs.start(self.sweep_interval_s, self.sweep, "presales")

    async def stop(self) -> None:
        await self.jobs.stop()

    def counters(self, venue: str) -> dict[str, Any]:
        """A snapshot's pre-sale counters of one channel: ``presale_stock`` {pre-sale id: units available}
        as this node's sweeper last read them (a joiner sees them before the next change)."""
        stock = {p: self.available[p] for p, v in self.known.items() if v == venue and p in self.available}
        return {"presale_stock": stock} if stock else {}

    # ---- hosts ----------------------------------------------------------------------------------
    async def create(self, venue: str, draft: PresaleDraft) -> dict[str, Any]:
        """Schedule a pre-sale of a product of the venue's brand and announce it (``presale.scheduled``)."""
        product = draft.product
        now = await self.store.server_time_ms()
        dep_start = now + 1000 * draft.deposit_starts_in_s
        dep_end = dep_start + 1000 * draft.deposit_duration_s
        bal_start = dep_end if draft.balance_starts_in_s is None else dep_start + 1000 * draft.balance_starts_in_s
        try:
            spec = PresaleSpec(
                presale_id=draft.presale_id or f"p-{uuid.uuid4().hex[:10]}", venue=venue, brand=product.brand,
                sku=product.sku, stock=draft.stock,
                price_cents=draft.price_cents if draft.price_cents is not None else product.price_cents,
                deposit_cents=draft.deposit_cents, per_user_limit=draft.per_user_limit,
                deposit_starts_at_ms=dep_start, deposit_ends_at_ms=dep_end, balance_starts_at_ms=bal_start,
                balance_ends_at_ms=bal_start + 1000 * draft.balance_duration_s, deposit_ttl_s=draft.deposit_ttl_s,
                unpaid=_unpaid_rule(draft.unpaid),
            )  # fmt: skip
        except SaleSpecError as exc:
            raise errors.bad_request(str(exc), field=exc.field) from None
        if not await self.store.create(spec):
            raise errors.bad_request(f"pre-sale {spec.presale_id!r} exists already")
        self.known[spec.presale_id] = venue
        public = presale_public(self.festival, spec)
        epoch, offset = await self.broker.publish(
            venue, "presale.scheduled", {"presale": public}, (StateOp(f"presale:{spec.presale_id}", public),)
        )
        return {"presale": public, "epoch": epoch, "offset": offset}

    async def state(self, presale_id: str) -> dict[str, Any]:
        """A pre-sale's public spec, phase and units per state (server time)."""
        spec = await self.store.get_spec(presale_id)
        counts = await self.store.get_counts(presale_id)
        if spec is None or counts is None:
            raise errors.not_found(f"unknown pre-sale {errors.echo(presale_id)}")
        return {**presale_public(self.festival, spec), "phase": spec.phase(await self.store.server_time_ms()),
                "available": counts.available, "deposit_due": counts.deposit_due,
                "balance_due": counts.balance_due, "completed": counts.completed, "lapsed": counts.lapsed,
                "forfeited": counts.forfeited, "refunded": counts.refunded,
                "balanced": counts.balanced}  # fmt: skip

    # ---- buyers ---------------------------------------------------------------------------------
    async def deposit(self, user: str, presale_id: str, request_id: str, args: dict[str, Any]) -> dict[str, Any]:
        """Place a deposit: {qty?, loc?, pickup_store?} (as :func:`livehub.protocol.commands.parse_buy_args`)."""
        wait = self.buying.quotas.buys.take(user, time.monotonic())
        if wait:
            raise errors.rate_limited("too many deposits: slow down", wait)
        try:
            request = BuyRequest.from_args(request_id, args)
        except BuyRequestError as exc:
            if exc.code is BuyCode.BAD_QUANTITY:  # an answer, as for a buy: it can never succeed
                return {"status": DepositCode.BAD_QUANTITY.value, "presale": presale_id, "detail": str(exc)}
            raise errors.bad_request(str(exc), field=exc.field) from None
        result = await self.store.deposit(
            presale_id, user, request.request_id, request.qty,
            location=request.location, pickup_store=request.pickup_store,
        )  # fmt: skip
        if result.code is DepositCode.NOT_FOUND:
            raise errors.not_found(f"unknown pre-sale {errors.echo(presale_id)}")
        if result.code not in DEPOSIT_ANSWERS:
            raise errors.bad_request(f"bad {result.detail or 'request'}", field=result.detail)
        return deposit_answer(result)

    async def pay(self, deposit_id: str, payment_ref: str, stage: PayStage | None = None,
                  user: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Pay a deposit's ``stage`` (None: the stage now due); ``user`` (the demo's own payment) must be
        the buyer.  Answers every :class:`PresalePayCode` but not_found (404)."""
        deposit = await self.store.get_deposit(deposit_id)
        if deposit is None or (user is not None and deposit.user_id != user):
            raise errors.not_found(f"unknown deposit {errors.echo(deposit_id)}")
        if stage is None:
            stage = PayStage.DEPOSIT if deposit.state == "deposit_due" else PayStage.BALANCE
        out: dict[str, Any] = {"deposit": deposit_id, "stage": stage.value}
        if stage is PayStage.DEPOSIT:
            result: PresalePayResult = await self.store.pay_deposit(deposit_id, payment_ref)
        else:
            result = await self.store.pay_balance(deposit_id, payment_ref)
        if result.code is PresalePayCode.NOT_FOUND:
            raise errors.not_found(f"unknown deposit {errors.echo(deposit_id)}")
        out["status"] = result.code.value
        if result.deposit is not None:
            out.update(deposit_view(result.deposit), stage=stage.value)
        if result.starts_at_ms is not None:
            out["starts_at_ms"] = result.starts_at_ms
        if result.order is not None:
            out.update(order_view(result.order), presale=result.order.sale_id)
            if result.code is PresalePayCode.PAID:
                await self.buying.notify_order(result.order.venue, {"status": "paid", "deposit": deposit_id,
                                                                    **order_view(result.order)})  # fmt: skip
        return out

    # ---- the sweeper ----------------------------------------------------------------------------
    async def sweep(self) -> None:
        """Every node: settle what is due, publish what a node left, push the units available."""
        for venue, ids in (await self.store.presale_ids_of_venues(list(self.festival.venues))).items():
            for presale_id in ids:
                self.known[presale_id] = venue
        for presale_id, venue in list(self.known.items()):
            if presale_id not in self.retired:
                swept = await self.store.sweep(presale_id)
                await self.store.relay(presale_id)
                if swept.retired:  # settled: its keys expire on their own; only watch for that
                    self.retired.add(presale_id)
            counts = await self.store.get_counts(presale_id)
            if counts is None:  # its keys expired after retirement
                await self.store.unlist(presale_id, venue)
                self.known.pop(presale_id, None)
                self.available.pop(presale_id, None)
                self.retired.discard(presale_id)
                continue
            available = counts.available
            if self.available.get(presale_id) != available:
                self.available[presale_id] = available
                if self.hub.count(venue):
                    frame = frames.stock(venue, presale_id, available)
                    self.hub.broadcast_volatile(venue, f"stock:{presale_id}", frame)


def _unpaid_rule(value: Any) -> UnpaidRule:
    if value == "refund":
        return "refund"
    if value == "forfeit":
        return "forfeit"
    raise errors.bad_request("'unpaid' must be forfeit or refund", field="unpaid")
