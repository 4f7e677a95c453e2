"""A venue's product shelf (the "shopping bag") and the pinned card's own Buy button.

The shelf (rules: livehub.domain.shelf) is latest-value state ``shelf`` of the venue's channel,
``{"items": [{sku, title, price_cents, image_url, sale?, group?, coupon?}, ...], "updated_at"}``,
so it is in every join snapshot; each change is one ``shelf.updated`` event carrying the whole
list (latest value wins).  The host sets the whole ordered list at once: reordering is setting
it again.  Each sku must be a product the venue may sell, an attached sale must sell that sku in
this venue, an attached coupon must exist; a group deal id is carried as an opaque id.

**The pinned card's Buy button.**  A card pinned without a sale is still buyable at the
product's regular price: pinning it makes sure a *regular-price sale* of the product exists
(:meth:`CardSales.ensure`) and names it in the card (``buy_sale``).  It is an ordinary sale
(so the same buy, reservation, payment, routing, expiry and idempotency apply): its id is
derived from venue, sku and a window of ``card_sale_window_s``, it is open for that window
and the next (so a card pinned at any time stays buyable at least ``card_sale_window_s``), its
stock is ``card_sale_stock`` and its limit ``card_sale_per_user_limit``.  Its stock is a cap;
the units themselves come from the stores: a buy with a location takes the nearest store's
units (store_take.lua), and without one (or no store has it) the brand's warehouse delivers.
It is not announced as a flash sale (no ``sale:<id>`` state), so viewers see it only as the
card's Buy button.
"""

from __future__ import annotations

import hashlib
from typing import Any

from livehub import errors
from livehub.backplane.broker import Broker, StateOp
from livehub.domain.sale_rules import SaleSpec, SaleSpecError
from livehub.domain.shelf import ShelfError, parse_shelf
from livehub.domain.topology import Festival, Product
from livehub.protocol.events import now_ms
from livehub.services.sale_registry import SaleRegistry
from livehub.services.venue_controls import Published, VenueControls
from livehub.settings import Settings
from livehub.store.sales import SaleStore


class Shelf:
    def __init__(self, festival: Festival, broker: Broker, controls: VenueControls, *, max_items: int) -> None:
        self.festival = festival
        self.broker = broker
        self.controls = controls
        self.max_items = max_items

    async def set(self, venue: str, items: Any) -> tuple[Published, dict[str, Any]]:
        """Put ``items`` (the host's order) on the venue's shelf: ``shelf.updated`` with the whole list."""
        try:
            parsed = parse_shelf(items, self.max_items)
        except ShelfError as exc:
            raise errors.bad_request(str(exc), field=exc.field) from None
        out = []
        for i, item in enumerate(parsed):
            product = self.controls.product_of_venue(venue, item.sku)
            if item.sale is not None:
                spec = await self.controls.registry.spec(item.sale)
                if spec.sku != item.sku or spec.venue != venue:
                    raise errors.bad_request(f"items[{i}].sale sells another sku or in another venue",
                                             field=f"items[{i}].sale")  # fmt: skip
            if item.coupon is not None and await self.controls.coupons.get(item.coupon) is None:
                raise errors.not_found(f"unknown coupon {item.coupon!r}", field=f"items[{i}].coupon")
            out.append({**item.to_dict(), "title": product.title, "brand": product.brand,
                        "price_cents": product.price_cents, "list_price_cents": product.list_price_cents,
                        "image_url": product.image_url})  # fmt: skip
        shelf = {"items": out, "updated_at": now_ms()}
        published = await self.broker.publish(venue, "shelf.updated", {"shelf": shelf}, (StateOp("shelf", shelf),))
        return published, shelf

    async def clear(self, venue: str) -> Published:
        return await self.broker.publish(venue, "shelf.updated", {"shelf": None}, (StateOp("shelf", None),))


class CardSales:
    """The regular-price sale behind a pinned card without a sale (see the module docstring)."""

    def __init__(self, settings: Settings, registry: SaleRegistry, sales: SaleStore) -> None:
        self.window_ms = 1000 * settings.card_sale_window_s
        self.stock = settings.card_sale_stock
        self.per_user_limit = settings.card_sale_per_user_limit
        self.registry = registry
        self.sales = sales

    def sale_id(self, venue: str, sku: str, window: int) -> str:
        digest = hashlib.blake2b(f"{venue}\n{sku}".encode(), digest_size=8).hexdigest()
        return f"card-{digest}-{window}"

    async def ensure(self, venue: str, product: Product) -> str:
        """The id of the product's regular-price sale in ``venue`` open now (created once, any node)."""
        window = await self.sales.server_time_ms() // self.window_ms
        sale_id = self.sale_id(venue, product.sku, window)
        try:
            spec = SaleSpec(
                sale_id=sale_id, venue=venue, brand=product.brand, sku=product.sku, stock=self.stock,
                price_cents=product.price_cents, per_user_limit=self.per_user_limit,
                starts_at_ms=window * self.window_ms, ends_at_ms=(window + 2) * self.window_ms,
            )  # fmt: skip
        except SaleSpecError as exc:  # card_sale_* settings out of a sale's bounds
            raise errors.bad_request(f"the card's regular-price sale: {exc}", field=exc.field) from None
        if await self.sales.create(spec):
            self.registry.created(spec)
        return sale_id
