"""A buyer's own orders, from Redis: ``GET /api/me/orders`` and the websocket ``orders`` command.

The list is the buyer's index (livehub.store.my_orders), newest first, each entry read from
where its thing lives and shown by the resolver of its kind (:attr:`MyOrders.resolvers`):

* ``sale``: a flash sale the buyer bought in, one entry however many buys: it lists every
  reservation of theirs in the sale, from the sale's own list (buy.lua appends each new one in
  the same step that makes it), each shown as a ``reservation``;
* ``reservation``: the flash-sale reservation (``reservation_view``: state, pay-by deadline, the
  order once paid, the fulfilment), the product, and for a pickup order its store's name,
  address and distance and, once paid, the pickup code and whether it was picked up.

Another kind (a group buy, a pre-sale) adds one resolver: ``resolvers[kind] = fn``, where ``fn``
takes the user id and that kind's entries and returns one view (a dict) per entry, or None for
an entry whose thing does not exist (hidden, and pruned once older than the index's grace); and
the use-case that creates the thing calls ``index.note`` before answering (and ``index.drop``
when it failed), as buys do with :meth:`MyOrders.note_sale_soon` (livehub.services.buying).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from livehub.domain.roles import require_viewer
from livehub.domain.topology import Festival
from livehub.hub.connection import Connection
from livehub.protocol.commands import Command
from livehub.services.views import reservation_view
from livehub.store.my_orders import RESERVATION, SALE, Entry, UserOrders
from livehub.store.pickups import Pickups
from livehub.store.sales import Reservation

View = dict[str, Any]
Resolver = Callable[[str, Sequence[Entry]], Awaitable[list[View | None]]]


def _now_ms() -> int:
    return int(time.time() * 1000)


class MyOrders:
    def __init__(self, festival: Festival, index: UserOrders, pickups: Pickups) -> None:
        self.festival = festival
        self.index = index
        self.pickups = pickups
        self.resolvers: dict[str, Resolver] = {RESERVATION: self._reservations, SALE: self._no_reservation}

    # ---- writing: the buy notes its reservation before it is answered -----------------------
    def note_sale_soon(self, user: str, venue: str, sale_id: str) -> asyncio.Future[Any]:
        """Note the buyer's entry of a flash sale (every reservation they have in it, from the sale's own
        list), queued now, in the pipeline of the buy queued right after it: await it before the buy's
        answer leaves.  One entry per buyer and sale, however many buys (livehub.services.buying)."""
        return self.index.note_soon(user, SALE, venue, sale_id, _now_ms())

    async def drop_sale(self, user: str, venue: str, sale_id: str) -> None:
        await self.index.drop(user, SALE, venue, sale_id)

    # ---- reading ------------------------------------------------------------------------------
    async def of_user(self, user: str) -> View:
        """``{"orders": [...]}``, newest first: every entry whose thing exists, shown by its kind."""
        entries, listed = await self._expand_sales(user, await self.index.entries(user))
        by_kind: dict[str, list[Entry]] = {}
        for entry in entries:
            by_kind.setdefault(entry.kind, []).append(entry)
        shown: dict[str, View] = {}
        gone: list[Entry] = []
        for kind, group in by_kind.items():
            resolver = self.resolvers.get(kind)
            if resolver is None:  # a kind this node does not know (a newer node wrote it): not shown, kept
                continue
            for entry, view in zip(group, await resolver(user, group), strict=True):
                if view is None:
                    gone.append(entry)
                else:
                    shown[entry.member] = {"kind": entry.kind, "venue": entry.venue, "noted_at_ms": entry.noted_at_ms,
                                           **view}  # fmt: skip
        gone = [e for e in gone if e.member not in listed]  # a sale's reservation is no entry of the index
        if gone:
            await self.index.prune(user, gone, _now_ms())
        return {"orders": [shown[e.member] for e in entries if e.member in shown]}

    async def _expand_sales(self, user: str, entries: list[Entry]) -> tuple[list[Entry], set[str]]:
        """Each ``sale`` entry becomes a ``reservation`` entry per reservation the buyer has in that sale
        (newest first, noted when the sale's entry was), and the members made so; a sale entry with none
        stays, to be hidden and pruned after the grace (:meth:`_no_reservation`)."""
        sales = [e for e in entries if e.kind == SALE]
        if not sales:
            return entries, set()
        ids = dict(zip((e.id for e in sales), await self.index.reservation_ids(user, [e.id for e in sales]),
                       strict=True))  # fmt: skip
        out: list[Entry] = []
        seen: set[str] = set()
        made: set[str] = set()
        for entry in entries:
            expanded = [Entry(RESERVATION, entry.venue, rid, entry.noted_at_ms) for rid in reversed(ids[entry.id])] \
                if entry.kind == SALE and ids[entry.id] else [entry]  # fmt: skip
            for one in expanded:
                if one.member not in seen:
                    seen.add(one.member)
                    out.append(one)
                    if one is not entry:
                        made.add(one.member)
        return out, made

    async def _no_reservation(self, user: str, entries: Sequence[Entry]) -> list[View | None]:
        """A sale entry with no reservation in the sale (a buy noted that never ran, or a sale whose keys
        expired): nothing to show."""
        return [None] * len(entries)

    async def ws_orders(self, conn: Connection, cmd: Command) -> View:
        """The websocket ``orders`` command (buyers): the same answer as ``GET /api/me/orders``."""
        return await self.of_user(require_viewer(conn.identity))

    async def _reservations(self, user: str, entries: Sequence[Entry]) -> list[View | None]:
        found = await self.index.reservations([e.id for e in entries])
        mine = [r if r is not None and r.user_id == user else None for r in found]
        skus = await self.index.sale_skus([r.sale_id for r in mine if r is not None])
        paid_pickups = [pair for pair in map(_paid_pickup, mine) if pair is not None]
        codes = dict(zip(paid_pickups, await self.pickups.of_orders(paid_pickups), strict=True))
        out: list[View | None] = []
        for r in mine:
            if r is None:
                out.append(None)
                continue
            view = reservation_view(r)
            product = self.festival.products.get(skus.get(r.sale_id, ""))
            view.update(sku=product.sku if product else skus.get(r.sale_id), title=product.title if product else None,
                        image_url=product.image_url if product else None)  # fmt: skip
            if r.fulfilment is not None and r.fulfilment.store_id is not None:
                store = self.festival.stores.get(r.fulfilment.store_id)
                pickup = codes.get((r.fulfilment.store_id, r.order_id or "")) if r.order_id else None
                view["pickup"] = {
                    "store": r.fulfilment.store_id, "name": store.name if store else r.fulfilment.store_id,
                    "address": store.address if store else "", "distance_km": view["distance_km"],
                    "code": pickup.code if pickup else None,
                    "picked_up_at_ms": pickup.picked_up_at_ms if pickup else None,
                }  # fmt: skip
            out.append(view)
        return out


def _paid_pickup(r: Reservation | None) -> tuple[str, str] | None:
    """(store id, order id) of a paid pickup order."""
    if r is None or r.order_id is None or r.fulfilment is None or r.fulfilment.store_id is None:
        return None
    return r.fulfilment.store_id, r.order_id
