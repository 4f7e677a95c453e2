"""A store's own storefront, for its staff: pickups to hand over, the hand-over itself (核销), and
its stock per sku with audited adjustments.

Who may do what is the role table's (livehub.domain.access): reading and handing over, the
store's staff, a host of its brand or the main host, an admin; adjusting stock, the store's
staff or an admin.  A store's orders (``GET /api/stores/{store}/orders``) are
livehub.web.routes_host's.
"""

from __future__ import annotations

from typing import Any

from livehub import errors
from livehub.domain.ids import valid_request_id
from livehub.domain.topology import Festival, Store
from livehub.errors import LivehubError
from livehub.store.orders import Order, OrderStore
from livehub.store.pickups import Pickups, VerifyCode
from livehub.store.store_stock import AdjustCode, StoreStock

View = dict[str, Any]


def store_view(store: Store) -> View:
    return {"id": store.id, "name": store.name, "brand": store.brand, "address": store.address}


class Storefront:
    def __init__(
        self, festival: Festival, orders: OrderStore, pickups: Pickups, stock: StoreStock, max_delta: int = 100_000
    ) -> None:
        self.festival = festival
        self.orders = orders
        self.pickups = pickups
        self.stock = stock
        self.max_delta = max_delta

    def _order_view(self, order: Order) -> View:
        product = self.festival.products.get(order.sku)
        return {"order": order.order_id, "sale": order.sale_id, "sku": order.sku,
                "title": product.title if product else order.sku, "qty": order.qty,
                "amount_cents": order.amount_cents, "user": order.user_id,
                "created_at_ms": order.created_at_ms}  # fmt: skip

    async def pickups_view(self, store: Store, limit: int) -> View:
        """The store's latest pickup orders: waiting first (oldest first), then handed over (newest first).
        The codes are not in it: the buyer shows theirs."""
        orders = [o for o in await self.orders.orders_of_store(store.id, limit) if o.fulfilment.mode == "pickup"]
        states = await self.pickups.of_orders([(store.id, o.order_id) for o in orders])
        waiting, done = [], []
        for order, pickup in zip(orders, states, strict=True):
            row = self._order_view(order)
            if pickup is not None and pickup.picked_up_at_ms is not None:
                done.append({**row, "state": "picked_up", "picked_up_at_ms": pickup.picked_up_at_ms,
                             "picked_up_by": pickup.picked_up_by})  # fmt: skip
            else:
                waiting.append({**row, "state": "waiting", "picked_up_at_ms": None, "picked_up_by": None})
        waiting.sort(key=lambda r: r["created_at_ms"])
        return {"store": store_view(store), "waiting": waiting, "picked_up": done}

    async def verify(self, store: Store, code: str, staff: str) -> View:
        """Hand over the order of ``code``: ``{"status": "picked_up", ...the order}``, once.  Later verifies of
        the same code: ``already_picked_up`` (409); an unknown code: ``not_found``; too many wrong codes at
        the store: ``rate_limited``."""
        result = await self.pickups.verify(store.id, code, staff)
        if result.code is VerifyCode.RATE_LIMITED:
            raise errors.rate_limited("too many wrong pickup codes at this store: wait", result.retry_after_ms / 1000)
        if result.code is VerifyCode.NOT_FOUND or result.order_id is None:
            raise errors.not_found("no such pickup code at this store")
        if result.code is VerifyCode.ALREADY_PICKED_UP:
            raise LivehubError(errors.ALREADY_PICKED_UP, "this order was picked up already", order=result.order_id,
                               picked_up_at_ms=result.picked_up_at_ms, picked_up_by=result.picked_up_by)  # fmt: skip
        order = await self.orders.get(result.order_id)
        view = self._order_view(order) if order is not None else {"order": result.order_id}
        return {"status": "picked_up", **view, "picked_up_at_ms": result.picked_up_at_ms,
                "picked_up_by": result.picked_up_by}  # fmt: skip

    async def stock_view(self, store: Store) -> View:
        """Every product of the store's brand: units on hand and units held for unpaid reservations."""
        on_hand, held = await self.stock.levels(store.id)
        skus = sorted({p.sku for p in self.festival.products.values() if p.brand == store.brand} | set(on_hand))
        rows = []
        for sku in skus:
            product = self.festival.products.get(sku)
            rows.append({"sku": sku, "title": product.title if product else sku, "units": on_hand.get(sku, 0),
                         "held": held.get(sku, 0)})  # fmt: skip
        return {"store": store_view(store), "stock": rows}

    async def adjust(self, store: Store, sku: Any, delta: Any, request_id: Any, who: str) -> View:
        """Add ``delta`` units of ``sku`` (a product of the store's brand) at the store, once per ``request_id``."""
        if not valid_request_id(request_id):
            raise errors.bad_request("'id' (the request id) must be 1-64 printable characters", field="id")
        product = self.festival.products.get(sku) if isinstance(sku, str) else None
        if sku is None or not isinstance(sku, str):
            raise errors.bad_request("'sku' is required", field="sku")
        if product is None or product.brand != store.brand:
            raise errors.bad_request(f"sku {errors.echo(sku)} is not a product of this store's brand", field="sku")
        if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0 or abs(delta) > self.max_delta:
            raise errors.bad_request(f"'delta' must be a non-zero integer within +-{self.max_delta}", field="delta")
        result = await self.stock.adjust(store.id, sku, delta, who, request_id)
        if result.code is AdjustCode.BELOW_ZERO:
            raise errors.bad_request(f"the store has {result.units} units of {sku}: cannot take {-delta}",
                                     field="delta", units=result.units)  # fmt: skip
        return {"status": result.code.value, "store": store.id, "sku": sku, "units": result.units}
