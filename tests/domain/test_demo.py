"""The seeded demo generator, and the demo festival config built with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from livehub.config import load_festival
from livehub.domain import demo
from livehub.domain.festival import build_festival
from livehub.domain.geo import haversine_km
from livehub.domain.topology import BRAND, MAIN, Festival

FESTIVAL_TOML = Path(__file__).resolve().parents[2] / "config" / "festival.toml"
MID = demo.DemoSpec(seed=11, brands=12, stores_per_brand=40, products_per_brand=3, guides_per_store=2)


@pytest.fixture(scope="module")
def demo_festival() -> Festival:
    return load_festival(FESTIVAL_TOML)


@pytest.fixture(scope="module")
def mid_parts() -> demo.DemoParts:
    return demo.generate(MID)


# ---- the demo festival config --------------------------------------------------------------------------


def test_demo_festival_has_the_documented_scale(demo_festival: Festival) -> None:
    f = demo_festival
    # as documented at the top of config/festival.toml: 2 written + 98 generated brands
    assert len(f.brands) == 100
    assert len(f.venues) == 101 and [v.id for v in f.venues.values() if v.kind == MAIN] == ["main"]
    assert len(f.stores) == 98 * 102 + 7 > 10_000
    assert len(f.guides) == len(f.stores) == len(f.guide_codes)
    assert len(f.products) == 98 * 4 + 4
    assert all(len(v.hosts) == 1 for v in f.venues.values()), "every venue has its host"
    assert all(b.stores and b.products for b in f.brands.values())
    guided = {g.store for g in f.guides.values()}
    assert guided == set(f.stores), "every store has a guide"


def test_demo_festival_keeps_the_hand_written_brands(demo_festival: Festival) -> None:
    f = demo_festival
    assert list(f.brands)[:2] == ["swiftride", "kanghealth"]
    assert f.channels_for("swiftride") == ("main", "swiftride")
    assert f.guide_by_code("SR-JINGAN-01") == f.guides["swiftride-g-jingan"]
    assert f.venues["main"].hosts == ("host-main",)


def test_brand_viewer_channels_are_main_plus_brand(demo_festival: Festival) -> None:
    for venue in demo_festival.venues.values():
        if venue.kind == BRAND:
            assert demo_festival.channels_for(venue.id) == ("main", venue.id)


# ---- the generator -------------------------------------------------------------------------------------


def test_demo_festival_is_deterministic_for_a_seed(mid_parts: demo.DemoParts) -> None:
    again = demo.generate(MID)
    assert again == mid_parts
    assert [s.stock for s in again.stores] == [s.stock for s in mid_parts.stores]


def test_different_seeds_give_different_festivals(mid_parts: demo.DemoParts) -> None:
    other = demo.generate(demo.DemoSpec(seed=12, brands=12, stores_per_brand=40, products_per_brand=3,
                                        guides_per_store=2))  # fmt: skip
    assert [s.id for s in other.stores] == [s.id for s in mid_parts.stores], "ids follow the counts"
    assert [(s.lat, s.lon) for s in other.stores] != [(s.lat, s.lon) for s in mid_parts.stores]
    assert {h.key for h in other.hosts}.isdisjoint(h.key for h in mid_parts.hosts)


def test_generated_counts_follow_the_spec(mid_parts: demo.DemoParts) -> None:
    p = mid_parts
    assert [b.id for b in p.brands] == [f"b{i:03d}" for i in range(1, 13)]
    assert [v.id for v in p.venues] == [b.id for b in p.brands]
    assert [h.id for h in p.hosts] == [f"host-{b.id}" for b in p.brands]
    assert len(p.products) == 12 * 3 and len(p.stores) == 12 * 40 and len(p.guides) == 12 * 40 * 2
    assert p.stores[0].id == "b001-s001" and p.guides[1].id == "b001-s001-g2"


def test_generated_stores_cluster_around_city_centres(mid_parts: demo.DemoParts) -> None:
    cities = demo.cities_near(MID.center, MID.spread_km)
    for store in mid_parts.stores:
        nearest = min(haversine_km(store.lat, store.lon, c[1], c[2]) for c in cities)
        assert nearest <= demo.STORE_SCATTER_MAX_KM + 1.0
        assert store.radius_km in demo.RADII_KM
    assert len({s.name.rsplit(" #", 1)[0] for s in mid_parts.stores}) > 12, "brands span several cities"


def test_without_a_city_in_spread_the_nearest_city_gets_the_stores() -> None:
    paris = (48.86, 2.35)
    (city,) = demo.cities_near(paris, 100.0)
    parts = demo.generate(demo.DemoSpec(seed=3, brands=2, stores_per_brand=20, center=paris, spread_km=100.0))
    assert all(haversine_km(s.lat, s.lon, city[1], city[2]) <= 41.0 for s in parts.stores)


def test_generated_stock_covers_exactly_the_brands_products(mid_parts: demo.DemoParts) -> None:
    products_of = {b.id: set(b.products) for b in mid_parts.brands}
    for store in mid_parts.stores:
        assert set(store.stock) == products_of[store.brand]
        assert all(isinstance(units, int) and units >= 0 for units in store.stock.values())


def test_generated_prices_are_discounted_and_titles_cycle_when_products_run_out() -> None:
    parts = demo.generate(demo.DemoSpec(seed=5, brands=3, stores_per_brand=1, products_per_brand=7))
    assert all(0 < p.price_cents < p.list_price_cents for p in parts.products)
    titles = [p.title for p in parts.products if p.brand == "b001"]
    assert len(set(titles)) == 7 and titles[5].endswith("(edition 2)")


def test_share_codes_are_unique_8_symbols_of_the_poster_alphabet(demo_festival: Festival) -> None:
    generated = [g.share_code for g in demo_festival.guides.values() if g.brand.startswith("b")]
    assert len(generated) == len(set(generated)) == 98 * 102
    assert all(len(c) == 8 and set(c) <= set(demo.SHARE_CODE_ALPHABET) for c in generated)


def test_host_keys_come_from_seed_and_host_id_but_not_the_id_alone(mid_parts: demo.DemoParts) -> None:
    key = demo.host_key(2020, "host-b001")
    assert len(key) == 24 and int(key, 16) >= 0
    assert key != demo.host_key(2021, "host-b001") and key != demo.host_key(2020, "host-b002")
    assert "b001" not in key
    assert all(h.key == demo.host_key(MID.seed, h.id) for h in mid_parts.hosts)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"brands": -1}, "brands"),
        ({"brands": 1000}, "brands"),
        ({"products_per_brand": 0}, "products_per_brand"),
        ({"guides_per_store": 100}, "guides_per_store"),
        ({"brands": 999, "stores_per_brand": 9999, "guides_per_store": 2}, "guides_per_store"),
        ({"center": (91.0, 0.0)}, "center"),
        ({"spread_km": 0.0}, "spread_km"),
    ],
)
def test_unusable_spec_is_refused(changes: dict[str, Any], field: str) -> None:
    spec = demo.DemoSpec(seed=1, **changes)
    assert [f for f, _ in spec.problems()] == [field]
    with pytest.raises(ValueError, match=field):
        demo.generate(spec)


def test_generated_records_pass_the_loaders_field_checks() -> None:
    """Generated records skip the per-field checks when loaded; written out, they pass them."""
    spec = demo.DemoSpec(seed=9, brands=4, stores_per_brand=6, products_per_brand=6, guides_per_store=2)
    parts = demo.generate(spec)
    head: dict[str, Any] = {"festival": {"id": "x", "title": "X", "main_venue": "main"}}
    main = {"id": "main", "kind": "main", "title": "Main"}
    written = build_festival({
        **head,
        "venues": [main, *({"id": v.id, "kind": v.kind, "title": v.title, "brand": v.brand}
                           for v in parts.venues)],
        "hosts": [{"id": h.id, "venue": h.venue, "name": h.name, "key": h.key} for h in parts.hosts],
        "brands": [{"id": b.id, "name": b.name, "venue": b.venue,
                    "warehouse": {"lat": b.warehouse.lat, "lon": b.warehouse.lon}} for b in parts.brands],
        "products": [{"sku": p.sku, "brand": p.brand, "title": p.title, "price_cents": p.price_cents,
                      "list_price_cents": p.list_price_cents, "image_url": p.image_url}
                     for p in parts.products],
        "stores": [{"id": s.id, "brand": s.brand, "name": s.name, "lat": s.lat, "lon": s.lon,
                    "radius_km": s.radius_km, "stock": dict(s.stock), "address": s.address} for s in parts.stores],
        "guides": [{"id": g.id, "name": g.name, "store": g.store, "brand": g.brand,
                    "share_code": g.share_code} for g in parts.guides],
    })  # fmt: skip
    generated = build_festival({
        **head, "venues": [main],
        "demo": {"seed": 9, "brands": 4, "stores_per_brand": 6, "products_per_brand": 6,
                 "guides_per_store": 2},
    })  # fmt: skip
    assert written == generated
