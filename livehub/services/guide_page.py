"""A guide's own page: their sales and commission by hour with their rank, their latest credited
orders, their customers' open reservations, and the QR poster of their share link (an SVG made
with segno, a pure-Python QR code generator)."""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

import segno

from livehub.domain.attribution import HOUR_MS, hour_bucket, hours_between
from livehub.domain.topology import Festival, Guide
from livehub.services.sale_registry import SaleRegistry
from livehub.settings import Settings
from livehub.store.guide_customers import GuideCustomers
from livehub.store.guides import GuideBoard
from livehub.store.sales import SaleStore

POSTER_WIDTH = 360  # the poster's width in SVG user units; the QR code is scaled to fit


class GuidePage:
    def __init__(
        self, settings: Settings, festival: Festival, guides: GuideBoard, sales: SaleStore, registry: SaleRegistry,
        customers: GuideCustomers,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.festival = festival
        self.guides = guides
        self.sales = sales
        self.registry = registry  # the sales' specs, cached per node
        self.customers = customers

    async def hours(self, guide: Guide, n: int) -> dict[str, Any]:
        """The guide's last ``n`` hours (this one first): sales, commission, rank and latest credited orders."""
        now = await self.guides.server_time_ms()
        hours = hours_between(hour_bucket(now - (n - 1) * HOUR_MS), hour_bucket(now))[::-1]
        rows = [{"hour": h.hour, "sales_cents": h.sales_cents, "commission_cents": h.commission_cents,
                 "rank": h.rank, "orders": [{"order": o.order_id, "amount_cents": o.amount_cents,
                                             "commission_cents": o.commission_cents} for o in h.orders]}
                for h in await self.guides.hours_of(guide.id, hours)]  # fmt: skip
        return {"guide": guide.id, "hours": rows,
                "sales_cents": sum(r["sales_cents"] for r in rows),
                "commission_cents": sum(r["commission_cents"] for r in rows)}  # fmt: skip

    async def open_reservations(self, guide: Guide) -> dict[str, Any]:
        """The guide's customers' reservations not yet paid (bounded: see livehub.store.guide_customers)."""
        venues = [self.festival.brands[guide.brand].venue, self.festival.main_venue]
        by_venue = await self.sales.sale_ids_of_venues(sorted(set(venues)))
        sale_ids = []
        for sale_id in sorted({s for ids in by_venue.values() for s in ids}):
            spec = self.registry.specs.get(sale_id) or await self.sales.get_spec(sale_id)
            if spec is None:
                continue
            self.registry.specs.setdefault(sale_id, spec)  # as SaleRegistry.spec caches it
            if spec.brand == guide.brand:
                sale_ids.append(sale_id)
        s = self.settings
        found = await self.customers.open_reservations(
            guide.id, sale_ids, s.guide_open_scan_max, s.guide_open_reservations_max
        )
        rows = [{"reservation": r.reservation_id, "sale": r.sale_id, "user": r.user_id, "qty": r.qty,
                 "amount_cents": r.amount_cents, "pay_by": r.deadline_ms} for r in found.reservations]  # fmt: skip
        return {"guide": guide.id, "reservations": rows, "truncated": found.truncated}


def poster_svg(guide: Guide, link: str) -> str:
    """The guide's share poster: the QR code of ``link`` (an absolute URL) with the guide's name,
    store and share code under it, as one SVG document."""
    qr = segno.make(link, error="m")
    modules = qr.symbol_size(scale=1, border=4)[0]
    scale = max(1, (POSTER_WIDTH - 40) // modules)
    out = io.BytesIO()
    qr.save(out, kind="svg", scale=scale, border=4, xmldecl=False, svgns=True, title=f"QR code: {link}")
    code = out.getvalue().decode()
    side = modules * scale
    x = (POSTER_WIDTH - side) // 2
    height = side + 130
    code = code.replace("<svg ", f'<svg x="{x}" y="60" ', 1)
    lines = [(escape(guide.name), 26, 40), (escape(f"Scan to watch with {guide.name}"), 16, side + 90),
             (escape(f"share code {guide.share_code} · store {guide.store}"), 13, side + 115)]  # fmt: skip
    texts = "".join(
        f'<text x="{POSTER_WIDTH // 2}" y="{y}" font-size="{size}" text-anchor="middle" '
        f'font-family="sans-serif">{text}</text>'
        for text, size, y in lines
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{POSTER_WIDTH}" height="{height}" '
        f'viewBox="0 0 {POSTER_WIDTH} {height}" class="guide-poster">'
        f'<rect width="100%" height="100%" fill="#fff"/>{texts}{code}</svg>'
    )
