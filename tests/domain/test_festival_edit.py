"""Admin edits of a running festival (livehub.domain.festival_edit): an overlay of whole records on the
festival file, validated by the file's own checks, refused whole with every bad row's line, field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from livehub.config import load_festival
from livehub.domain.festival import FestivalError, build_festival
from livehub.domain.festival_edit import (
    EditRefused,
    RowProblem,
    apply_edits,
    festival_doc,
    parse_csv,
    stage,
)
from livehub.domain.topology import Festival

SMALL = Path(__file__).resolve().parents[2] / "config" / "small.toml"
HASH = "$argon2id$v=19$m=65536,t=3,p=4$RiA4r2bWFf367avEXcNE+w$xjZuckIZknortaOs/0gODB+0cKISD3GotfqyOVGprXI"
STORE = {"id": "b1-new", "brand": "b1", "name": "New store", "lat": 31.2, "lon": 121.4, "radius_km": 3.0}


@pytest.fixture(scope="module")
def seed() -> Festival:
    return load_festival(SMALL)


def refusal(seed: Festival, section: str, rows: list[tuple[int, dict[str, object]]], **kw: object) -> list[RowProblem]:
    with pytest.raises(EditRefused) as caught:
        stage(seed, {}, seed, {section: rows}, **kw)  # type: ignore[arg-type]
    return caught.value.problems


def test_the_festival_as_a_document_builds_the_same_festival(seed: Festival) -> None:
    assert build_festival(festival_doc(seed)) == seed


def test_no_edits_serve_the_festival_file_itself(seed: Festival) -> None:
    assert apply_edits(seed, {}) is seed


def test_an_overlay_of_an_unknown_section_does_not_fit(seed: Festival) -> None:
    with pytest.raises(FestivalError, match="colours: not a section"):
        apply_edits(seed, {"colours": {"red": {"id": "red"}}})


def test_a_new_store_is_added_to_its_brand(seed: Festival) -> None:
    staged = stage(seed, {}, seed, {"stores": [(1, {**STORE, "stock": {"b1-sku1": 7}})]})
    assert (staged.created, staged.updated) == (1, 0)
    assert staged.festival.stores["b1-new"].stock == {"b1-sku1": 7}
    assert "b1-new" in staged.festival.brands["b1"].stores
    assert seed.stores.get("b1-new") is None  # the seed is never changed


def test_an_edit_changes_only_the_fields_it_names(seed: Festival) -> None:
    staged = stage(seed, {}, seed, {"stores": [(1, {"id": "b1-s1", "radius_km": 4.5})]})
    before, after = seed.stores["b1-s1"], staged.festival.stores["b1-s1"]
    assert (staged.created, staged.updated) == (0, 1)
    assert after.radius_km == 4.5 and (after.lat, after.lon, after.name) == (before.lat, before.lon, before.name)


def test_a_stock_edit_sets_the_skus_it_names_and_keeps_the_others(seed: Festival) -> None:
    before = dict(seed.stores["b1-s1"].stock)
    assert len(before) >= 2
    sku = sorted(before)[0]
    staged = stage(seed, {}, seed, {"stores": [(1, {"id": "b1-s1", "stock": {sku: 999}})]})
    assert staged.festival.stores["b1-s1"].stock == {**before, sku: 999}


def test_the_overlay_of_earlier_edits_is_kept_by_a_later_one(seed: Festival) -> None:
    first = stage(seed, {}, seed, {"stores": [(1, STORE)]})
    guide = {"id": "g-new", "name": "Ann", "store": "b1-new", "brand": "b1", "share_code": "g-new-1"}
    second = stage(seed, first.records, first.festival, {"guides": [(1, guide)]})
    assert "b1-new" in second.festival.stores and second.festival.guide_by_code("g-new-1") is not None
    assert apply_edits(seed, {**first.records, **second.records}) == second.festival


def test_a_bad_batch_reports_every_bad_row_by_line_and_field_and_applies_nothing(seed: Festival) -> None:
    problems = refusal(seed, "stores", [
        (2, STORE),
        (3, {**STORE, "id": "b1-x", "lat": "north"}),
        (4, {**STORE, "id": "b1-y", "radius_km": 0.0}),
        (5, {**STORE, "id": "b1-z", "brand": "nope"}),
        (6, {**STORE, "id": "b1-w", "stock": {"b2-sku1": 1}}),
    ])  # fmt: skip
    by_line = {p.line: p for p in problems}
    assert sorted(by_line) == [3, 4, 5, 6]
    assert by_line[3].field == "lat" and "number" in by_line[3].reason
    assert by_line[4].field == "radius_km"
    assert by_line[5].field == "brand" and "'nope' is not a brand id" in by_line[5].reason
    assert by_line[6].field == "stock.b2-sku1" and "belongs to brand 'b2'" in by_line[6].reason


def test_an_id_twice_in_one_batch_names_both_lines(seed: Festival) -> None:
    [problem] = refusal(seed, "stores", [(2, STORE), (9, STORE)])
    assert problem == RowProblem(9, "id", "'b1-new' is also on line 2", "stores")


def test_a_record_without_its_id_is_refused_naming_the_id_field(seed: Festival) -> None:
    assert [(p.line, p.field, p.reason) for p in refusal(seed, "products", [(1, {"title": "x"}), (2, {"sku": 7})])] == [
        (1, "sku", "missing required key"), (2, "sku", "must be an id, got integer")]  # fmt: skip


def test_a_json_null_is_refused_where_it_is(seed: Festival) -> None:
    problems = refusal(seed, "brands", [(1, {"id": "b1", "name": None, "warehouse": {"lat": None, "lon": 121.0}})])
    assert [(p.field, p.reason) for p in problems] == [
        ("name", "must not be null: leave the field out to keep its value"),
        ("warehouse.lat", "must not be null: leave the field out to keep its value"),
    ]


def test_a_duplicate_share_code_is_the_row_that_claims_it(seed: Festival) -> None:
    taken = next(iter(seed.guides.values())).share_code
    [problem] = refusal(seed, "guides", [(4, {"id": "g-x", "name": "X", "store": "b1-s1", "brand": "b1",
                                              "share_code": taken})])  # fmt: skip
    assert (problem.line, problem.field) == (4, "share_code")


def test_what_would_break_live_channels_and_routed_orders_cannot_change(seed: Festival) -> None:
    assert refusal(seed, "stores", [(1, {"id": "b1-s1", "brand": "b2"})])[0].field == "brand"
    assert refusal(seed, "venues", [(1, {"id": "b1", "kind": "main"})])[0].field == "kind"
    assert refusal(seed, "brands", [(1, {"id": "b1", "venue": "b2"})])[0].field == "venue"
    assert refusal(seed, "products", [(1, {"sku": "b1-sku1", "brand": "b2"})])[0].field == "brand"
    [section] = refusal(seed, "festival", [(1, {"id": "small"})])
    assert section.field == "section"


def test_a_venue_title_changes_while_it_runs(seed: Festival) -> None:
    staged = stage(seed, {}, seed, {"venues": [(1, {"id": "b1", "title": "Lotus Tea, new season"})]})
    assert staged.festival.venues["b1"].title == "Lotus Tea, new season"
    assert staged.festival.venues["b1"].hosts == seed.venues["b1"].hosts


def test_a_new_brand_comes_with_its_venue_in_one_batch(seed: Festival) -> None:
    venue = {"id": "b9", "kind": "brand", "title": "B9", "brand": "b9"}
    brand = {"id": "b9", "name": "Nine", "venue": "b9", "warehouse": {"lat": 31.0, "lon": 121.0}}
    [alone] = refusal(seed, "venues", [(1, venue)])  # a brand venue names its brand, and the brand its venue
    assert (alone.section, alone.line, alone.field) == ("venues", 1, "brand")
    both = stage(seed, {}, seed, {"venues": [(1, venue)], "brands": [(1, brand)]}).festival
    assert both.channels_for("b9") == ("main", "b9") and both.brands["b9"].venue == "b9"


def test_host_keys_plaintext_only_in_demo_mode_and_a_new_hash_replaces_every_key(seed: Festival) -> None:
    host = {"id": "host-new", "venue": "b1", "name": "New host"}
    assert refusal(seed, "hosts", [(1, {**host, "key": "plain-key"})])[0].field == "key"
    demo = stage(seed, {}, seed, {"hosts": [(1, {**host, "key": "plain-key"})]}, demo=True).festival
    assert demo.hosts["host-new"].key == "plain-key"
    assert refusal(seed, "hosts", [(1, {**host, "key_hash_env": "X"})])[0].field == "key_hash_env"
    added = stage(seed, {}, seed, {"hosts": [(1, {**host, "key_hash": HASH})]}).festival
    assert added.hosts["host-new"].key_hashes == (HASH,) and "host-new" in added.venues["b1"].hosts
    rotated = stage(seed, {}, seed, {"hosts": [(1, {"id": "host-main", "key_hash": HASH})]}).festival
    assert rotated.hosts["host-main"].key_hashes == (HASH,) != seed.hosts["host-main"].key_hashes


def test_a_plaintext_key_is_dropped_when_its_host_gets_a_hash(seed: Festival) -> None:
    demo = stage(seed, {}, seed, {"hosts": [(1, {"id": "h", "venue": "b1", "name": "H", "key": "k-1"})]}, demo=True)
    rotated = stage(seed, demo.records, demo.festival, {"hosts": [(1, {"id": "h", "key_hash": HASH})]})
    assert rotated.festival.hosts["h"].key == "" and rotated.festival.hosts["h"].key_hashes == (HASH,)


# ---- CSV ------------------------------------------------------------------------------------------
def test_csv_rows_become_typed_edits_with_their_line_numbers() -> None:
    rows, problems = parse_csv("stores", "id,brand,name,lat,lon,radius_km,stock\n"
                                         "s1,b1,One,31.2,121.4,3,b1-sku1=5;b1-sku2=0\n\n"
                                         's2,b1,"Two, the second",31.3,121.5,2.5,\n', max_rows=10)  # fmt: skip
    assert problems == []
    assert rows == [
        (2, {"id": "s1", "brand": "b1", "name": "One", "lat": 31.2, "lon": 121.4, "radius_km": 3.0,
             "stock": {"b1-sku1": 5, "b1-sku2": 0}}),
        (4, {"id": "s2", "brand": "b1", "name": "Two, the second", "lat": 31.3, "lon": 121.5, "radius_km": 2.5}),
    ]  # fmt: skip


def test_a_csv_of_only_some_columns_edits_those_fields(seed: Festival) -> None:
    rows, problems = parse_csv("stores", "id,radius_km\nb1-s1,4.0\nb1-s2,1.5\n", max_rows=10)
    staged = stage(seed, {}, seed, {"stores": rows}, problems=problems)
    assert (staged.festival.stores["b1-s1"].radius_km, staged.festival.stores["b1-s2"].radius_km) == (4.0, 1.5)


def test_unreadable_csv_cells_are_reported_by_the_festivals_own_checks(seed: Festival) -> None:
    rows, problems = parse_csv("stores", "id,brand,name,lat,lon,radius_km,stock\n"
                                         "s1,b1,One,north,121.4,3,b1-sku1=five\n"
                                         "s2,b1,Two,31.2,121.4,3,b1-sku1\n"
                                         "s3,b1\n", max_rows=10)  # fmt: skip
    assert problems == [RowProblem(3, "stock", "must be sku=units;sku=units, got 'b1-sku1'", "stores"),
                        RowProblem(4, "", "has 2 cells, the header 7", "stores")]  # fmt: skip
    all_problems = refusal(seed, "stores", rows, problems=problems)
    assert {(p.line, p.field) for p in all_problems} >= {(2, "lat"), (2, "stock.b1-sku1"), (3, "stock"), (4, "")}


def test_a_csv_header_must_name_known_columns_with_the_id() -> None:
    assert parse_csv("stores", "id,colour\n", max_rows=10)[1][0].field == "colour"
    assert parse_csv("guides", "name,store\n", max_rows=10)[1][0].line == 1
    assert parse_csv("stores", "", max_rows=10)[1][0].reason == "empty file: the first line names the columns"
    assert parse_csv("hosts", "id\n", max_rows=10)[1][0].field == "section"


def test_a_csv_longer_than_the_row_limit_names_the_first_extra_line() -> None:
    rows, problems = parse_csv("guides", "id\n" + "".join(f"g{i}\n" for i in range(5)), max_rows=3)
    assert len(rows) == 3 and problems == [RowProblem(5, "", "more than 3 rows: import the file in parts", "guides")]


def test_ten_thousand_csv_rows_with_bad_ones_are_refused_with_each_bad_line(seed: Festival) -> None:
    lines = ["id,brand,name,lat,lon,radius_km,stock"]
    bad = {500: "lat", 7001: "radius_km", 9999: "brand"}
    column = {"lat": 3, "radius_km": 5, "brand": 1}
    value = {"lat": "x", "radius_km": "99", "brand": "zz"}
    for i in range(10_000):
        cells = [f"c{i}", "b1", f"Store {i}", f"31.{i % 1000:03d}", "121.4", "3", "b1-sku1=5"]
        if i in bad:
            cells[column[bad[i]]] = value[bad[i]]
        lines.append(",".join(cells))
    rows, problems = parse_csv("stores", "\n".join(lines) + "\n", max_rows=20_000)
    assert len(rows) == 10_000 and problems == []
    refused = refusal(seed, "stores", rows)
    assert [(p.line, p.field) for p in refused] == [(i + 2, field) for i, field in sorted(bad.items())]
    good = [row for row in rows if row[0] - 2 not in bad]
    assert len(stage(seed, {}, seed, {"stores": good}).festival.stores) == len(seed.stores) + 10_000 - 3
