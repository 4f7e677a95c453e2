"""Deterministic generator for the bulky parts of a demo festival (pure, no I/O).

A festival config's ``[demo]`` table asks for "about 100 brands with 100 stores
each"; writing 10,000 stores by hand is pointless, so :func:`generate` makes
them from a seed, as :mod:`livehub.domain.topology` objects.  :mod:`livehub.domain.festival`
merges them after the hand-written records and checks duplicate ids and every
reference across both.

What is generated, for brand ``b001`` (ids are zero-padded to the count):

* venue ``b001`` (kind ``brand``) and its host ``host-b001``, whose key is
  :func:`host_key` of the seed and the host id (HMAC-SHA256, see there);
* products ``b001-p1`` .. ``b001-p<products_per_brand>`` from one of a few
  retail categories, priced 5-40 % below the list price;
* stores ``b001-s001`` .. scattered within a few tens of km of real Chinese city
  centres that lie within ``spread_km`` of ``center`` (each brand picks 3-8 of
  them), pickup radius 3-5 km, random stock of every product of the brand;
* guides ``b001-s001-g1`` .. per store, each with an 8-character share code.

Same :class:`DemoSpec` -> identical parts: only draws from one
``random.Random(seed)`` (``random``, ``gauss``, ``getrandbits``), in a fixed order.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from livehub.domain.geo import haversine_km
from livehub.domain.topology import BRAND, Brand, Guide, Host, Product, Store, Venue, Warehouse

T = TypeVar("T")

KM_PER_DEG_LAT = 111.32
MAX_BRANDS = 999
MAX_STORES_PER_BRAND = 9_999
MAX_PRODUCTS_PER_BRAND = 99
MAX_GUIDES_PER_STORE = 99
MAX_GENERATED_GUIDES = 1_000_000
MAX_SPREAD_KM = 5_000.0
SHARE_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols, no 0/O or 1/I: copied from posters
SHARE_CODE_LENGTH = 8  # 5 random bits a symbol
STORE_SCATTER_SIGMA_KM = 9.0  # stores cluster around a city centre ...
STORE_SCATTER_MAX_KM = 40.0  # ... and stay within its metropolitan area
RADII_KM = (3.0, 3.5, 4.0, 4.5, 5.0)  # a physical store's trust radius is 3-5 km
STREETS = ("Nanjing Road", "Huaihai Road", "Century Avenue", "Zhongshan Road", "Yan'an Road", "Renmin Road")

# (name, lat, lon, weight): city centres, weight ~ relative retail size.
CITIES: tuple[tuple[str, float, float, int], ...] = (
    ("Shanghai", 31.2304, 121.4737, 10),
    ("Beijing", 39.9042, 116.4074, 10),
    ("Guangzhou", 23.1291, 113.2644, 8),
    ("Shenzhen", 22.5431, 114.0579, 8),
    ("Chengdu", 30.5728, 104.0668, 7),
    ("Chongqing", 29.5630, 106.5516, 7),
    ("Hangzhou", 30.2741, 120.1551, 6),
    ("Wuhan", 30.5928, 114.3055, 6),
    ("Nanjing", 32.0603, 118.7969, 5),
    ("Tianjin", 39.0842, 117.2010, 5),
    ("Suzhou", 31.2990, 120.5853, 5),
    ("Xi'an", 34.3416, 108.9398, 5),
    ("Changsha", 28.2282, 112.9388, 4),
    ("Zhengzhou", 34.7466, 113.6253, 4),
    ("Qingdao", 36.0671, 120.3826, 4),
    ("Shenyang", 41.8057, 123.4315, 3),
    ("Dalian", 38.9140, 121.6147, 3),
    ("Jinan", 36.6512, 117.1201, 3),
    ("Hefei", 31.8206, 117.2272, 3),
    ("Ningbo", 29.8683, 121.5440, 3),
    ("Xiamen", 24.4798, 118.0894, 3),
    ("Fuzhou", 26.0745, 119.2965, 3),
    ("Wuxi", 31.4912, 120.3119, 3),
    ("Kunming", 25.0389, 102.7183, 3),
    ("Nanchang", 28.6820, 115.8579, 2),
    ("Harbin", 45.8038, 126.5349, 2),
    ("Shijiazhuang", 38.0428, 114.5149, 2),
    ("Taiyuan", 37.8706, 112.5489, 2),
    ("Nanning", 22.8170, 108.3665, 2),
    ("Urumqi", 43.8256, 87.6168, 1),
)

# category -> (brand-name noun, ((product title, list price in yuan), ...))
CATEGORIES: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = (
    ("Tea", (("Longjing green tea 250g", 168), ("Pu'er cake 357g", 298), ("Oolong gift box", 388),
             ("Jasmine pearls 100g", 88), ("Travel tea set", 259))),
    ("Apparel", (("Linen shirt", 299), ("Light down jacket", 699), ("Silk scarf", 199),
                 ("Cotton T-shirt", 99), ("Straight-leg jeans", 359))),
    ("Beauty", (("Hydrating serum 30ml", 329), ("Sunscreen SPF50", 159), ("Velvet lipstick", 219),
                ("Sheet masks x10", 129), ("Gentle cleanser", 89))),
    ("Pharmacy", (("Vitamin C 100 tablets", 69), ("Fish oil 60 capsules", 139), ("Face masks x50", 59),
                  ("Ear thermometer", 199), ("Hand sanitiser 500ml", 39))),
    ("Electronics", (("Wireless earbuds", 499), ("Power bank 10000mAh", 149), ("Smart band", 249),
                     ("Bluetooth speaker", 299), ("Fast charger 65W", 129))),
    ("Home", (("Rice cooker 4L", 459), ("Air fryer", 399), ("Silk duvet", 1299),
              ("Cotton towel set", 119), ("Ceramic bowls x4", 99))),
    ("Sports", (("Running shoes", 599), ("Yoga mat", 159), ("Badminton set", 229),
                ("Insulated bottle", 129), ("Hiking backpack", 399))),
    ("Fresh", (("Pineapples 5 jin", 59), ("Mooncake gift box", 268), ("Dried mango 500g", 49),
               ("Hairy crab voucher", 588), ("Northeast rice 5kg", 79))),
    ("Baby", (("Diapers L x54", 149), ("Infant formula 900g", 329), ("Baby wipes x80", 29),
              ("Light stroller", 1299), ("Feeding bottle set", 189))),
    ("Mobility", (("Electric scooter", 3299), ("Cycling helmet", 199), ("Spare battery", 899),
                  ("Phone holder", 49), ("Rain cover", 69))),
)

BRAND_WORDS = (
    "Jade", "Golden", "Lotus", "Bamboo", "Red Lantern", "Silk Road", "Peach Blossom", "Morning Dew",
    "West Lake", "Pearl River", "Plum", "Crane", "Cloud", "Panda", "Willow", "Harbour", "Summit",
    "Orchid", "Maple", "Osprey", "Lucky Cat", "Blue Sky", "Spring", "Riverside", "Dragon Gate",
)  # fmt: skip
SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun",
            "Ma", "Zhu", "Hu", "Guo", "He", "Lin", "Gao", "Luo")  # fmt: skip
GIVEN_NAMES = ("Wei", "Fang", "Na", "Min", "Jing", "Li", "Qiang", "Lei", "Jun", "Yang", "Yan", "Jie",
               "Tao", "Ming", "Chao", "Xiu", "Xia", "Ping", "Gang", "Hui", "Xin", "Yu", "Hao")  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoSpec:
    """What to generate; the fields of a config file's ``[demo]`` table.

    The counts are of *generated* things only: hand-written brands in the
    config come on top of ``brands``.
    """

    seed: int
    brands: int = 100
    stores_per_brand: int = 100
    products_per_brand: int = 4
    guides_per_store: int = 1
    center: tuple[float, float] = (31.23, 121.47)  # (lat, lon): stores go to cities near here ...
    spread_km: float = 1500.0  # ... at most this far away (the nearest city if none is)

    def problems(self) -> list[tuple[str, str]]:
        """(field, problem) pairs; empty when the spec is usable."""
        out: list[tuple[str, str]] = []
        for name, low, high in (
            ("brands", 0, MAX_BRANDS),
            ("stores_per_brand", 0, MAX_STORES_PER_BRAND),
            ("products_per_brand", 1, MAX_PRODUCTS_PER_BRAND),
            ("guides_per_store", 0, MAX_GUIDES_PER_STORE),
        ):
            value = getattr(self, name)
            if not low <= value <= high:
                out.append((name, f"must be between {low} and {high}, got {value}"))
        if not out and self.brands * self.stores_per_brand * self.guides_per_store > MAX_GENERATED_GUIDES:
            out.append(("guides_per_store", f"brands x stores_per_brand x guides_per_store must be at most "
                                            f"{MAX_GENERATED_GUIDES:,}"))  # fmt: skip
        lat, lon = self.center
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            out.append(("center", f"must be [lat, lon] with lat in [-90, 90] and lon in [-180, 180], "
                                  f"got [{lat}, {lon}]"))  # fmt: skip
        if not 0.0 < self.spread_km <= MAX_SPREAD_KM:
            out.append(("spread_km", f"must be > 0 and <= {MAX_SPREAD_KM:g}, got {self.spread_km}"))
        return out


def host_key(seed: int, host_id: str) -> str:
    """The control-panel key of a generated host.

    HMAC-SHA256 keyed by a secret derived from the seed, over the host id, so a
    key cannot be guessed from the host id alone.  Anyone who has the config
    file (and so the seed) can compute every key: demo use only.
    """
    secret = f"livehub-demo-host-key:{seed}".encode()
    return hmac.new(secret, host_id.encode(), hashlib.sha256).hexdigest()[:24]


def cities_near(center: tuple[float, float], spread_km: float) -> list[tuple[str, float, float, int]]:
    """Cities of :data:`CITIES` within ``spread_km`` of ``center``; the nearest one if none is."""
    lat, lon = center
    near = [c for c in CITIES if haversine_km(lat, lon, c[1], c[2]) <= spread_km]
    if near:
        return near
    return [min(CITIES, key=lambda c: haversine_km(lat, lon, c[1], c[2]))]


def _offset(lat: float, lon: float, distance_km: float, bearing: float) -> tuple[float, float]:
    """The point ``distance_km`` from (lat, lon) towards ``bearing`` (radians); flat, fine at city scale."""
    dlat = distance_km * math.cos(bearing) / KM_PER_DEG_LAT
    dlon = distance_km * math.sin(bearing) / (KM_PER_DEG_LAT * max(0.01, math.cos(math.radians(lat))))
    new_lat = max(-90.0, min(90.0, lat + dlat))
    new_lon = (lon + dlon + 180.0) % 360.0 - 180.0
    return round(new_lat, 6), round(new_lon, 6)


@dataclass(frozen=True, slots=True)
class DemoParts:
    """Generated festival parts, in generation order.

    Venues, brands and the rest are complete topology objects: each venue
    lists its host, each brand its products and stores.
    """

    venues: tuple[Venue, ...] = ()
    hosts: tuple[Host, ...] = ()
    brands: tuple[Brand, ...] = ()
    products: tuple[Product, ...] = ()
    stores: tuple[Store, ...] = ()
    guides: tuple[Guide, ...] = ()


def generate(spec: DemoSpec) -> DemoParts:
    """The festival parts for ``spec``; the same spec gives identical parts.

    Raises ValueError if ``spec`` has :meth:`DemoSpec.problems`.
    """
    problems = spec.problems()
    if problems:
        raise ValueError("; ".join(f"{key}: {problem}" for key, problem in problems))
    rng = random.Random(spec.seed)
    rnd = rng.random  # plain draws only in the hot loops: fast, and stable across Python versions
    gauss = rng.gauss

    def pick(seq: Sequence[T]) -> T:
        return seq[int(rnd() * len(seq))]

    cities = cities_near(spec.center, spec.spread_km)
    city_cum = list(itertools.accumulate(c[3] for c in cities))
    venues: list[Venue] = []
    hosts: list[Host] = []
    brands: list[Brand] = []
    products: list[Product] = []
    stores: list[Store] = []
    guides: list[Guide] = []
    codes: set[str] = set()
    brand_width = max(3, len(str(spec.brands)))
    store_width = max(3, len(str(spec.stores_per_brand)))
    for b in range(1, spec.brands + 1):
        brand_id = f"b{b:0{brand_width}d}"
        noun, items = pick(CATEGORIES)
        name = f"{pick(BRAND_WORDS)} {noun}"
        host_id = f"host-{brand_id}"
        venues.append(Venue(brand_id, BRAND, f"{name} live room", brand_id, (host_id,)))
        hosts.append(Host(host_id, brand_id, f"{name} host", host_key(spec.seed, host_id)))

        # a brand is present in a handful of cities; the first one is home (warehouse, more stores)
        wanted = min(len(cities), 3 + int(rnd() * 6))
        picked: list[int] = []
        while len(picked) < wanted:
            i = bisect.bisect_right(city_cum, rnd() * city_cum[-1])
            if i not in picked:
                picked.append(i)
        home = cities[picked[0]]
        warehouse = Warehouse(*_offset(home[1], home[2], 20.0 + 40.0 * rnd(), rnd() * 2 * math.pi))

        skus: list[str] = []
        for p in range(1, spec.products_per_brand + 1):
            title, list_yuan = items[(p - 1) % len(items)]
            if p > len(items):
                title = f"{title} (edition {(p - 1) // len(items) + 1})"
            list_cents = round(list_yuan * (0.8 + 0.4 * rnd())) * 100
            price_cents = max(1, round(list_cents * (0.6 + 0.35 * rnd()) / 100) * 100 - 10)
            sku = f"{brand_id}-p{p}"
            skus.append(sku)
            products.append(Product(sku, brand_id, title, price_cents, list_cents,
                                    f"/static/products/{noun.lower()}.svg"))  # fmt: skip

        # stores: a weighted city (home counts double), then a gaussian distance from its centre
        cum = list(itertools.accumulate(cities[i][3] * (2 if n == 0 else 1) for n, i in enumerate(picked)))
        store_ids: list[str] = []
        for s in range(1, spec.stores_per_brand + 1):
            store_id = f"{brand_id}-s{s:0{store_width}d}"
            store_ids.append(store_id)
            city = cities[picked[bisect.bisect_right(cum, rnd() * cum[-1])]]
            distance = min(abs(gauss(0.0, STORE_SCATTER_SIGMA_KM)), STORE_SCATTER_MAX_KM)
            lat, lon = _offset(city[1], city[2], distance, rnd() * 2 * math.pi)
            stock = {sku: (0 if rnd() < 0.1 else 1 + int(rnd() * 60)) for sku in skus}
            store_name = f"{name} {city[0]} #{s}"
            address = f"{100 + 37 * s % 900} {STREETS[s % len(STREETS)]}, {city[0]}"  # no draw: the rest as before
            stores.append(Store(store_id, brand_id, store_name, lat, lon, pick(RADII_KM), stock, address))
            for g in range(1, spec.guides_per_store + 1):
                code = _share_code(rng)
                while code in codes:
                    code = _share_code(rng)
                codes.add(code)
                guide_name = f"{pick(SURNAMES)} {pick(GIVEN_NAMES)}"
                guides.append(Guide(f"{store_id}-g{g}", guide_name, store_id, brand_id, code))
        brands.append(Brand(brand_id, name, brand_id, warehouse, tuple(skus), tuple(store_ids)))
    return DemoParts(
        tuple(venues), tuple(hosts), tuple(brands), tuple(products), tuple(stores), tuple(guides)
    )


_FROM_BASE32 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", SHARE_CODE_ALPHABET)


def _share_code(rng: random.Random) -> str:
    """8 symbols of :data:`SHARE_CODE_ALPHABET` from 40 random bits (base32, re-lettered)."""
    raw = rng.getrandbits(5 * SHARE_CODE_LENGTH).to_bytes(SHARE_CODE_LENGTH * 5 // 8, "big")
    return base64.b32encode(raw).decode("ascii").translate(_FROM_BASE32)
