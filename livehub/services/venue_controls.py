"""What hosts drive in a venue: free-form events, product cards, flash sales (schedule,
start, end), coupon drops, the main venue's visit calls to action and co-host link-ups, and
the relay of co-host signalling messages between hosts.

Each change of a venue is a channel event with latest-value state, so it is in every
snapshot and replayed on resume.  Requests arrive parsed (``SaleDraft``, ``CouponDraft``,
plain arguments), their product, issuer and brand resolved first (``product_of_venue``,
``coupon_issuer``, ``coupon_brand``); who may drive what is checked before
(livehub.domain.roles).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from livehub import errors
from livehub.backplane.broker import Broker, StateOp
from livehub.domain.roles import brand_venue_or_404, require_host
from livehub.domain.sale_rules import SaleSpec, SaleSpecError
from livehub.domain.tokens import Identity
from livehub.domain.topology import Festival, Product, host_channel
from livehub.errors import LivehubError
from livehub.protocol import frames
from livehub.protocol.commands import check_nesting
from livehub.protocol.events import now_ms
from livehub.services.sale_registry import SaleRegistry
from livehub.services.views import card_view, coupon_public, sale_public, sale_state_view
from livehub.store.coupons import CouponSpec, CouponSpecError, CouponStore
from livehub.store.sales import SaleStore

log = logging.getLogger("livehub.services.venue_controls")

KIND_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,39}$")
RESERVED_KINDS = ("card.", "sale.", "coupon.", "cta.", "cohost.")  # only their own endpoints publish these
Published = tuple[str, int]  # (epoch, offset) of the event
DEFAULT_BRAND: Any = object()  # coupon_brand without a brand: the venue's


@dataclass(frozen=True, slots=True)
class SaleDraft:
    """A host's new sale as requested (the product resolved by :meth:`VenueControls.product_of_venue`);
    ``None`` means "the default" (see :meth:`VenueControls.create_sale`)."""

    product: Product
    sale_id: Any = None
    stock: int = 0
    price_cents: int | None = None  # default: the product's price
    per_user_limit: int = 1
    starts_at_ms: int | None = None  # default: now + starts_in_s
    starts_in_s: int = 0
    ends_at_ms: int | None = None  # default: starts + duration_s
    duration_s: int = 600
    reservation_ttl_s: int = 300


@dataclass(frozen=True, slots=True)
class CouponDraft:
    """A host's coupon drop as requested (issuer and brand resolved by :meth:`VenueControls.coupon_issuer`
    and :meth:`VenueControls.coupon_brand`)."""

    issuer: str  # the host, or the shopping guide it drops for
    brand: Any  # only for this brand's sales; None: any brand
    coupon_id: Any = None
    value_cents: int = 0
    min_spend_cents: int = 0
    per_user_limit: int = 1
    total: int = 0
    expires_at_ms: int | None = None  # default: now + expires_in_s
    expires_in_s: int = 3600


async def publish_sale(broker: Broker, festival: Festival, spec: SaleSpec, kind: str, **extra: Any) -> Published:
    """A ``sale.*`` event in the sale's venue, with the public sale as latest-value state ``sale:<id>``."""
    public = sale_public(festival, spec, **extra)
    return await broker.publish(spec.venue, kind, {"sale": public}, (StateOp(f"sale:{spec.sale_id}", public),))


class VenueControls:
    def __init__(
        self, festival: Festival, broker: Broker, registry: SaleRegistry, sales: SaleStore, coupons: CouponStore,
        *, max_signal_bytes: int,
    ) -> None:  # fmt: skip
        self.festival = festival
        self.broker = broker
        self.registry = registry
        self.sales = sales
        self.coupons = coupons
        self.max_signal_bytes = max_signal_bytes

    # ---- events -------------------------------------------------------------------------------
    async def publish_event(self, venue: str, kind: Any, data: Any) -> Published:
        """A free-form host event (an announcement, a bench tick); reserved kinds have their own controls."""
        if not isinstance(kind, str) or not KIND_RE.match(kind):
            raise errors.bad_request("'kind' must match " + KIND_RE.pattern)
        if kind.startswith(RESERVED_KINDS):
            raise errors.bad_request(f"'kind' {kind!r} is reserved: use its own endpoint")
        check_nesting(data, "data")
        return await self.broker.publish(venue, kind, data)

    async def visit_cta(self, main_venue: str, by: str, target: str, text: str) -> Published:
        """The main host sends its audience into a brand room: a ``cta.visit`` event on main."""
        brand_venue_or_404(self.festival, target)
        title = self.festival.venues[target].title
        data = {"target": target, "title": title, "by": by, "text": text[:200], "at": now_ms()}
        return await self.broker.publish(main_venue, "cta.visit", data, (StateOp("cta", data),))

    async def cohost_start(self, main_venue: str, main_host: str, brand_venue: str) -> tuple[Published, dict[str, Any]]:
        """Link the main venue up with a brand venue: ``cohost.started`` on both, latest-value ``cohost``.
        A link-up with another brand venue still on is ended there first (``cohost.ended``, as on DELETE)."""
        brand_venue_or_404(self.festival, brand_venue)
        brand_hosts = self.festival.venues[brand_venue].hosts
        linked = await self._linked_brand_venue(main_venue)
        if linked is not None and linked != brand_venue:
            ended = {"active": False, "by": main_host, "since": now_ms()}
            await self.broker.publish(linked, "cohost.ended", ended, (StateOp("cohost", None),))
        data = {"active": True, "main_host": main_host, "brand_venue": brand_venue,
                "brand_host": brand_hosts[0] if brand_hosts else None, "since": now_ms()}  # fmt: skip
        await self.broker.publish(brand_venue, "cohost.started", data, (StateOp("cohost", data),))
        return await self.broker.publish(main_venue, "cohost.started", data, (StateOp("cohost", data),)), data

    async def cohost_end(self, main_venue: str, by: str) -> tuple[Published, dict[str, Any]]:
        """End the link-up: ``cohost.ended`` on the linked brand venue (if any) and on main."""
        linked = await self._linked_brand_venue(main_venue)
        data: dict[str, Any] = {"active": False, "by": by, "since": now_ms()}
        if linked is not None:
            await self.broker.publish(linked, "cohost.ended", data, (StateOp("cohost", None),))
        return await self.broker.publish(main_venue, "cohost.ended", data, (StateOp("cohost", None),)), data

    async def _linked_brand_venue(self, main_venue: str) -> str | None:
        """The brand venue the main venue's ``cohost`` state links up with, if any."""
        current = (await self.broker.snapshot(main_venue)).state.get("cohost")
        linked = current.get("brand_venue") if isinstance(current, dict) else None
        return linked if isinstance(linked, str) else None

    async def signal(self, sender: Identity, to: str, data: dict[str, Any]) -> None:
        """Relay a co-host signalling message (SDP/ICE ...) from one host to another."""
        require_host(sender, "exchange co-host signals")
        if to not in self.festival.hosts:
            raise errors.not_found(f"unknown host {to!r}")
        check_nesting(data, "data")
        try:
            size = len(orjson.dumps(data))
        except orjson.JSONEncodeError as exc:  # e.g. binary keys or values from a msgpack client
            raise errors.bad_request(f"'data' cannot be relayed: {exc}", field="data") from None
        if size > self.max_signal_bytes:
            raise errors.LivehubError(errors.TOO_LARGE, "signal data too large")
        message = frames.signal(sender.sub, data, now_ms())
        await self.broker.publish_volatile(host_channel(to), "!s" + uuid.uuid4().hex[:12], message)

    # ---- cards --------------------------------------------------------------------------------
    def product_of_venue(self, venue: str, sku: Any) -> Product:
        """The product ``sku`` if the venue may sell it (its brand's; the main venue: any)."""
        if sku is None or not isinstance(sku, str):
            raise errors.bad_request("'sku' is required: a string", field="sku")
        product = self.festival.products.get(sku)
        if product is None:
            raise errors.not_found(f"unknown sku {sku!r}")
        brand_of_venue = self.festival.venues[venue].brand
        if brand_of_venue is not None and product.brand != brand_of_venue:
            raise errors.bad_request(f"sku {sku!r} is not a product of this venue's brand")
        return product

    async def pin_card(self, venue: str, sku: str, sale_id: str | None, coupon_id: str | None) -> Published:
        product = self.product_of_venue(venue, sku)
        pinned_at = now_ms()
        if sale_id is not None:
            spec = await self.registry.spec(sale_id)
            if spec.sku != sku:
                raise errors.bad_request("the attached sale sells another sku")
        if coupon_id is not None and await self.coupons.get(coupon_id) is None:
            raise errors.not_found(f"unknown coupon {coupon_id!r}")
        card = card_view(product, pinned_at, sale_id, coupon_id)
        return await self.broker.publish(venue, "card.pinned", {"card": card}, (StateOp("card", card),))

    async def unpin_card(self, venue: str) -> Published:
        return await self.broker.publish(venue, "card.unpinned", {}, (StateOp("card", None),))

    # ---- sales --------------------------------------------------------------------------------
    async def create_sale(self, venue: str, draft: SaleDraft) -> dict[str, Any]:
        """Schedule a sale of a product of the venue's brand and announce it (``sale.scheduled``)."""
        product = draft.product
        now = await self.sales.server_time_ms()
        starts = draft.starts_at_ms if draft.starts_at_ms is not None else now + 1000 * draft.starts_in_s
        ends = draft.ends_at_ms if draft.ends_at_ms is not None else starts + 1000 * draft.duration_s
        sale_id = draft.sale_id or f"s-{uuid.uuid4().hex[:10]}"
        price = draft.price_cents if draft.price_cents is not None else product.price_cents
        try:
            spec = SaleSpec(
                sale_id=sale_id, venue=venue, brand=product.brand, sku=product.sku,
                stock=draft.stock, price_cents=price,
                per_user_limit=draft.per_user_limit, starts_at_ms=starts, ends_at_ms=ends,
                reservation_ttl_s=draft.reservation_ttl_s,
            )  # fmt: skip
        except SaleSpecError as exc:
            raise errors.bad_request(str(exc), field=exc.field) from None
        if not await self.sales.create(spec):
            raise LivehubError(errors.BAD_REQUEST, f"sale {sale_id!r} exists already")
        self.registry.created(spec)
        epoch, offset = await publish_sale(self.broker, self.festival, spec, "sale.scheduled")
        return {"sale": sale_public(self.festival, spec), "epoch": epoch, "offset": offset}

    async def sale_window(self, venue: str, sale_id: str, action: str) -> dict[str, Any]:
        """Open (``start``) or close (``end``) a sale's window now, and announce it."""
        spec = await self.registry.spec(sale_id)
        if spec.venue != venue:
            raise errors.not_found(f"sale {sale_id!r} is not in venue {venue!r}")
        try:
            new = await (self.sales.start_now(sale_id) if action == "start" else self.sales.end_now(sale_id))
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None
        if new is None:
            raise errors.not_found(f"unknown sale {sale_id!r}")
        self.registry.changed(new)
        kind = "sale.started" if action == "start" else "sale.ended"
        epoch, offset = await publish_sale(self.broker, self.festival, new, kind)
        return {"sale": sale_public(self.festival, new), "epoch": epoch, "offset": offset}

    async def sale_state(self, sale_id: str) -> dict[str, Any]:
        """A sale's public spec, its counts and phase (server time)."""
        state = await self.sales.get_state(sale_id)
        if state is None:
            raise errors.not_found(f"unknown sale {sale_id!r}")
        return sale_state_view(self.festival, state, state.phase(await self.sales.server_time_ms()))

    # ---- coupons ------------------------------------------------------------------------------
    def coupon_issuer(self, venue: str, host: str, guide: Any) -> str:
        """Who issues a drop: the host, or one of its brand's shopping guides it drops for."""
        if guide is None:
            return host
        g = self.festival.guides.get(guide) if isinstance(guide, str) else None
        if g is None:
            raise errors.not_found(f"unknown guide {guide!r}")
        venue_brand = self.festival.venues[venue].brand
        if venue_brand is not None and g.brand != venue_brand:
            raise errors.forbidden(f"guide {guide!r} is not of this venue's brand")
        return g.id

    def coupon_brand(self, venue: str, brand: Any = DEFAULT_BRAND) -> Any:
        """The brand a drop is for: by default the venue's; a brand venue drops its own brand's only."""
        venue_brand = self.festival.venues[venue].brand
        if brand is DEFAULT_BRAND:
            return venue_brand
        if venue_brand is not None and brand != venue_brand:
            raise errors.forbidden("a brand venue drops coupons of its own brand only")
        return brand

    async def drop_coupons(self, venue: str, draft: CouponDraft) -> dict[str, Any]:
        """Drop ``total`` coupons into the venue (``coupon.dropped``)."""
        now = await self.sales.server_time_ms()
        expires = draft.expires_at_ms if draft.expires_at_ms is not None else now + 1000 * draft.expires_in_s
        try:
            spec = CouponSpec(
                coupon_id=draft.coupon_id or f"c-{uuid.uuid4().hex[:10]}", venue=venue, issuer=draft.issuer,
                value_cents=draft.value_cents, min_spend_cents=draft.min_spend_cents,
                per_user_limit=draft.per_user_limit, total=draft.total, expires_at_ms=expires, brand=draft.brand,
            )  # fmt: skip
        except (CouponSpecError, SaleSpecError) as exc:
            raise errors.bad_request(str(exc), field=getattr(exc, "field", None)) from None
        if not await self.coupons.drop(spec):
            raise errors.bad_request(f"coupon {spec.coupon_id!r} exists already")
        public = coupon_public(spec)
        epoch, offset = await self.broker.publish(
            venue, "coupon.dropped", {"coupon": public}, (StateOp(f"coupon:{spec.coupon_id}", public),)
        )
        return {"coupon": public, "epoch": epoch, "offset": offset}
