"""Commerce on a node: the adapter between the hub and the Redis commerce layer.

* websocket ``buy`` and ``coupon.grab`` (and their HTTP twins), behind the
  node-local admission gate (``admission.Admission``);
* the host controls: pin/unpin product cards, schedule/start/end flash sales,
  drop coupons; each change is a channel event with latest-value state, so it
  is in every snapshot and replayed on resume;
* the live stock counter: every ``stock_interval_s`` the node reads the stock
  of the sales its viewers can see (one pipelined round trip) and pushes a
  latest-value ``stock`` frame when it changed; "sold out" is announced once
  per sell-out (a SET NX marker keyed by how much stock ever came back);
* the sweeper: expires unpaid reservations and relays outbox effects, on every
  node (the scripts make that safe);
* the guide leaderboard, pushed to connected hosts.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import uuid
from dataclasses import asdict
from typing import Any

from redis.asyncio import Redis

from livehub import errors
from livehub.backplane.broker import StateOp
from livehub.domain.admission import Admission, Decision
from livehub.domain.attribution import credit_for, hour_bucket
from livehub.domain.sale_rules import BuyCode, BuyRequest, BuyRequestError, Location, SaleSpec, SaleSpecError
from livehub.domain.topology import host_channel
from livehub.errors import LivehubError
from livehub.hub.connection import Connection
from livehub.node import Node
from livehub.protocol.commands import Command
from livehub.protocol.events import now_ms
from livehub.runtime.periodic import Periodic
from livehub.store.coupons import CouponSpec, CouponSpecError, CouponStore
from livehub.store.guides import GuideBoard
from livehub.store.orders import OrderStore
from livehub.store.sales import BuyResult, PayCode, Reservation, SaleStore
from livehub.store.scripts import Scripts
from livehub.store.stores import StoreIndex

log = logging.getLogger("livehub.services.commerce")

# buy outcomes answered as a reply (an answer about the sale); the rest are error frames
ANSWERS = {BuyCode.OK, BuyCode.DUPLICATE, BuyCode.NOT_STARTED, BuyCode.ENDED, BuyCode.SOLD_OUT,
           BuyCode.LIMIT_REACHED, BuyCode.BAD_QUANTITY, BuyCode.COUPON_INVALID, BuyCode.BUSY}  # fmt: skip
SIGNATURE_HEADER = "x-livehub-signature"


def payment_signature(secret: str, body: bytes) -> str:
    """What a payment provider puts in ``X-Livehub-Signature`` for a callback body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def reservation_view(r: Reservation) -> dict[str, Any]:
    f = r.fulfilment
    return {
        "reservation": r.reservation_id, "sale": r.sale_id, "state": r.state, "qty": r.qty,
        "unit_price_cents": r.unit_price_cents, "discount_cents": r.discount_cents, "amount_cents": r.amount_cents,
        "coupon": r.coupon_id, "pay_by": r.deadline_ms, "order": r.order_id,
        "mode": f.mode if f else None, "store": f.store_id if f else None,
        "distance_km": round(f.distance_km, 3) if f and f.distance_km is not None else None,
        "pickup_fallback": f.fallback if f else False,
    }  # fmt: skip


def buy_view(result: BuyResult) -> dict[str, Any]:
    out: dict[str, Any] = {"status": result.code.value, "sale": result.sale_id, "available": result.available}
    if result.reservation is not None:
        out.update(reservation_view(result.reservation))
    if result.starts_at_ms is not None:
        out["starts_at_ms"] = result.starts_at_ms
    if result.detail:
        out["detail"] = result.detail
    return out


class Commerce:
    def __init__(self, node: Node, redis: Redis | None = None) -> None:
        s = node.settings
        self.node = node
        redis = redis or node.redis
        keys = node.keys
        self.scripts = Scripts(redis, batch=True, connections=s.redis_script_connections)
        self.guides = GuideBoard(redis, keys, self.scripts, node.festival.commission_rate)
        self.orders = OrderStore(redis, keys, guides=self.guides)
        self.coupons = CouponStore(redis, keys, self.scripts)
        self.stores = StoreIndex(redis, keys, self.scripts, node.festival)
        self.sales = SaleStore(redis, keys, self.scripts, stores=self.stores, coupons=self.coupons, orders=self.orders)
        self.admission = Admission(rate=s.admission_rate, burst=s.admission_burst)
        self.redis = redis
        self.specs: dict[str, SaleSpec] = {}  # sale id -> spec (immutable but for the window)
        self.venue_sales: dict[str, list[str]] = {}  # venue -> sale ids, refreshed by the sweeper
        self.stock: dict[str, int] = {}  # last stock pushed per sale
        self.jobs = Periodic()
        node.command_handlers["buy"] = self.ws_buy
        node.command_handlers["coupon.grab"] = self.ws_grab
        node.counter_sources.append(self.counters)
        node.on_start.append(self.start)
        node.on_stop.append(self.stop)

    # ---- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        await self._load_stores_once()
        await self.refresh_sales()
        s = self.node.settings
        self.jobs.start(s.stock_interval_s, self.push_stock, "stock")
        self.jobs.start(s.sweep_interval_s, self.sweep, "sweeper")
        self.jobs.start(s.leaderboard_interval_s, self.push_leaderboard, "leaderboard")
        self.jobs.start(s.reconcile_interval_s, self.reconcile, "reconcile")

    async def stop(self) -> None:
        await self.jobs.stop()
        await self.scripts.aclose()

    async def _load_stores_once(self) -> None:
        """Index the festival's stores (GEO per brand, stock); once per festival, not per node."""
        marker = f"{self.node.keys.prefix}:stores-loaded:{self.node.festival.id}"
        if await self.redis.set(marker, self.node.id, nx=True):
            try:
                count = await self.stores.load()
            except BaseException:
                await self.redis.delete(marker)
                raise
            log.info("indexed %d stores", count)

    # ---- sales registry -----------------------------------------------------------------------
    async def refresh_sales(self) -> None:
        venues = list(self.node.festival.venues)
        pipe = self.redis.pipeline(transaction=False)
        for venue in venues:
            pipe.smembers(self.node.keys.sales_of_venue(venue))
        found = await pipe.execute()
        self.venue_sales = {v: sorted(m.decode() for m in ids) for v, ids in zip(venues, found, strict=True) if ids}
        for sale_id in {s for ids in self.venue_sales.values() for s in ids} - set(self.specs):
            spec = await self.sales.get_spec(sale_id)
            if spec is not None:
                self.specs[sale_id] = spec

    async def spec(self, sale_id: str) -> SaleSpec:
        spec = self.specs.get(sale_id)
        if spec is None:
            spec = await self.sales.get_spec(sale_id)
            if spec is None:
                raise errors.not_found(f"unknown sale {sale_id!r}")
            self.specs[sale_id] = spec
        return spec

    def sale_public(self, spec: SaleSpec, **extra: Any) -> dict[str, Any]:
        product = self.node.festival.products.get(spec.sku)
        out = {
            "sale_id": spec.sale_id, "venue": spec.venue, "brand": spec.brand, "sku": spec.sku,
            "title": product.title if product else spec.sku,
            "image_url": product.image_url if product else None,
            "list_price_cents": product.list_price_cents if product else None,
            "price_cents": spec.price_cents, "stock": spec.stock, "per_user_limit": spec.per_user_limit,
            "starts_at_ms": spec.starts_at_ms, "ends_at_ms": spec.ends_at_ms,
            "reservation_ttl_s": spec.reservation_ttl_s,
        }  # fmt: skip
        out.update(extra)
        return out

    async def publish_sale(self, spec: SaleSpec, kind: str, **extra: Any) -> tuple[str, int]:
        public = self.sale_public(spec, **extra)
        return await self.node.publish(spec.venue, kind, {"sale": public}, (StateOp(f"sale:{spec.sale_id}", public),))

    # ---- buying ----------------------------------------------------------------------------------
    async def buy(self, user: str, sale_id: str, request_id: str, args: dict[str, Any], guide_id: str | None
                  ) -> dict[str, Any]:  # fmt: skip
        now = time.monotonic()
        decision = self.admission.admit(sale_id, now)
        if decision is Decision.SOLD_OUT:
            return {"status": BuyCode.SOLD_OUT.value, "sale": sale_id, "available": 0}
        if decision is Decision.BUSY:
            return {"status": BuyCode.BUSY.value, "sale": sale_id, "retry_after_ms": 200}
        spec = await self.spec(sale_id)
        loc = args.get("loc")
        try:
            request = BuyRequest(
                request_id=request_id, qty=args.get("qty", 1),
                location=Location(loc[0], loc[1]) if loc else None,
                pickup_store=args.get("pickup_store"), coupon_id=args.get("coupon"),
            )  # fmt: skip
        except BuyRequestError as exc:
            if exc.code is BuyCode.BAD_QUANTITY:
                return {"status": exc.code.value, "sale": sale_id, "detail": str(exc)}
            raise errors.bad_request(str(exc), field=exc.field) from None
        guide = self.node.festival.guides.get(guide_id) if guide_id else None
        result = await self.sales.buy(sale_id, user, request, guide=credit_for(guide, spec.brand))
        if result.code in (BuyCode.OK, BuyCode.DUPLICATE, BuyCode.SOLD_OUT, BuyCode.LIMIT_REACHED):
            self.admission.observe_stock(sale_id, result.available, time.monotonic())
        if result.code not in ANSWERS:
            if result.code is BuyCode.NOT_FOUND:
                raise errors.not_found(f"unknown sale {sale_id!r}")
            raise errors.bad_request(f"bad {result.detail or 'request'}", field=result.detail)
        return buy_view(result)

    async def ws_buy(self, conn: Connection, cmd: Command) -> dict[str, Any]:
        self._need_viewer(conn)
        return await self.buy(conn.identity.sub, cmd.args["sale"], str(cmd.id), cmd.args, conn.guide)

    async def grab(self, user: str, coupon_id: str) -> dict[str, Any]:
        result = await self.coupons.grab(coupon_id, user)
        if result.code.value == "not_found":
            raise errors.not_found(f"unknown coupon {coupon_id!r}")
        return {"status": result.code.value, "coupon": coupon_id, "left": result.left,
                "grabbed": result.grabbed, "unused": result.unused}  # fmt: skip

    async def ws_grab(self, conn: Connection, cmd: Command) -> dict[str, Any]:
        self._need_viewer(conn)
        return await self.grab(conn.identity.sub, cmd.args["coupon"])

    @staticmethod
    def _need_viewer(conn: Connection) -> None:
        if conn.identity.is_host:
            raise errors.forbidden("hosts do not buy; use a viewer token")

    async def pay(self, reservation_id: str, payment_ref: str, user: str | None = None) -> dict[str, Any]:
        if user is not None:
            reservation = await self.sales.get_reservation(reservation_id)
            if reservation is None or reservation.user_id != user:
                raise errors.not_found(f"unknown reservation {reservation_id!r}")
        result = await self.sales.pay(reservation_id, payment_ref)
        if result.code is PayCode.NOT_FOUND:
            raise errors.not_found(f"unknown reservation {reservation_id!r}")
        out: dict[str, Any] = {"status": result.code.value, "reservation": reservation_id}
        if result.order is not None:
            order = result.order
            out.update({"order": order.order_id, "sale": order.sale_id, "sku": order.sku, "qty": order.qty,
                        "amount_cents": order.amount_cents, "mode": order.fulfilment.mode, "store": order.store_id,
                        "guide": order.guide_id})  # fmt: skip
            if result.code is PayCode.PAID:
                await self._notify_order(order.venue, out)
        return out

    async def _notify_order(self, venue: str, order: dict[str, Any]) -> None:
        """Hosts of the venue (and the main host) see each confirmed order (not viewers)."""
        message = {"type": "order", "venue": venue, **order, "ts": now_ms()}
        hosts = {h for h in self.node.festival.venues[venue].hosts} | set(
            self.node.festival.venues[self.node.festival.main_venue].hosts
        )
        for host in hosts:
            await self.node.broker.publish_volatile(host_channel(host), "~o" + uuid.uuid4().hex[:12], message)

    # ---- host controls ------------------------------------------------------------------------------
    async def pin_card(self, venue: str, sku: str, sale_id: str | None, coupon_id: str | None) -> tuple[str, int]:
        festival = self.node.festival
        product = festival.products.get(sku)
        if product is None:
            raise errors.not_found(f"unknown sku {sku!r}")
        brand_of_venue = festival.venues[venue].brand
        if brand_of_venue is not None and product.brand != brand_of_venue:
            raise errors.bad_request(f"sku {sku!r} is not a product of this venue's brand")
        card: dict[str, Any] = {**asdict(product), "pinned_at": now_ms()}
        if sale_id is not None:
            spec = await self.spec(sale_id)
            if spec.sku != sku:
                raise errors.bad_request("the attached sale sells another sku")
            card["sale"] = sale_id
        if coupon_id is not None:
            if await self.coupons.get(coupon_id) is None:
                raise errors.not_found(f"unknown coupon {coupon_id!r}")
            card["coupon"] = coupon_id
        return await self.node.publish(venue, "card.pinned", {"card": card}, (StateOp("card", card),))

    async def unpin_card(self, venue: str) -> tuple[str, int]:
        return await self.node.publish(venue, "card.unpinned", {}, (StateOp("card", None),))

    async def create_sale(self, venue: str, body: dict[str, Any]) -> dict[str, Any]:
        festival = self.node.festival
        sku = body.get("sku")
        product = festival.products.get(sku) if isinstance(sku, str) else None
        if product is None:
            raise errors.not_found(f"unknown sku {sku!r}")
        brand_of_venue = festival.venues[venue].brand
        if brand_of_venue is not None and product.brand != brand_of_venue:
            raise errors.bad_request(f"sku {sku!r} is not a product of this venue's brand")
        now = await self.sales.server_time_ms()
        starts = _int(body, "starts_at_ms", now + 1000 * _int(body, "starts_in_s", 0))
        ends = _int(body, "ends_at_ms", starts + 1000 * _int(body, "duration_s", 600))
        sale_id = body.get("sale_id") or f"s-{uuid.uuid4().hex[:10]}"
        try:
            spec = SaleSpec(
                sale_id=sale_id, venue=venue, brand=product.brand, sku=product.sku,
                stock=_int(body, "stock", 0), price_cents=_int(body, "price_cents", product.price_cents),
                per_user_limit=_int(body, "per_user_limit", 1), starts_at_ms=starts, ends_at_ms=ends,
                reservation_ttl_s=_int(body, "reservation_ttl_s", 300),
            )  # fmt: skip
        except SaleSpecError as exc:
            raise errors.bad_request(str(exc), field=exc.field) from None
        if not await self.sales.create(spec):
            raise LivehubError(errors.BAD_REQUEST, f"sale {sale_id!r} exists already")
        self.specs[spec.sale_id] = spec
        self.venue_sales.setdefault(venue, []).append(spec.sale_id)
        epoch, offset = await self.publish_sale(spec, "sale.scheduled")
        return {"sale": self.sale_public(spec), "epoch": epoch, "offset": offset}

    async def sale_window(self, venue: str, sale_id: str, action: str) -> dict[str, Any]:
        spec = await self.spec(sale_id)
        if spec.venue != venue:
            raise errors.not_found(f"sale {sale_id!r} is not in venue {venue!r}")
        try:
            new = await (self.sales.start_now(sale_id) if action == "start" else self.sales.end_now(sale_id))
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None
        if new is None:
            raise errors.not_found(f"unknown sale {sale_id!r}")
        self.specs[sale_id] = new
        epoch, offset = await self.publish_sale(new, "sale.started" if action == "start" else "sale.ended")
        return {"sale": self.sale_public(new), "epoch": epoch, "offset": offset}

    async def sale_state(self, sale_id: str) -> dict[str, Any]:
        state = await self.sales.get_state(sale_id)
        if state is None:
            raise errors.not_found(f"unknown sale {sale_id!r}")
        return {**self.sale_public(state.spec), "available": state.available, "reserved": state.reserved,
                "sold": state.sold, "expired": state.expired, "phase": state.phase(await self.sales.server_time_ms()),
                "balanced": state.balanced}  # fmt: skip

    async def drop_coupons(self, venue: str, issuer: str, body: dict[str, Any]) -> dict[str, Any]:
        festival = self.node.festival
        venue_brand = festival.venues[venue].brand
        guide = body.get("guide")
        if guide is not None:  # a host drops on behalf of one of its brand's shopping guides
            g = festival.guides.get(guide) if isinstance(guide, str) else None
            if g is None:
                raise errors.not_found(f"unknown guide {guide!r}")
            if venue_brand is not None and g.brand != venue_brand:
                raise errors.forbidden(f"guide {guide!r} is not of this venue's brand")
            issuer = g.id
        now = await self.sales.server_time_ms()
        brand = body.get("brand", venue_brand)
        if venue_brand is not None and brand != venue_brand:
            raise errors.forbidden("a brand venue drops coupons of its own brand only")
        try:
            spec = CouponSpec(
                coupon_id=body.get("coupon_id") or f"c-{uuid.uuid4().hex[:10]}", venue=venue, issuer=issuer,
                value_cents=_int(body, "value_cents", 0), min_spend_cents=_int(body, "min_spend_cents", 0),
                per_user_limit=_int(body, "per_user_limit", 1), total=_int(body, "total", 0),
                expires_at_ms=_int(body, "expires_at_ms", now + 1000 * _int(body, "expires_in_s", 3600)),
                brand=brand,
            )  # fmt: skip
        except (CouponSpecError, SaleSpecError) as exc:
            raise errors.bad_request(str(exc), field=getattr(exc, "field", None)) from None
        if not await self.coupons.drop(spec):
            raise errors.bad_request(f"coupon {spec.coupon_id!r} exists already")
        public = {k: v for k, v in asdict(spec).items()}
        epoch, offset = await self.node.publish(
            venue, "coupon.dropped", {"coupon": public}, (StateOp(f"coupon:{spec.coupon_id}", public),)
        )
        return {"coupon": public, "epoch": epoch, "offset": offset}

    # ---- periodic work ------------------------------------------------------------------------------
    def counters(self, venue: str) -> dict[str, Any]:
        sales = self.venue_sales.get(venue)
        if not sales:
            return {}
        return {"stock": {s: self.stock[s] for s in sales if s in self.stock}}

    async def push_stock(self) -> None:
        """Latest stock of the sales this node's viewers see; sold out announced once."""
        visible = [s for v in self.venue_sales if self.node.hub.count(v) for s in self.venue_sales[v]]
        if not visible:
            return
        k = self.node.keys
        pipe = self.redis.pipeline(transaction=False)
        for sale_id in visible:
            pipe.get(k.sale_stock(sale_id))
            pipe.hget(k.sale_counts(sale_id), "expired")
        replies = await pipe.execute()
        now = time.monotonic()
        for i, sale_id in enumerate(visible):
            raw, returned = replies[2 * i], replies[2 * i + 1]
            if raw is None:
                continue
            stock = int(raw)
            self.admission.observe_stock(sale_id, stock, now)
            if self.stock.get(sale_id) == stock:
                continue
            self.stock[sale_id] = stock
            spec = self.specs.get(sale_id)
            if spec is None:
                continue
            message = {"type": "stock", "venue": spec.venue, "sale": sale_id, "stock": stock, "sold_out": stock == 0}
            self.node.hub.broadcast_volatile(spec.venue, f"stock:{sale_id}", message)
            if stock == 0:
                await self._announce_sold_out(spec, int(returned or 0))

    async def _announce_sold_out(self, spec: SaleSpec, returned: int) -> None:
        marker = f"{self.node.keys.sale_spec(spec.sale_id)}:soldout:{returned}"
        if await self.redis.set(marker, self.node.id, nx=True, ex=self.node.settings.history_ttl_s):
            await self.publish_sale(spec, "sale.sold_out", sold_out=True)

    async def sweep(self) -> None:
        await self.refresh_sales()
        now = await self.sales.server_time_ms()
        for sale_id, spec in list(self.specs.items()):
            if now > spec.ends_at_ms + 1000 * spec.reservation_ttl_s + 60_000:
                continue  # long over: nothing can still expire
            await self.sales.expire_due(sale_id, limit=500)
            await self.sales.relay_outbox(sale_id)

    async def reconcile(self) -> None:
        """Settle store holds and coupon locks a crashed node left between two steps."""
        k = self.node.keys
        stores = list(self.node.festival.stores)
        pipe = self.redis.pipeline(transaction=False)
        for store_id in stores:
            pipe.hlen(k.store_holds(store_id))
        for store_id, held in zip(stores, await pipe.execute(), strict=True):
            if held:
                await self.sales.reconcile_store_holds(store_id)
        for venue in self.node.festival.venues:
            for coupon_id in await self.coupons.coupons_of_venue(venue):
                await self.sales.reconcile_coupon_locks(coupon_id)

    async def leaderboard(self, hour: str | None = None, n: int = 10) -> dict[str, Any]:
        hour = hour or hour_bucket(now_ms())
        ranks = await self.guides.top(hour, n)
        festival = self.node.festival
        rows = []
        for rank in ranks:
            g = festival.guides.get(rank.guide_id)
            rows.append({**asdict(rank), "name": g.name if g else rank.guide_id, "store": g.store if g else None,
                         "brand": g.brand if g else None})  # fmt: skip
        return {"hour": hour, "guides": rows}

    async def push_leaderboard(self) -> None:
        hosts = [name for name in self.node.hub.channels if name.startswith("host:") and self.node.hub.count(name)]
        if not hosts:
            return
        board = await self.leaderboard()
        for name in hosts:
            self.node.hub.broadcast_volatile(name, "leaderboard", {"type": "leaderboard", **board})

    def verify_payment(self, body: bytes, signature: str | None) -> None:
        expected = payment_signature(self.node.settings.secret, body)
        if not signature or not hmac.compare_digest(signature.encode(), expected.encode()):
            raise LivehubError(errors.UNAUTHORIZED, "bad payment signature")


def _int(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.bad_request(f"'{name}' must be an integer", field=name)
    return value
