"""The load profiles of the locust crowd (loadtests/crowd/profiles.py): pure stage plans."""

from __future__ import annotations

import pytest

from loadtests.crowd.profiles import SHAPES, at, stages


def test_constant_is_locusts_own_users_at_the_spawn_rate_until_the_run_time() -> None:
    plan = stages("constant", 200, 50, 60, 5)
    assert plan == [(60, 200, 50, None)]
    assert at(plan, 59.9) == (60, 200, 50, None) and at(plan, 60) is None


def test_a_join_storm_brings_nine_tenths_of_the_audience_within_five_seconds_viewers_only() -> None:
    (_, early, _, who1), (until, users, rate, who2) = stages("join-storm", 5_000, 1, 120, 5)
    assert (early, users, until) == (500, 5_000, 120)
    assert (users - early) / rate == 5
    assert who1 == who2 == ("Host", "Viewer")


def test_a_flash_sale_spike_adds_buyers_only_around_the_first_sales_opening_then_leaves() -> None:
    audience, spike, after = stages("flash-sale", 1_000, 1, 90, lead_s=5)
    assert audience[1] == 600 and audience[3] is None  # the weighted mix watches first
    assert spike[1] == 1_000 and spike[3] == ("Buyer",) and audience[0] < 5 + 5 < spike[0]
    assert (spike[1] - audience[1]) / spike[2] == 3  # the 400 buyers arrive within 3 s
    assert after == (90, 600, spike[2], ("Buyer",))


def test_every_shape_ends_with_the_run_time_and_runs_on_without_one() -> None:
    for shape in SHAPES:
        assert stages(shape, 100, 10, 60, 5)[-1][0] == 60
        assert stages(shape, 100, 10, 0, 5)[-1][0] == float("inf")
        assert all(users >= 1 and rate > 0 for _, users, rate, _ in stages(shape, 1, 1, 60, 5))


def test_an_unknown_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown shape"):
        stages("tsunami", 10, 1, 60, 5)
