"""The festival config loader: what a valid file gives, and how an invalid one is reported."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from livehub.config import load_festival
from livehub.domain.festival import FestivalError, build_festival
from livehub.domain.topology import BRAND, MAIN, Festival

CONFIG = Path(__file__).resolve().parents[2] / "config"

MINIMAL = """\
[festival]
id = "t"
title = "Test festival"
main_venue = "main"
commission_rate = 0.1
pickup_search_km = [2.0, 4.0, 8.0]

[[venues]]
id = "main"
kind = "main"
title = "Main"

[[venues]]
id = "b1"
kind = "brand"
title = "B1 room"
brand = "b1"

[[hosts]]
id = "host-main"
venue = "main"
name = "Main host"
key = "main-key"

[[hosts]]
id = "host-b1"
venue = "b1"
name = "B1 host"
key = "b1-key"

[[brands]]
id = "b1"
name = "Brand one"
venue = "b1"
warehouse = { lat = 31.0, lon = 121.0 }

[[products]]
sku = "b1-sku1"
brand = "b1"
title = "Tea"
price_cents = 900
list_price_cents = 1000

[[stores]]
id = "b1-s1"
brand = "b1"
name = "Store one"
lat = 31.23
lon = 121.47
radius_km = 3.0
stock = { b1-sku1 = 5 }

[[guides]]
id = "b1-g1"
name = "Guide one"
store = "b1-s1"
brand = "b1"
share_code = "g-b1-1"
"""

SECOND_BRAND = """
[[venues]]
id = "b2"
kind = "brand"
title = "B2 room"
brand = "b2"

[[brands]]
id = "b2"
name = "Brand two"
venue = "b2"
warehouse = { lat = 30.0, lon = 120.0 }

[[products]]
sku = "b2-sku1"
brand = "b2"
title = "Scooter"
price_cents = 100000
list_price_cents = 120000

[[stores]]
id = "b2-s1"
brand = "b2"
name = "Store two"
lat = 31.2
lon = 121.4
radius_km = 5.0
"""


def edit(text: str, old: str, new: str) -> str:
    """Replace the one occurrence of ``old``; fail loudly if the fixture text changed."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "festival.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> Festival:
    return load_festival(write(tmp_path, text))


def error(tmp_path: Path, text: str) -> FestivalError:
    path = write(tmp_path, text)
    with pytest.raises(FestivalError) as info:
        load_festival(path)
    assert str(info.value).startswith(str(path) + ":"), "every message starts with the file name"
    return info.value


def keys_of(exc: FestivalError) -> list[str]:
    return [key for key, _ in exc.problems]


# ---- what a valid file gives ---------------------------------------------------------------------------


def test_minimal_festival_loads_every_section(tmp_path: Path) -> None:
    f = load(tmp_path, MINIMAL)
    assert (f.id, f.title, f.main_venue) == ("t", "Test festival", "main")
    assert f.commission_rate == 0.1
    assert f.pickup_search_km == (2.0, 4.0, 8.0)
    assert f.venues["main"].kind == MAIN and f.venues["main"].brand is None
    assert f.venues["b1"].kind == BRAND and f.venues["b1"].brand == "b1"
    assert f.hosts["host-b1"].key == "b1-key"
    assert f.products["b1-sku1"].price_cents == 900
    store = f.stores["b1-s1"]
    assert (store.lat, store.lon, store.radius_km, dict(store.stock)) == (31.23, 121.47, 3.0, {"b1-sku1": 5})
    assert f.brands["b1"].warehouse.lat == 31.0


def test_a_store_may_have_an_address_for_its_pickups(tmp_path: Path) -> None:
    with_address = edit(MINIMAL, 'id = "b1-s1"\n', 'id = "b1-s1"\naddress = "200 Nanjing Road East"\n')

    assert load(tmp_path, with_address).stores["b1-s1"].address == "200 Nanjing Road East"
    assert load(tmp_path, MINIMAL).stores["b1-s1"].address == ""  # optional


def test_venues_list_their_hosts_and_brands_list_their_products_and_stores(tmp_path: Path) -> None:
    f = load(tmp_path, MINIMAL + SECOND_BRAND)
    assert f.venues["main"].hosts == ("host-main",)
    assert f.venues["b1"].hosts == ("host-b1",)
    assert f.venues["b2"].hosts == ()
    assert (f.brands["b1"].products, f.brands["b1"].stores) == (("b1-sku1",), ("b1-s1",))
    assert (f.brands["b2"].products, f.brands["b2"].stores) == (("b2-sku1",), ("b2-s1",))


def test_share_codes_map_to_their_guides(tmp_path: Path) -> None:
    f = load(tmp_path, MINIMAL)
    assert f.guide_codes == {"g-b1-1": "b1-g1"}
    guide = f.guide_by_code("g-b1-1")
    assert guide is not None and guide.store == "b1-s1"
    assert f.guide_by_code("nope") is None


def test_brand_viewer_channels_are_main_plus_brand(tmp_path: Path) -> None:
    f = load(tmp_path, MINIMAL)
    assert f.channels_for("b1") == ("main", "b1")
    assert f.channels_for("main") == ("main",)


def test_commission_rate_and_pickup_steps_default_to_the_models_values(tmp_path: Path) -> None:
    text = edit(MINIMAL, "commission_rate = 0.1\n", "")
    text = edit(text, "pickup_search_km = [2.0, 4.0, 8.0]\n", "")
    f = load(tmp_path, text)
    assert f.commission_rate == 0.05
    assert f.pickup_search_km == (3.0, 5.0)


def test_integer_coordinates_are_accepted_as_floats(tmp_path: Path) -> None:
    f = load(tmp_path, edit(MINIMAL, "radius_km = 3.0", "radius_km = 3"))
    assert f.stores["b1-s1"].radius_km == 3.0 and isinstance(f.stores["b1-s1"].radius_km, float)


def test_settings_table_is_left_to_the_settings_module(tmp_path: Path) -> None:
    f = load(tmp_path, MINIMAL + '\n[settings]\nport = 9000\nanything = "goes here"\n')
    assert f.id == "t"


def test_small_config_has_the_fixed_ids_other_tests_rely_on() -> None:
    f = load_festival(CONFIG / "small.toml")
    assert f.main_venue == "main"
    from livehub.services.host_login import key_matches  # small.toml keeps its keys hashed

    assert key_matches(f.hosts["host-main"], "main-key", demo=False)
    assert set(f.brands) == {"b1", "b2", "b3"}
    for b in ("b1", "b2", "b3"):
        assert f.venues[b].brand == b and f.brands[b].venue == b
        assert key_matches(f.hosts[f"host-{b}"], f"{b}-key", demo=False)
        assert f.brands[b].products == (f"{b}-sku1", f"{b}-sku2")
        assert len(f.brands[b].stores) >= 3
        assert f.guide_codes[f"g-{b}-1"] == f"{b}-g1"
    assert all(31.0 < s.lat < 31.4 and 121.2 < s.lon < 121.6 for s in f.stores.values()), "all in Shanghai"


def test_build_festival_validates_a_parsed_document_without_a_file() -> None:
    with pytest.raises(FestivalError, match=r"^<festival>: festival: missing required table"):
        build_festival({"venues": []})


# ---- how problems are reported -------------------------------------------------------------------------


def test_festival_error_is_a_value_error_that_survives_pickling() -> None:
    exc = FestivalError("f.toml", [("stores[0].lat", "must be >= -90 and <= 90, got 91.0")])
    assert isinstance(exc, ValueError)
    again = pickle.loads(pickle.dumps(exc))
    assert (str(again), again.problems) == (str(exc), exc.problems)


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    exc = error(tmp_path, edit(MINIMAL, 'title = "Test festival"', "title = Test festival"))
    assert "not valid TOML" in str(exc)
    assert "line 3" in str(exc)


def test_missing_file_is_reported_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(FestivalError, match=r"nowhere\.toml: cannot read the file"):
        load_festival(path)


def test_unknown_key_is_reported_with_file_and_key(tmp_path: Path) -> None:
    exc = error(tmp_path, edit(MINIMAL, "radius_km = 3.0", 'radius_km = 3.0\ncolour = "red"'))
    assert keys_of(exc) == ["stores[0].colour"]
    assert "stores[0].colour: unknown key" in str(exc)


def test_unknown_top_level_table_is_reported(tmp_path: Path) -> None:
    exc = error(tmp_path, MINIMAL + "\n[shops]\nx = 1\n")
    assert keys_of(exc) == ["shops"]


def test_missing_required_key_is_reported(tmp_path: Path) -> None:
    exc = error(tmp_path, edit(MINIMAL, 'name = "Store one"\n', ""))
    assert keys_of(exc) == ["stores[0].name"]
    assert "missing required key" in str(exc)


def test_a_brand_venue_without_a_brand_is_reported(tmp_path: Path) -> None:
    exc = error(tmp_path, edit(MINIMAL, 'title = "B1 room"\nbrand = "b1"', 'title = "B1 room"'))
    assert keys_of(exc) == ["venues[1].brand"]


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("price_cents = 900", 'price_cents = "9.00"', "products[0].price_cents"),
        ("price_cents = 900", "price_cents = 9.0", "products[0].price_cents"),
        ("lat = 31.23", 'lat = "31.23"', "stores[0].lat"),
        ("radius_km = 3.0", "radius_km = true", "stores[0].radius_km"),
        ('title = "Tea"', "title = 7", "products[0].title"),
        ('store = "b1-s1"', "store = 1", "guides[0].store"),
        ("stock = { b1-sku1 = 5 }", "stock = [5]", "stores[0].stock"),
        ("warehouse = { lat = 31.0, lon = 121.0 }", "warehouse = [31.0, 121.0]", "brands[0].warehouse"),
    ],
)
def test_wrong_type_is_reported(tmp_path: Path, old: str, new: str, key: str) -> None:
    exc = error(tmp_path, edit(MINIMAL, old, new))
    assert keys_of(exc) == [key]
    assert "must be" in str(exc)


def test_a_section_that_is_not_an_array_of_tables_is_reported(tmp_path: Path) -> None:
    text = edit(MINIMAL, "[festival]", 'guides = "none"\n[festival]')
    text = text[: text.index("[[guides]]")]
    exc = error(tmp_path, text)
    assert keys_of(exc) == ["guides"]


@pytest.mark.parametrize(
    ("extra", "key", "what"),
    [
        ('[[venues]]\nid = "b1"\nkind = "brand"\ntitle = "again"\nbrand = "b1"\n',
         "venues[2].id", "venue id"),
        ('[[hosts]]\nid = "host-b1"\nvenue = "b1"\nname = "again"\nkey = "k2"\n', "hosts[2].id", "host id"),
        ('[[brands]]\nid = "b1"\nname = "again"\nvenue = "b1"\nwarehouse = { lat = 1.0, lon = 1.0 }\n',
         "brands[1].id", "brand id"),
        ('[[products]]\nsku = "b1-sku1"\nbrand = "b1"\ntitle = "again"\nprice_cents = 1\n'
         "list_price_cents = 1\n", "products[1].sku", "sku"),
        ('[[stores]]\nid = "b1-s1"\nbrand = "b1"\nname = "again"\nlat = 31.0\nlon = 121.0\nradius_km = 3.0\n',
         "stores[1].id", "store id"),
        ('[[guides]]\nid = "b1-g1"\nname = "again"\nstore = "b1-s1"\nbrand = "b1"\nshare_code = "other"\n',
         "guides[1].id", "guide id"),
        ('[[guides]]\nid = "b1-g2"\nname = "again"\nstore = "b1-s1"\nbrand = "b1"\nshare_code = "g-b1-1"\n',
         "guides[1].share_code", "share code"),
    ],
)  # fmt: skip
def test_duplicate_ids_are_reported_with_both_places(tmp_path: Path, extra: str, key: str, what: str) -> None:
    exc = error(tmp_path, MINIMAL + "\n" + extra)
    assert keys_of(exc) == [key]
    assert f"duplicate {what}" in str(exc)
    assert "(first at " in str(exc)


def test_festival_without_a_main_venue_fails(tmp_path: Path) -> None:
    text = edit(MINIMAL, 'kind = "main"', 'kind = "brand"\nbrand = "b9"')
    exc = error(tmp_path, text)
    assert "venues" in keys_of(exc)
    assert 'no venue has kind = "main"' in str(exc)


def test_festival_with_two_main_venues_fails(tmp_path: Path) -> None:
    exc = error(tmp_path, MINIMAL + '\n[[venues]]\nid = "main2"\nkind = "main"\ntitle = "Other main"\n')
    assert keys_of(exc) == ["venues"]
    assert "exactly one" in str(exc)


def test_main_venue_setting_must_name_the_main_venue(tmp_path: Path) -> None:
    exc = error(tmp_path, edit(MINIMAL, 'main_venue = "main"', 'main_venue = "b1"'))
    assert keys_of(exc) == ["festival.main_venue"]
    exc = error(tmp_path, edit(MINIMAL, 'main_venue = "main"', 'main_venue = "stage"'))
    assert keys_of(exc) == ["festival.main_venue"]


def test_brand_venue_naming_an_unknown_brand_fails(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[venues]]\nid = "b9"\nkind = "brand"\ntitle = "Orphan room"\nbrand = "b9"\n'
    exc = error(tmp_path, text)
    assert keys_of(exc) == ["venues.b9.brand"]


def test_brand_naming_an_unknown_venue_fails(tmp_path: Path) -> None:
    exc = error(tmp_path, edit(MINIMAL, 'venue = "b1"\nwarehouse', 'venue = "b9"\nwarehouse'))
    assert set(keys_of(exc)) == {"brands.b1.venue", "venues.b1.brand"}
    assert "brands.b1.venue: 'b9' is not a venue id" in str(exc)


def test_brand_on_the_main_venue_fails(tmp_path: Path) -> None:
    exc = error(tmp_path, edit(MINIMAL, 'venue = "b1"\nwarehouse', 'venue = "main"\nwarehouse'))
    assert "brands.b1.venue" in keys_of(exc)


def test_host_referencing_unknown_venue_fails(tmp_path: Path) -> None:
    exc = error(tmp_path, edit(MINIMAL, 'venue = "b1"\nname = "B1 host"', 'venue = "b7"\nname = "B1 host"'))
    assert keys_of(exc) == ["hosts.host-b1.venue"]


def test_product_referencing_unknown_brand_fails(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[products]]\nsku = "x1"\nbrand = "nobody"\ntitle = "X"\nprice_cents = 1\n'
    exc = error(tmp_path, text + "list_price_cents = 1\n")
    assert keys_of(exc) == ["products.x1.brand"]


def test_store_referencing_unknown_brand_fails(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[stores]]\nid = "x-s1"\nbrand = "nobody"\nname = "X"\nlat = 1.0\nlon = 1.0\n'
    exc = error(tmp_path, text + "radius_km = 3.0\n")
    assert keys_of(exc) == ["stores.x-s1.brand"]
    assert "'nobody' is not a brand id" in str(exc)


def test_guide_referencing_unknown_store_fails(tmp_path: Path) -> None:
    exc = error(tmp_path, edit(MINIMAL, 'store = "b1-s1"', 'store = "b1-s9"'))
    assert keys_of(exc) == ["guides.b1-g1.store"]


def test_a_store_with_an_unknown_brand_is_reported_once_not_again_for_its_guides(tmp_path: Path) -> None:
    text = edit(MINIMAL, 'brand = "b1"\nname = "Store one"', 'brand = "b7"\nname = "Store one"')
    exc = error(tmp_path, text)
    assert keys_of(exc) == ["stores.b1-s1.brand"]


def test_guide_brand_must_be_its_stores_brand(tmp_path: Path) -> None:
    text = edit(MINIMAL, 'store = "b1-s1"\nbrand = "b1"', 'store = "b2-s1"\nbrand = "b1"')
    exc = error(tmp_path, text + SECOND_BRAND)
    assert keys_of(exc) == ["guides.b1-g1.brand"]
    assert "belongs to brand 'b2'" in str(exc)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("lat = 31.23", "lat = 90.5", "stores[0].lat"),
        ("lat = 31.23", "lat = -91", "stores[0].lat"),
        ("lat = 31.23", "lat = nan", "stores[0].lat"),
        ("lon = 121.47", "lon = 180.01", "stores[0].lon"),
        ("lon = 121.47", "lon = -inf", "stores[0].lon"),
        ("{ lat = 31.0, lon = 121.0 }", "{ lat = 31.0, lon = 200.0 }", "brands[0].warehouse.lon"),
    ],
)
def test_coordinates_out_of_range_fail(tmp_path: Path, old: str, new: str, key: str) -> None:
    assert keys_of(error(tmp_path, edit(MINIMAL, old, new))) == [key]


@pytest.mark.parametrize("radius", ["0", "0.0", "-3.0", "50.01", "inf"])
def test_radius_must_be_positive_and_at_most_50_km(tmp_path: Path, radius: str) -> None:
    exc = error(tmp_path, edit(MINIMAL, "radius_km = 3.0", f"radius_km = {radius}"))
    assert keys_of(exc) == ["stores[0].radius_km"]


def test_radius_of_exactly_50_km_is_allowed(tmp_path: Path) -> None:
    f = load(tmp_path, edit(MINIMAL, "radius_km = 3.0", "radius_km = 50"))
    assert f.stores["b1-s1"].radius_km == 50.0


@pytest.mark.parametrize(
    ("price", "list_price"), [("0", "1000"), ("-5", "1000"), ("900", "0"), ("1001", "1000")]
)
def test_price_must_be_positive_and_not_above_list_price(tmp_path: Path, price: str, list_price: str) -> None:
    text = edit(MINIMAL, "price_cents = 900\nlist_price_cents = 1000",
                f"price_cents = {price}\nlist_price_cents = {list_price}")  # fmt: skip
    exc = error(tmp_path, text)
    assert keys_of(exc)[0] in {"products[0].price_cents", "products[0].list_price_cents"}


def test_price_equal_to_list_price_is_allowed(tmp_path: Path) -> None:
    f = load(tmp_path, edit(MINIMAL, "price_cents = 900", "price_cents = 1000"))
    assert f.products["b1-sku1"].price_cents == 1000


@pytest.mark.parametrize(
    ("stock", "key"),
    [
        ("{ b1-sku1 = -1 }", "stores[0].stock.b1-sku1"),
        ("{ b1-sku1 = 2.5 }", "stores[0].stock.b1-sku1"),
        ("{ b1-sku1 = true }", "stores[0].stock.b1-sku1"),
        ('{ "bad sku" = 1 }', "stores[0].stock.bad sku"),
        ("{ b1-sku9 = 1 }", "stores.b1-s1.stock.b1-sku9"),
        ("{ b2-sku1 = 1 }", "stores.b1-s1.stock.b2-sku1"),
    ],
)
def test_stock_is_whole_units_of_the_stores_own_brands_skus(tmp_path: Path, stock: str, key: str) -> None:
    text = edit(MINIMAL, "stock = { b1-sku1 = 5 }", f"stock = {stock}") + SECOND_BRAND
    assert keys_of(error(tmp_path, text)) == [key]


def test_zero_stock_and_no_stock_table_are_allowed(tmp_path: Path) -> None:
    f = load(tmp_path, edit(MINIMAL, "stock = { b1-sku1 = 5 }", "stock = { b1-sku1 = 0 }") + SECOND_BRAND)
    assert f.stores["b1-s1"].stock == {"b1-sku1": 0}
    assert f.stores["b2-s1"].stock == {}


@pytest.mark.parametrize("rate", ["-0.01", "1.5", "nan", '"5%"'])
def test_commission_rate_must_be_between_0_and_1(tmp_path: Path, rate: str) -> None:
    exc = error(tmp_path, edit(MINIMAL, "commission_rate = 0.1", f"commission_rate = {rate}"))
    assert keys_of(exc) == ["festival.commission_rate"]


@pytest.mark.parametrize(
    "steps", ["[]", "[5.0, 3.0]", "[3.0, 3.0]", "[0.0, 3.0]", "[-1.0]", '["3km"]', "3.0", "[3.0, inf]"]
)
def test_pickup_search_km_must_be_ascending_positive_steps(tmp_path: Path, steps: str) -> None:
    exc = error(tmp_path, edit(MINIMAL, "pickup_search_km = [2.0, 4.0, 8.0]", f"pickup_search_km = {steps}"))
    assert keys_of(exc) == ["festival.pickup_search_km"]


@pytest.mark.parametrize("bad_id", ["", "has space", "x" * 65, "caf\u00e9", "a/b", "a:b"])
def test_ids_are_1_to_64_letters_digits_underscore_dot_or_dash(tmp_path: Path, bad_id: str) -> None:
    exc = error(tmp_path, edit(MINIMAL, 'id = "b1-g1"', f'id = "{bad_id}"'))
    assert keys_of(exc) == ["guides[0].id"]
    assert "1-64 characters" in str(exc)


def test_an_id_of_64_safe_characters_is_allowed(tmp_path: Path) -> None:
    long_id = "A-z_0.9" + "x" * 57
    assert long_id in load(tmp_path, edit(MINIMAL, 'id = "b1-g1"', f'id = "{long_id}"')).guides


def test_all_record_problems_are_reported_together(tmp_path: Path) -> None:
    text = edit(MINIMAL, "radius_km = 3.0", "radius_km = 0")
    text = edit(text, "price_cents = 900", "price_cents = -1")
    exc = error(tmp_path, text)
    assert set(keys_of(exc)) == {"stores[0].radius_km", "products[0].price_cents"}
    assert "2 problems" in str(exc)


def test_references_are_checked_only_once_records_are_well_formed(tmp_path: Path) -> None:
    # the store is broken, so the guide pointing at it is not also reported as "unknown store"
    exc = error(tmp_path, edit(MINIMAL, "radius_km = 3.0", "radius_km = -1"))
    assert keys_of(exc) == ["stores[0].radius_km"]


def test_long_problem_lists_are_shortened_in_the_message(tmp_path: Path) -> None:
    extra = "".join(
        f'\n[[stores]]\nid = "x{i}"\nbrand = "b1"\nname = "X"\nlat = 1.0\nlon = 1.0\nradius_km = 0\n'
        for i in range(30)
    )
    exc = error(tmp_path, MINIMAL + extra)
    assert len(exc.problems) == 30
    assert "30 problems" in str(exc) and "... and 10 more" in str(exc)


def test_host_keys_never_appear_in_messages(tmp_path: Path) -> None:
    exc = error(tmp_path, edit(MINIMAL, 'key = "b1-key"', 'key = "sec ret"'))
    assert keys_of(exc) == ["hosts[1].key"]
    assert "sec ret" not in str(exc)
    exc = error(tmp_path, edit(MINIMAL, 'key = "b1-key"', 'key = "main-key"'))
    assert keys_of(exc) == ["hosts.host-b1.key"]
    assert "main-key" not in str(exc)


# ---- [demo] merged with explicit records ---------------------------------------------------------------

DEMO = "\n[demo]\nseed = 7\nbrands = 2\nstores_per_brand = 3\nproducts_per_brand = 2\n"


def test_demo_table_adds_generated_brands_to_the_explicit_ones(tmp_path: Path) -> None:
    f = load(tmp_path, MINIMAL + DEMO)
    assert list(f.brands) == ["b1", "b001", "b002"], "explicit records first, then generated ones"
    assert len(f.stores) == 1 + 2 * 3
    assert f.channels_for("b002") == ("main", "b002")
    assert f.venues["b001"].hosts == ("host-b001",)


def test_explicit_records_may_reference_generated_ones(tmp_path: Path) -> None:
    extra = '[[guides]]\nid = "star"\nname = "Star"\nstore = "b001-s001"\nbrand = "b001"\n'
    extra += 'share_code = "STAR"\n'
    f = load(tmp_path, MINIMAL + DEMO + extra)
    assert f.guide_by_code("STAR") == f.guides["star"]


def test_explicit_id_clashing_with_a_generated_one_is_reported(tmp_path: Path) -> None:
    extra = '[[stores]]\nid = "b001-s002"\nbrand = "b1"\nname = "X"\nlat = 1.0\nlon = 1.0\nradius_km = 3.0\n'
    exc = error(tmp_path, MINIMAL + DEMO + extra)
    assert keys_of(exc) == ["stores[1].id"]
    assert "also generated by [demo]" in str(exc)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("brands = -1", "demo.brands"),
        ("stores_per_brand = 100000", "demo.stores_per_brand"),
        ("products_per_brand = 0", "demo.products_per_brand"),
        ('seed = "2020"', "demo.seed"),
        ("center = [31.2]", "demo.center"),
        ("center = [95.0, 121.0]", "demo.center"),
        ("spread_km = 0", "demo.spread_km"),
        ("scale = 2", "demo.scale"),
    ],
)
def test_demo_table_is_validated(tmp_path: Path, line: str, key: str) -> None:
    table = "\n[demo]\n" + ("" if line.startswith("seed") else "seed = 1\n") + line + "\n"
    assert keys_of(error(tmp_path, MINIMAL + table)) == [key]
