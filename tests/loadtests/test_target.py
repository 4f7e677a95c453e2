"""What the locust crowd reads from the target festival (loadtests/crowd/target.py), without I/O."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from loadtests.crowd.options import Options
from loadtests.crowd.target import Target, _from_config, _from_env, sales_in
from tests.conftest import SMALL_CONFIG


def target() -> Target:
    venues = {"main": {"id": "main", "kind": "main", "brand": None}, "b1": {"id": "b1", "kind": "brand", "brand": "b1"},
              "b2": {"id": "b2", "kind": "brand", "brand": "b2"}}  # fmt: skip
    products = {"b1": [{"sku": "b1-sku1"}], "b2": [{"sku": "b2-sku1"}, {"sku": "b2-sku2"}]}
    return Target("f", "main", venues, products, {}, {"b1": ["g-b1-1"], "b2": ["g-b2-1"]})


def test_the_sales_of_a_snapshot_are_read_from_every_channels_state() -> None:
    snapshot = {"state": {"main": {"card": {}, "sales": {"s1": {"sale_id": "s1"}}},
                          "b1": {"sales": {"s2": {"sale_id": "s2"}}}}}  # fmt: skip
    assert set(sales_in(snapshot)) == {"s1", "s2"}
    assert sales_in({"recovered": True}) == {}


def test_a_guided_session_uses_a_share_code_of_the_rooms_brand() -> None:
    rng = random.Random(1)
    assert {target().pick_guide(rng, "b2", share=1.0) for _ in range(20)} == {"g-b2-1"}
    assert target().pick_guide(rng, "b2", share=0.0) is None
    assert target().pick_guide(rng, "main", share=1.0) in {"g-b1-1", "g-b2-1"}  # the main venue: any guide


def test_viewers_spread_over_the_main_venue_and_the_brand_rooms_that_exist() -> None:
    rng = random.Random(2)
    picks = [target().pick_venue(rng, main_share=0.5) for _ in range(200)]
    assert set(picks) == {"main", "b1", "b2"} and 60 < picks.count("main") < 140


def test_a_venues_sales_sell_its_brands_products_and_the_main_venue_any() -> None:
    assert [p["sku"] for p in target().skus_for("b1")] == ["b1-sku1"]
    assert len(target().skus_for("main")) == 3


def test_host_logins_come_from_the_local_config_the_main_venues_host_first() -> None:
    codes, hosts = _from_config(SMALL_CONFIG, "host-main=main-key")  # the file holds only hashes
    assert hosts[0].host == "host-main" and hosts[0].key == "main-key" and hosts[0].venue == "main"
    assert {h.host for h in hosts} == {"host-main", "host-b1", "host-b2", "host-b3"}
    assert all(h.key is None for h in hosts[1:])  # no key known: minted with LIVEHUB_SECRET, or no host
    assert "g-b1-1" in codes["b1"]


def test_a_demo_festival_file_gives_its_plaintext_host_keys() -> None:
    _, hosts = _from_config(str(Path(SMALL_CONFIG).parent / "festival.toml"))
    assert hosts[0].host == "host-main" and hosts[0].key


def test_host_logins_and_share_codes_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEHUB_LOCUST_GUIDES", "b1:g-b1-1, g-x")
    codes, hosts = _from_env(Options(host_keys="host-b1=b1-key,host-main=main-key"), "main")
    assert [h.host for h in hosts] == ["host-main", "host-b1"] and hosts[1].key == "b1-key"
    assert codes == {"b1": ["g-b1-1"], None: ["g-x"]}
