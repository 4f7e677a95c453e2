"""livehub.domain.quotas: rate buckets per identity (bounded, LRU) and open-connection counts (pure, time passed in)."""

from __future__ import annotations

import math

import pytest

from livehub.domain.quotas import ConnectionCounts, KeyedBuckets, Quotas, identity_key
from livehub.settings import Settings


def test_a_user_is_counted_by_user_id_and_an_anonymous_viewer_by_ip() -> None:
    assert identity_key("u1", "viewer", "10.0.0.1") == identity_key("u1", "viewer", "10.0.0.2") == "u1"
    assert identity_key("", "anonymous", "10.0.0.1") == "ip 10.0.0.1"
    assert identity_key("", "anonymous", "10.0.0.1") != identity_key("", "anonymous", "10.0.0.2")
    assert identity_key("ip", "viewer", "1.2.3.4") != identity_key("", "anonymous", "1.2.3.4")  # no user id has a space
    assert identity_key("host-main", "host", "10.0.0.1") == "host host-main"  # never a viewer named host-main
    assert identity_key("host-main", "host", "10.0.0.1") != identity_key("host-main", "viewer", "10.0.0.1")


def test_one_identity_shares_one_bucket_however_many_callers_take_from_it() -> None:
    buckets = KeyedBuckets(rate=1.0, burst=3.0, max_keys=100)
    granted = [buckets.take("u1", 0.0) == 0.0 for _ in range(200)]  # 200 connections of one token, one instant
    assert sum(granted) == 3
    assert buckets.take("u2", 0.0) == 0.0  # another identity is not affected


def test_a_refusal_says_how_long_to_wait_and_the_wait_is_right() -> None:
    buckets = KeyedBuckets(rate=2.0, burst=1.0, max_keys=10)
    assert buckets.take("u", 0.0) == 0.0
    wait = buckets.take("u", 0.0)
    assert wait == pytest.approx(0.5)
    assert buckets.take("u", 0.4) > 0.0
    assert buckets.take("u", 0.5) == 0.0


def test_taking_more_than_the_burst_is_refused_for_good() -> None:
    buckets = KeyedBuckets(rate=10.0, burst=5.0, max_keys=10)
    assert math.isinf(buckets.take("u", 0.0, n=6))
    assert buckets.take("u", 0.0, n=5) == 0.0  # the refused take took nothing


def test_the_map_never_holds_more_than_max_keys_and_forgets_the_least_recently_seen() -> None:
    buckets = KeyedBuckets(rate=1.0, burst=1.0, max_keys=3)
    for key in ("a", "b", "c"):
        assert buckets.take(key, 0.0) == 0.0
    assert buckets.take("a", 0.0) > 0  # a is empty, and now the most recently seen
    for i in range(1000):
        buckets.take(f"flood-{i}", 0.0)
        assert len(buckets) <= 3
    assert buckets.take("a", 0.0) == 0.0  # forgotten when full: it starts again with a full bucket


def test_a_recently_seen_identity_survives_a_new_one_when_full() -> None:
    buckets = KeyedBuckets(rate=1.0, burst=1.0, max_keys=2)
    buckets.take("old", 0.0)
    buckets.take("busy", 0.0)
    buckets.take("old", 0.0)  # seen again: "busy" is now the least recent
    buckets.take("new", 0.0)
    assert buckets.take("old", 0.0) > 0  # still tracked (and still empty)


def test_connection_counts_refuse_past_the_limit_and_free_the_entry_at_zero() -> None:
    counts = ConnectionCounts(limit=2)
    assert counts.enter("u") and counts.enter("u")
    assert not counts.enter("u")  # refused, not counted
    assert counts.count("u") == 2
    counts.leave("u")
    assert counts.enter("u")
    counts.leave("u")
    counts.leave("u")
    assert counts.count("u") == 0 and len(counts) == 0  # no entry left behind


def test_a_leave_without_an_enter_never_makes_a_count_negative() -> None:
    counts = ConnectionCounts(limit=1)
    counts.leave("u")
    assert counts.enter("u") and not counts.enter("u")


def test_quotas_take_every_bound_from_the_settings() -> None:
    s = Settings(comment_rate=2.0, comment_burst=4.0, identity_buy_burst=7.0, max_connections_per_identity=3,
                 max_connections_per_ip=9, identity_max_tracked=11)  # fmt: skip
    q = Quotas.from_settings(s)
    assert (q.comments.rate, q.comments.burst, q.buys.burst) == (2.0, 4.0, 7.0)
    assert (q.per_identity.limit, q.per_ip.limit) == (3, 9)
    assert q.likes.max_keys == q.grabs.max_keys == 11


@pytest.mark.parametrize(("rate", "burst", "keys"), [(0.0, 1.0, 1), (1.0, 0.0, 1), (1.0, 1.0, 0)])
def test_nonsense_bounds_are_refused(rate: float, burst: float, keys: int) -> None:
    with pytest.raises(ValueError):
        KeyedBuckets(rate, burst, keys)
    with pytest.raises(ValueError):
        ConnectionCounts(0)
