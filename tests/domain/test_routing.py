"""The pure fulfilment decision and distances."""

from __future__ import annotations

import pytest

from livehub.domain.geo import haversine_km
from livehub.domain.routing import (
    Candidate,
    Fulfilment,
    decide,
    pickup_candidates,
    warehouse_delivery,
)


def test_haversine_matches_hand_computed_distances() -> None:
    assert haversine_km(0.0, 0.0, 0.0, 0.0) == 0.0
    # one degree of latitude on Redis's sphere: 2 * pi * 6372.7975608 / 360
    assert haversine_km(31.0, 121.0, 32.0, 121.0) == pytest.approx(111.2263, abs=1e-3)
    # one degree of longitude at the equator is the same arc
    assert haversine_km(0.0, 0.0, 0.0, 1.0) == pytest.approx(111.2263, abs=1e-3)
    assert haversine_km(31.2, 121.4, 31.3, 121.5) == pytest.approx(haversine_km(31.3, 121.5, 31.2, 121.4))


def test_pickup_is_offered_within_the_store_radius_edge_inclusive() -> None:
    assert Candidate("a", 3.0, 3.0).offers_pickup
    assert not Candidate("a", 3.0001, 3.0).offers_pickup
    assert Candidate("a", None, 1.0).offers_pickup  # no location: a chosen store is trusted


def test_candidates_are_tried_nearest_first_within_their_radius_and_once() -> None:
    found = [
        Candidate("far", 2.5, 5.0),
        Candidate("near-small-radius", 1.0, 0.5),  # buyer outside its radius
        Candidate("near", 1.2, 3.0),
        Candidate("tie-b", 2.0, 3.0),
        Candidate("tie-a", 2.0, 3.0),
        Candidate("tried", 0.1, 3.0),
    ]
    order = [c.store_id for c in pickup_candidates(found, tried={"tried"})]
    assert order == ["near", "tie-a", "tie-b", "far"]


def test_the_first_store_that_had_the_units_serves() -> None:
    a, b = Candidate("a", 1.0, 3.0), Candidate("b", 2.0, 3.0)
    assert decide([(a, False), (b, True)], 40.0) == Fulfilment("pickup", "b", 2.0)


def test_no_store_with_the_units_means_warehouse_delivery() -> None:
    a = Candidate("a", 1.0, 3.0)
    result = decide([(a, False)], 40.0)
    assert result == Fulfilment("delivery", None, 40.0) and result.warehouse
    assert decide([], None) == warehouse_delivery(None)


def test_a_chosen_store_that_served_is_no_fallback_and_one_that_did_not_is() -> None:
    chosen, other = Candidate("mine", 2.0, 3.0), Candidate("other", 1.0, 3.0)
    assert decide([(chosen, True)], 9.0, "mine") == Fulfilment("pickup", "mine", 2.0, fallback=False)
    assert decide([(chosen, False), (other, True)], 9.0, "mine") == Fulfilment("pickup", "other", 1.0, True)
    assert decide([(chosen, False)], 9.0, "mine") == Fulfilment("delivery", None, 9.0, fallback=True)


def test_a_fulfilment_is_either_pickup_at_a_store_or_delivery_from_the_warehouse() -> None:
    with pytest.raises(ValueError):
        Fulfilment("pickup", None, 1.0)
    with pytest.raises(ValueError):
        Fulfilment("delivery", "a", 1.0)


@pytest.mark.parametrize(
    "fulfilment",
    [Fulfilment("pickup", "a", 1.234), Fulfilment("delivery", None, None, True), warehouse_delivery(50.5)],
)
def test_a_fulfilment_round_trips_through_hash_fields(fulfilment: Fulfilment) -> None:
    assert Fulfilment.from_fields(fulfilment.to_fields()) == fulfilment


def test_no_recorded_mode_means_no_fulfilment_yet() -> None:
    assert Fulfilment.from_fields({}) is None
    assert Fulfilment.from_fields({"mode": "", "store_id": ""}) is None
