"""The buyer's use-cases: buy (behind the node-local admission gate), grab a coupon, pay a
reservation; the websocket ``buy`` and ``coupon.grab`` commands and their HTTP twins.

Both twins go through :meth:`Buying.buy` and :meth:`Buying.grab`, which first take one token
from the user's own bucket (livehub.domain.quotas: per identity on this node, all connections and
HTTP requests together); an empty bucket answers ``rate_limited`` with ``retry_after_ms``
before anything else is looked at.  The per-user limits of a sale and of a coupon are not
these rates: they are enforced in Redis by buy.lua and grab.lua on the user id, across
connections and nodes.

A confirmed payment is announced to the hosts of the sale's venue and of the main venue
(an ``order`` frame on their host channels).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from livehub import errors
from livehub.backplane.broker import Broker
from livehub.domain.admission import Admission, Decision
from livehub.domain.attribution import credit_for
from livehub.domain.quotas import Quotas
from livehub.domain.roles import require_viewer
from livehub.domain.sale_rules import BuyCode, BuyRequest, BuyRequestError
from livehub.domain.topology import Festival, host_channel
from livehub.hub.connection import UNDROPPABLE, Connection
from livehub.protocol import frames
from livehub.protocol.commands import Command
from livehub.protocol.events import now_ms
from livehub.services.my_orders import MyOrders
from livehub.services.sale_registry import SaleRegistry
from livehub.services.tally import RATE_LIMITED, CommerceTally
from livehub.services.views import buy_view, grab_view, order_view
from livehub.settings import Settings
from livehub.store.coupons import CouponStore
from livehub.store.sales import PayCode, SaleStore

log = logging.getLogger("livehub.services.buying")

# buy outcomes answered as a reply (an answer about the sale); the rest are error frames
ANSWERS = {BuyCode.OK, BuyCode.DUPLICATE, BuyCode.NOT_STARTED, BuyCode.ENDED, BuyCode.SOLD_OUT,
           BuyCode.LIMIT_REACHED, BuyCode.BAD_QUANTITY, BuyCode.COUPON_INVALID, BuyCode.BUSY}  # fmt: skip


NOTED_MAX = 100_000  # (buyer, sale) pairs remembered as noted; the oldest is forgotten (its next buy notes again)


def _retrieved(fut: asyncio.Future[Any]) -> None:
    """Mark a future's outcome as seen (its failure is not the one reported)."""
    if not fut.cancelled():
        fut.exception()


class Buying:
    def __init__(
        self, festival: Festival, registry: SaleRegistry, sales: SaleStore, coupons: CouponStore,
        admission: Admission, broker: Broker, quotas: Quotas | None = None, tally: CommerceTally | None = None,
        my_orders: MyOrders | None = None,
    ) -> None:  # fmt: skip
        self.festival = festival
        self.registry = registry
        self._specs = registry.specs  # the registry's cache, read directly on the buy path
        self.sales = sales
        self.coupons = coupons
        self.admission = admission
        self.broker = broker
        self.quotas = quotas or Quotas.from_settings(Settings())
        self.tally = tally or CommerceTally()  # what buyers were answered (livehub.runtime.metrics reads it)
        self.my_orders = my_orders  # the buyers' "my orders" (None: not kept)
        # (user, sale) whose "my orders" entry this node noted with a bought reservation, oldest first
        self._noted: dict[tuple[str, str], None] = {}

    async def buy(self, user: str, sale_id: str, request_id: str, args: dict[str, Any], guide_id: str | None
                  ) -> dict[str, Any]:  # fmt: skip
        now = time.monotonic()
        wait = self.quotas.buys.take(user, now)
        if wait:
            self.tally.buys[RATE_LIMITED] += 1
            raise errors.rate_limited("too many buys: slow down", wait)
        spec = self._specs.get(sale_id)
        if spec is None:  # an unknown sale answers not_found here, before the gate makes any state for it
            try:
                spec = await self.registry.spec(sale_id)
            except errors.LivehubError:
                self.tally.buys[BuyCode.NOT_FOUND] += 1
                raise
        decision = self.admission.admit(sale_id, now)
        # An attempt the gate would shed costs one batched read of its reservation key (never on the
        # admitted, common path): a retry whose answer was lost still gets its reservation.
        if decision is not Decision.ADMIT and not await self.sales.holds_reservation(sale_id, user, request_id):
            if decision is Decision.SOLD_OUT:
                self.tally.admission_shed["sold_out"] += 1
                self.tally.buys[BuyCode.SOLD_OUT] += 1
                return {"status": BuyCode.SOLD_OUT.value, "sale": sale_id, "available": 0}
            self.tally.admission_shed["busy"] += 1
            self.tally.buys[BuyCode.BUSY] += 1
            return {"status": BuyCode.BUSY.value, "sale": sale_id, "retry_after_ms": 200}
        try:
            request = BuyRequest.from_args(request_id, args)
        except BuyRequestError as exc:
            self.tally.buys[exc.code] += 1
            if exc.code is BuyCode.BAD_QUANTITY:
                return {"status": exc.code.value, "sale": sale_id, "detail": str(exc)}
            raise errors.bad_request(str(exc), field=exc.field) from None
        guide = self.festival.guides.get(guide_id) if guide_id else None
        credit = credit_for(guide, spec.brand)
        if self.my_orders is None or (user, sale_id) in self._noted:
            result = await self.sales.buy(sale_id, user, request, guide=credit)
        else:  # the buyer's "my orders" gets its entry of the sale before the answer leaves (services.my_orders)
            # queued first, so that it goes in the buy's pipeline; a future, not a task (the hot path)
            noted = self.my_orders.note_sale_soon(user, spec.venue, sale_id)
            try:
                result = await self.sales.buy(sale_id, user, request, guide=credit)
            except BaseException:  # the buy's own failure is the answer, once its note is settled too
                await asyncio.wait((noted,))
                _retrieved(noted)
                raise
            await noted  # its failure fails the buy's answer, as the buy's own would
            if result.reservation is None:
                await self.my_orders.drop_sale(user, spec.venue, sale_id)
            else:  # the entry lists every later reservation of the buyer in this sale too: noted once
                self._noted[(user, sale_id)] = None
                if len(self._noted) > NOTED_MAX:
                    del self._noted[next(iter(self._noted))]
        self.tally.buys[result.code] += 1
        if result.code in (BuyCode.OK, BuyCode.DUPLICATE, BuyCode.SOLD_OUT, BuyCode.LIMIT_REACHED):
            self.admission.observe_stock(sale_id, result.available, time.monotonic())
        if result.code not in ANSWERS:
            if result.code is BuyCode.NOT_FOUND:
                raise errors.not_found(f"unknown sale {errors.echo(sale_id)}")
            raise errors.bad_request(f"bad {result.detail or 'request'}", field=result.detail)
        return buy_view(result)

    async def ws_buy(self, conn: Connection, cmd: Command) -> dict[str, Any]:
        """The websocket ``buy`` command (viewers only)."""
        return await self.buy(require_viewer(conn.identity), cmd.args["sale"], str(cmd.id), cmd.args, conn.guide)

    async def grab(self, user: str, coupon_id: str, guide_id: str | None = None) -> dict[str, Any]:
        """Grab a coupon; ``guide_id`` is the user's attributed guide (for guide-only drops)."""
        wait = self.quotas.grabs.take(user, time.monotonic())
        if wait:
            self.tally.coupon_grabs[RATE_LIMITED] += 1
            raise errors.rate_limited("too many grabs: slow down", wait)
        result = await self.coupons.grab(coupon_id, user, guide=guide_id)
        self.tally.coupon_grabs[result.code] += 1
        if result.code.value == "not_found":
            raise errors.not_found(f"unknown coupon {errors.echo(coupon_id)}")
        return grab_view(coupon_id, result)

    async def ws_grab(self, conn: Connection, cmd: Command) -> dict[str, Any]:
        """The websocket ``coupon.grab`` command (viewers only)."""
        return await self.grab(require_viewer(conn.identity), cmd.args["coupon"], conn.guide)

    async def pay(self, reservation_id: str, payment_ref: str, user: str | None = None) -> dict[str, Any]:
        """Pay a reservation; ``user`` (the demo's own payment) must be the buyer."""
        if user is not None:
            reservation = await self.sales.get_reservation(reservation_id)
            if reservation is None or reservation.user_id != user:
                raise errors.not_found(f"unknown reservation {errors.echo(reservation_id)}")
        result = await self.sales.pay(reservation_id, payment_ref)
        if result.code is PayCode.NOT_FOUND:
            raise errors.not_found(f"unknown reservation {errors.echo(reservation_id)}")
        out: dict[str, Any] = {"status": result.code.value, "reservation": reservation_id}
        if result.order is not None:
            order = result.order
            out.update(order_view(order))
            if result.code is PayCode.PAID:
                self.tally.orders += 1
                self.tally.gmv_cents += order.amount_cents
                await self._notify_order(order.venue, out)
        return out

    async def notify_order(self, venue: str, order: dict[str, Any]) -> None:
        """An ``order`` frame for the venue's hosts and the main host (pre-sale orders use it too)."""
        await self._notify_order(venue, order)

    async def _notify_order(self, venue: str, order: dict[str, Any]) -> None:
        """Hosts of the venue (and the main host) see each confirmed order (not viewers)."""
        message = frames.order(venue, order, now_ms())
        hosts = {h for h in self.festival.venues[venue].hosts} | set(
            self.festival.venues[self.festival.main_venue].hosts
        )
        for host in hosts:  # undroppable: a paused host gets it on resume (or reconnects past the backlog)
            key = UNDROPPABLE + "o" + uuid.uuid4().hex[:12]
            await self.broker.publish_volatile(host_channel(host), key, message)
