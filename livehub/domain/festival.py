"""Build a validated :class:`livehub.domain.topology.Festival` from a parsed config document (pure).

The document (as ``tomllib`` parses a festival file; :func:`livehub.config.load_festival`
reads the file) has these parts (``config/small.toml`` is a complete small example)::

    [festival]     id, title, main_venue, commission_rate (0..1), pickup_search_km ([3.0, 5.0])
    [[venues]]     id, kind ("main" | "brand"), title, brand (brand venues only)
    [[hosts]]      id, venue, name, and the login key: key_hash (an argon2 hash from
                   `livehub hash-key`, or a list of them while rotating), key_hash_env (an
                   environment variable holding hashes), key_hash_file (a file of hashes, one a
                   line), or key (plaintext, demo mode only); livehub.config reads the variable
                   and the file and adds their hashes to key_hash; no key at all: the host cannot log in
    [[brands]]     id, name, venue, warehouse = {lat, lon}
    [[products]]   sku, brand, title, price_cents, list_price_cents, image_url (optional)
    [[stores]]     id, brand, name, lat, lon, radius_km, stock = {sku = units} (optional)
    [[guides]]     id, name, store, brand, share_code
    [settings]     server settings, read by livehub.settings and ignored here
    [demo]         seed, brands, stores_per_brand, products_per_brand, guides_per_store,
                   center = [lat, lon], spread_km: generate the bulky parts with
                   livehub.domain.demo and merge them with what is written explicitly

Validation is strict: every problem is reported as a :class:`FestivalError`
naming the file, the key (``stores[17].radius_km`` for a value,
``brands.b003.venue`` for a reference) and what is wrong.  Problems with single
records are all collected first; references between records are checked only
once every record is well-formed, so one typo does not cascade into a page of
"unknown id" errors.  Host keys are secrets and never appear in messages.
The typed field readers and the problems collector are :mod:`livehub.domain.schema`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping
from typing import Any

from livehub.domain import demo
from livehub.domain.ids import ID_CHARS, valid_id
from livehub.domain.schema import ConfigError, Index, Problems, Record, Schema, type_name
from livehub.domain.topology import BRAND, MAIN, Brand, Festival, Guide, Host, Product, Store, Venue, Warehouse

MAX_URL_CHARS = 2048
MAX_RADIUS_KM = 50.0
URL_PREFIXES = ("https://", "http://", "/", "data:image/")

SECTIONS = ("venues", "hosts", "brands", "products", "stores", "guides")
TOP_LEVEL = frozenset({"festival", "settings", "demo", *SECTIONS})
KINDS = (MAIN, BRAND)
_EMPTY = Festival("", "", "", {}, {}, {}, {}, {}, {})  # for the model's defaults
DEFAULT_COMMISSION_RATE = _EMPTY.commission_rate
DEFAULT_PICKUP_SEARCH_KM = _EMPTY.pickup_search_km


class FestivalError(ConfigError):
    """The festival config cannot be used (every problem found, with its key)."""


_FESTIVAL = Schema.of(("id", "title", "main_venue"), ("commission_rate", "pickup_search_km"))
_DEMO = Schema.of(("seed",), ("brands", "stores_per_brand", "products_per_brand", "guides_per_store",
                               "center", "spread_km"))  # fmt: skip
_VENUE = Schema.of(("id", "kind", "title"), ("brand",))
_HOST = Schema.of(("id", "venue", "name"), ("key", "key_hash", "key_hash_env", "key_hash_file"))
_BRAND = Schema.of(("id", "name", "venue", "warehouse"))
_WAREHOUSE = Schema.of(("lat", "lon"))
_PRODUCT = Schema.of(("sku", "brand", "title", "price_cents", "list_price_cents"), ("image_url",))
_STORE = Schema.of(("id", "brand", "name", "lat", "lon", "radius_km"), ("stock", "address"))
_GUIDE = Schema.of(("id", "name", "store", "brand", "share_code"))


def build_festival(doc: Mapping[str, Any], source: str = "<festival>") -> Festival:
    """Validate a parsed config document (as from ``tomllib``) and build the festival.

    ``source`` names the document in error messages.  A ``[demo]`` table is
    expanded with :func:`livehub.domain.demo.generate` and merged after the explicit
    records.  Generated records are typed objects made by tested code, so they
    skip the per-field checks (tests/domain/test_demo.py runs them through those);
    duplicate ids and every reference are checked across both.
    """
    problems = Problems(source, FestivalError)
    for key in doc:
        if key not in TOP_LEVEL:
            problems.add(key, f"unknown top-level key (allowed: {', '.join(sorted(TOP_LEVEL))})")
    rows: dict[str, list[tuple[str, object]]] = {}
    for section in SECTIONS:
        raw = doc.get(section, [])
        if not isinstance(raw, list):
            problems.add(section, f"must be an array of tables ([[{section}]]), got {type_name(raw)}")
            raw = []
        rows[section] = [(f"{section}[{i}]", item) for i, item in enumerate(raw)]

    if "festival" in doc:
        head = Record(problems, "festival", doc["festival"], _FESTIVAL)
        festival_id, title, main_venue = head.ident("id"), head.text("title"), head.ident("main_venue")
        commission_rate = head.number("commission_rate", 0.0, 1.0, default=DEFAULT_COMMISSION_RATE)
        pickup_search_km = _pickup_steps(head)
    else:
        problems.add("festival", "missing required table [festival] (id, title, main_venue)")
        festival_id = title = main_venue = ""
        commission_rate, pickup_search_km = DEFAULT_COMMISSION_RATE, DEFAULT_PICKUP_SEARCH_KM

    gen = demo.DemoParts()
    if "demo" in doc:
        spec = _demo_spec(problems, doc["demo"])
        if spec is not None:
            gen = demo.generate(spec)
    venues = _venues(problems, rows["venues"], Index(problems, "venue id", (v.id for v in gen.venues)))
    hosts = _hosts(problems, rows["hosts"], Index(problems, "host id", (h.id for h in gen.hosts)))
    brands = _brands(problems, rows["brands"], Index(problems, "brand id", (b.id for b in gen.brands)))
    products = _products(problems, rows["products"], Index(problems, "sku", (p.sku for p in gen.products)))
    stores = _stores(problems, rows["stores"], Index(problems, "store id", (s.id for s in gen.stores)))
    guides = _guides(problems, rows["guides"], Index(problems, "guide id", (g.id for g in gen.guides)),
                     Index(problems, "share code", (g.share_code for g in gen.guides)))  # fmt: skip
    problems.raise_if_any()

    all_venues = {v.id: v for v in (*venues, *gen.venues)}
    all_hosts = {h.id: h for h in (*hosts, *gen.hosts)}
    all_brands = {b.id: b for b in (*brands, *gen.brands)}
    all_products = {p.sku: p for p in (*products, *gen.products)}
    all_stores = {s.id: s for s in (*stores, *gen.stores)}
    all_guides = {g.id: g for g in (*guides, *gen.guides)}
    _check_references(problems, main_venue, all_venues, all_hosts, all_brands, all_products, all_stores,
                      all_guides)  # fmt: skip
    problems.raise_if_any()

    hosts_of: dict[str, list[str]] = {v: [] for v in all_venues}
    for host in all_hosts.values():
        hosts_of[host.venue].append(host.id)
    products_of: dict[str, list[str]] = {b: [] for b in all_brands}
    for product in all_products.values():
        products_of[product.brand].append(product.sku)
    stores_of: dict[str, list[str]] = {b: [] for b in all_brands}
    for store in all_stores.values():
        stores_of[store.brand].append(store.id)
    return Festival(
        id=festival_id,
        title=title,
        main_venue=main_venue,
        venues={
            v.id: dataclasses.replace(v, hosts=tuple(hosts_of[v.id])) for v in all_venues.values()
        },
        hosts=all_hosts,
        brands={
            b.id: dataclasses.replace(b, products=tuple(products_of[b.id]), stores=tuple(stores_of[b.id]))
            for b in all_brands.values()
        },
        products=all_products,
        stores=all_stores,
        guides=all_guides,
        commission_rate=commission_rate,
        pickup_search_km=pickup_search_km,
        guide_codes={g.share_code: g.id for g in all_guides.values()},
    )


def _pickup_steps(head: Record) -> tuple[float, ...]:
    if "pickup_search_km" not in head.raw:
        return DEFAULT_PICKUP_SEARCH_KM
    raw = head.raw["pickup_search_km"]
    problem = "must be a non-empty array of ascending positive numbers of km, e.g. [3.0, 5.0]"
    if not isinstance(raw, list) or not raw:
        head.fail("pickup_search_km", f"{problem}, got {raw!r}")
        return ()
    if not all(isinstance(x, int | float) and not isinstance(x, bool) and 0 < x < math.inf for x in raw):
        head.fail("pickup_search_km", f"{problem}, got {raw!r}")
        return ()
    steps = tuple(float(x) for x in raw)
    if any(a >= b for a, b in itertools.pairwise(steps)):
        head.fail("pickup_search_km", f"{problem} (strictly ascending), got {raw!r}")
    return steps


def _demo_spec(problems: Problems, raw: object) -> demo.DemoSpec | None:
    rec = Record(problems, "demo", raw, _DEMO)
    if not rec.ok:
        return None
    defaults = demo.DemoSpec(seed=0)

    def count(key: str) -> int:
        return rec.integer(key, 0) if key in rec.raw else int(getattr(defaults, key))

    seed = rec.integer("seed", -(2**63))
    center = defaults.center
    if "center" in rec.raw:
        value = rec.raw["center"]
        if (isinstance(value, list) and len(value) == 2
                and all(isinstance(x, int | float) and not isinstance(x, bool) for x in value)):  # fmt: skip
            center = (float(value[0]), float(value[1]))
        else:
            rec.fail("center", f"must be [lat, lon], got {value!r}")
    spread_km = rec.number("spread_km", 0.0, demo.MAX_SPREAD_KM, low_open=True, default=defaults.spread_km)
    spec = demo.DemoSpec(
        seed=seed, brands=count("brands"), stores_per_brand=count("stores_per_brand"),
        products_per_brand=count("products_per_brand"), guides_per_store=count("guides_per_store"),
        center=center, spread_km=spread_km,
    )  # fmt: skip
    if not rec.ok:
        return None
    for key, problem in spec.problems():
        rec.fail(key, problem)
    return spec if rec.ok else None


def _venues(problems: Problems, rows: list[tuple[str, object]], ids: Index) -> list[Venue]:
    out: list[Venue] = []
    for where, raw in rows:
        rec = Record(problems, where, raw, _VENUE)
        venue_id, title = rec.ident("id"), rec.text("title")
        kind = rec.raw.get("kind")
        if kind is not None and kind not in KINDS:
            rec.fail("kind", f'must be "main" or "brand", got {kind!r}')
        brand: str | None = None
        if kind == BRAND:
            if "brand" in rec.raw:
                brand = rec.ident("brand")
            else:
                rec.fail("brand", "missing required key (a brand venue names its brand)")
        elif kind == MAIN and "brand" in rec.raw:
            rec.fail("brand", "the main venue has no brand")
        if venue_id:
            ids.claim(venue_id, rec.key("id"))
        if rec.ok:
            out.append(Venue(venue_id, str(kind), title, brand))
    return out


def _hosts(problems: Problems, rows: list[tuple[str, object]], ids: Index) -> list[Host]:
    out: list[Host] = []
    for where, raw in rows:
        rec = Record(problems, where, raw, _HOST)
        host = Host(rec.ident("id"), rec.ident("venue"), rec.text("name"), rec.secret("key"),
                    rec.key_hashes("key_hash"))
        rec.env_name("key_hash_env")
        if "key_hash_file" in rec.raw:
            rec.text("key_hash_file", max_chars=4096)
        if host.id:
            ids.claim(host.id, rec.key("id"))
        if rec.ok:
            out.append(host)
    return out


def _brands(problems: Problems, rows: list[tuple[str, object]], ids: Index) -> list[Brand]:
    out: list[Brand] = []
    for where, raw in rows:
        rec = Record(problems, where, raw, _BRAND)
        brand_id, name, venue = rec.ident("id"), rec.text("name"), rec.ident("venue")
        warehouse = Warehouse(0.0, 0.0)
        if "warehouse" in rec.raw:
            at = Record(problems, rec.key("warehouse"), rec.raw["warehouse"], _WAREHOUSE)
            warehouse = Warehouse(at.number("lat", -90.0, 90.0), at.number("lon", -180.0, 180.0))
            rec.ok = rec.ok and at.ok
        if brand_id:
            ids.claim(brand_id, rec.key("id"))
        if rec.ok:
            out.append(Brand(brand_id, name, venue, warehouse))
    return out


def _products(problems: Problems, rows: list[tuple[str, object]], skus: Index) -> list[Product]:
    out: list[Product] = []
    for where, raw in rows:
        rec = Record(problems, where, raw, _PRODUCT)
        sku, brand, title = rec.ident("sku"), rec.ident("brand"), rec.text("title")
        price, list_price = rec.integer("price_cents", 1), rec.integer("list_price_cents", 1)
        if rec.ok and price > list_price:
            rec.fail("price_cents", f"must be <= list_price_cents ({list_price}), got {price}")
        image_url = rec.text("image_url", default="", max_chars=MAX_URL_CHARS)
        if image_url and not image_url.startswith(URL_PREFIXES):
            rec.fail("image_url", f"must start with one of {', '.join(URL_PREFIXES)}, got {image_url[:80]!r}")
        if sku:
            skus.claim(sku, rec.key("sku"))
        if rec.ok:
            out.append(Product(sku, brand, title, price, list_price, image_url))
    return out


def _stores(problems: Problems, rows: list[tuple[str, object]], ids: Index) -> list[Store]:
    out: list[Store] = []
    for where, raw in rows:
        rec = Record(problems, where, raw, _STORE)
        store_id, brand, name = rec.ident("id"), rec.ident("brand"), rec.text("name")
        lat, lon = rec.number("lat", -90.0, 90.0), rec.number("lon", -180.0, 180.0)
        radius_km = rec.number("radius_km", 0.0, MAX_RADIUS_KM, low_open=True)
        stock: dict[str, int] = {}
        raw_stock = rec.raw.get("stock", {})
        if not isinstance(raw_stock, dict):
            rec.fail("stock", f"must be a table of sku = units, got {type_name(raw_stock)}")
        else:
            for sku, units in raw_stock.items():
                if type(units) is int and units >= 0 and valid_id(sku):
                    stock[sku] = units
                elif not valid_id(sku):
                    rec.fail(f"stock.{sku}", f"is not a valid sku ({ID_CHARS})")
                else:
                    rec.fail(f"stock.{sku}", f"must be an integer >= 0, got {type_name(units)} {units!r}")
        if store_id:
            ids.claim(store_id, rec.key("id"))
        if rec.ok:
            out.append(Store(store_id, brand, name, lat, lon, radius_km, stock, rec.text("address", default="")))
    return out


def _guides(problems: Problems, rows: list[tuple[str, object]], ids: Index, codes: Index) -> list[Guide]:
    out: list[Guide] = []
    for where, raw in rows:
        rec = Record(problems, where, raw, _GUIDE)
        guide = Guide(rec.ident("id"), rec.text("name"), rec.ident("store"), rec.ident("brand"),
                      rec.ident("share_code"))  # fmt: skip
        if guide.id:
            ids.claim(guide.id, rec.key("id"))
        if guide.share_code:
            codes.claim(guide.share_code, rec.key("share_code"))
        if rec.ok:
            out.append(guide)
    return out


def _check_references(
    problems: Problems,
    main_venue: str,
    venues: dict[str, Venue],
    hosts: dict[str, Host],
    brands: dict[str, Brand],
    products: dict[str, Product],
    stores: dict[str, Store],
    guides: dict[str, Guide],
) -> None:
    mains = [v.id for v in venues.values() if v.kind == MAIN]
    if not mains:
        problems.add("venues", 'no venue has kind = "main"; a festival has exactly one main venue')
    elif len(mains) > 1:
        problems.add("venues", f"exactly one venue must have kind = \"main\", found {len(mains)}: {mains}")
    if main_venue not in venues:
        problems.add("festival.main_venue", f"{main_venue!r} is not a venue id")
    elif venues[main_venue].kind != MAIN:
        problems.add("festival.main_venue", f"{main_venue!r} is a brand venue, not the main venue")

    for v in venues.values():
        if v.brand is None:
            continue
        brand = brands.get(v.brand)
        if brand is None:
            problems.add(f"venues.{v.id}.brand", f"{v.brand!r} is not a brand id")
        elif brand.venue != v.id:
            problems.add(f"venues.{v.id}.brand", f"brand {v.brand!r} has venue {brand.venue!r}, not {v.id!r}")
    for b in brands.values():
        venue = venues.get(b.venue)
        if venue is None:
            problems.add(f"brands.{b.id}.venue", f"{b.venue!r} is not a venue id")
        elif venue.kind != BRAND:
            problems.add(f"brands.{b.id}.venue", f"{b.venue!r} is the main venue, not a brand venue")
        elif venue.brand != b.id:
            problems.add(f"brands.{b.id}.venue", f"venue {b.venue!r} belongs to brand {venue.brand!r}")

    host_keys: dict[str, str] = {}
    for h in hosts.values():
        if h.venue not in venues:
            problems.add(f"hosts.{h.id}.venue", f"{h.venue!r} is not a venue id")
        other = host_keys.setdefault(h.key, h.id) if h.key else h.id
        if other != h.id:
            problems.add(f"hosts.{h.id}.key", f"same key as host {other!r}; every host needs its own key")
    for p in products.values():
        if p.brand not in brands:
            problems.add(f"products.{p.sku}.brand", f"{p.brand!r} is not a brand id")
    for s in stores.values():
        if s.brand not in brands:
            problems.add(f"stores.{s.id}.brand", f"{s.brand!r} is not a brand id")
            continue
        for sku in s.stock:
            product = products.get(sku)
            if product is None:
                problems.add(f"stores.{s.id}.stock.{sku}", f"{sku!r} is not a product sku")
            elif product.brand != s.brand and product.brand in brands:  # else reported on the product
                owner = product.brand
                problems.add(f"stores.{s.id}.stock.{sku}", f"belongs to brand {owner!r}, not {s.brand!r}")
    for g in guides.values():
        store = stores.get(g.store)
        if store is None:
            problems.add(f"guides.{g.id}.store", f"{g.store!r} is not a store id")
        elif g.brand not in brands:
            problems.add(f"guides.{g.id}.brand", f"{g.brand!r} is not a brand id")
        elif g.brand != store.brand and store.brand in brands:  # else reported on the store
            problems.add(f"guides.{g.id}.brand", f"store {g.store!r} belongs to brand {store.brand!r}, "
                                                 f"not {g.brand!r}")  # fmt: skip


def plaintext_hosts(festival: Festival) -> list[str]:
    """Ids of the hosts whose key is plaintext (written as ``key`` or generated by ``[demo]``): demo mode only."""
    return [h.id for h in festival.hosts.values() if h.key]


def keyless_hosts(festival: Festival, demo_mode: bool) -> list[str]:
    """Ids of the hosts no key can log in (``livehub festival check`` lists them)."""
    return [h.id for h in festival.hosts.values() if not h.key_hashes and not (demo_mode and h.key)]
