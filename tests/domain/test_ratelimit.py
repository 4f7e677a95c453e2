"""livehub.domain.ratelimit.TokenBucket: the clock is an argument, so no test sleeps."""

from __future__ import annotations

import pytest

from livehub.domain.ratelimit import TokenBucket


def takes(bucket: TokenBucket, now: float, n: float = 1.0) -> int:
    """How many times ``take(now, n)`` succeeds in a row at one instant."""
    count = 0
    while bucket.take(now, n):
        count += 1
        assert count < 10_000
    return count


def test_a_new_bucket_starts_full() -> None:
    assert takes(TokenBucket(rate=1.0, burst=3.0, now=100.0), now=100.0) == 3


def test_an_empty_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=4.0, burst=8.0, now=0.0)
    takes(bucket, 0.0)

    assert takes(bucket, 0.25) == 1  # 0.25 s x 4/s
    assert takes(bucket, 1.25) == 4  # one more second
    assert not bucket.take(1.25)


def test_refill_is_capped_at_burst_however_long_the_bucket_was_idle() -> None:
    bucket = TokenBucket(rate=10.0, burst=5.0, now=0.0)
    takes(bucket, 0.0)

    assert takes(bucket, 3600.0) == 5


def test_take_n_is_all_or_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=5.0, now=0.0)

    assert bucket.take(0.0, 3)
    assert not bucket.take(0.0, 3)  # only 2 left: nothing is taken
    assert bucket.take(0.0, 2)
    assert not bucket.take(0.0, 1)


def test_more_than_burst_is_never_granted() -> None:
    bucket = TokenBucket(rate=100.0, burst=5.0, now=0.0)

    assert not bucket.take(0.0, 6)
    assert not bucket.take(1000.0, 6)
    assert bucket.take(1000.0, 5)


def test_a_refused_take_does_not_delay_the_next_refill() -> None:
    bucket = TokenBucket(rate=2.0, burst=2.0, now=0.0)
    takes(bucket, 0.0)

    assert not bucket.take(0.25)  # half a token so far
    assert bucket.take(0.5)  # the half before the refusal still counts


def test_a_clock_that_goes_backwards_adds_no_tokens() -> None:
    bucket = TokenBucket(rate=1.0, burst=3.0, now=10.0)
    takes(bucket, 10.0)

    assert not bucket.take(5.0)
    assert takes(bucket, 11.0) == 1  # measured from 10.0, not from 5.0


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (1, 0), (-1, 1), (1, -1)])
def test_rate_and_burst_must_be_positive(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(rate, burst, now=0.0)


def test_wait_s_is_the_time_until_enough_tokens_and_infinite_above_the_burst() -> None:
    bucket = TokenBucket(rate=4.0, burst=2.0, now=0.0)
    takes(bucket, 0.0)
    assert bucket.wait_s() == 0.25
    assert bucket.wait_s(2) == 0.5
    assert bucket.wait_s(3) == float("inf")
    assert not bucket.take(0.2)
    assert bucket.take(0.25)
