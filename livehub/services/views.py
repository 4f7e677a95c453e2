"""What commerce answers and pushes, as plain dicts: every presentation of a reservation, a
buy, a payment, a sale, a card, a coupon, a leaderboard, a store's orders and the festival.

Pure functions of domain and store values (no I/O, no clock: times are passed in).  The
server frames commerce pushes (``stock``, ``order``, ``signal``, ``leaderboard``) are built
here too, each by its own ``*_frame`` function.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from livehub.domain.sale_rules import SaleSpec
from livehub.domain.topology import Festival, Product, Store
from livehub.store.coupons import CouponSpec, GrabResult
from livehub.store.guides import GuideRank
from livehub.store.orders import Order
from livehub.store.sales import BuyResult, Phase, Reservation, SaleState


# ---- answers to buyers ---------------------------------------------------------------------
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


def grab_view(coupon_id: str, result: GrabResult) -> dict[str, Any]:
    return {"status": result.code.value, "coupon": coupon_id, "left": result.left,
            "grabbed": result.grabbed, "unused": result.unused}  # fmt: skip


def order_view(order: Order) -> dict[str, Any]:
    """The order fields of a payment's answer (and of the hosts' ``order`` frame)."""
    return {"order": order.order_id, "sale": order.sale_id, "sku": order.sku, "qty": order.qty,
            "amount_cents": order.amount_cents, "mode": order.fulfilment.mode, "store": order.store_id,
            "guide": order.guide_id}  # fmt: skip


# ---- sales, cards, coupons -----------------------------------------------------------------
def sale_public(festival: Festival, spec: SaleSpec, **extra: Any) -> dict[str, Any]:
    """A sale as every viewer sees it (event data and latest-value state ``sale:<id>``)."""
    product = festival.products.get(spec.sku)
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


def sale_state_view(festival: Festival, state: SaleState, phase: Phase) -> dict[str, Any]:
    """``GET /api/sales/{sale}``: the public sale, its counts and whether they balance."""
    return {**sale_public(festival, state.spec), "available": state.available, "reserved": state.reserved,
            "sold": state.sold, "expired": state.expired, "phase": phase,
            "balanced": state.balanced}  # fmt: skip


def card_view(
    product: Product, pinned_at_ms: int, sale_id: str | None, coupon_id: str | None, buy_sale: str | None = None
) -> dict[str, Any]:
    """A pinned product card (latest-value state ``card`` of the venue); ``buy_sale``: the regular-price
    sale its own Buy button buys from when no flash sale is attached."""
    card: dict[str, Any] = {**asdict(product), "pinned_at": pinned_at_ms}
    if sale_id is not None:
        card["sale"] = sale_id
    if coupon_id is not None:
        card["coupon"] = coupon_id
    if buy_sale is not None:
        card["buy_sale"] = buy_sale
    return card


def coupon_public(spec: CouponSpec) -> dict[str, Any]:
    """A coupon drop as every viewer sees it (latest-value state ``coupon:<id>``)."""
    return {k: v for k, v in asdict(spec).items()}


# ---- guides, stores, festival --------------------------------------------------------------
def leaderboard_view(festival: Festival, hour: str, ranks: Iterable[GuideRank]) -> dict[str, Any]:
    rows = []
    for rank in ranks:
        g = festival.guides.get(rank.guide_id)
        rows.append({**asdict(rank), "name": g.name if g else rank.guide_id, "store": g.store if g else None,
                     "brand": g.brand if g else None})  # fmt: skip
    return {"hour": hour, "guides": rows}


def store_orders_view(store: Store, orders: Sequence[Order]) -> dict[str, Any]:
    """A store's storefront: its latest orders, and the pickups among them."""
    rows = [order.to_fields() for order in orders]
    return {"store": {"id": store.id, "name": store.name, "brand": store.brand}, "orders": rows,
            "pickups": [r for r in rows if r.get("mode") == "pickup"]}  # fmt: skip


def festival_view(f: Festival) -> dict[str, Any]:
    """``GET /api/festival``: the venues and the product catalogue."""
    venues = [{"id": v.id, "kind": v.kind, "title": v.title, "brand": v.brand} for v in f.venues.values()]
    products = [
        {"sku": p.sku, "brand": p.brand, "title": p.title, "price_cents": p.price_cents,
         "list_price_cents": p.list_price_cents, "image_url": p.image_url}
        for p in f.products.values()
    ]  # fmt: skip
    return {"id": f.id, "title": f.title, "main_venue": f.main_venue, "venues": venues, "products": products}


# ---- server frames -------------------------------------------------------------------------

