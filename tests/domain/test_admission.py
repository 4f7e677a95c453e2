"""Admission at the opening second: token bucket and sold-out flag (pure, time passed in)."""

from __future__ import annotations

import pytest

from livehub.domain.admission import Admission, Decision


def test_the_bucket_admits_a_burst_then_sheds_until_it_refills() -> None:
    gate = Admission(rate=10.0, burst=5.0)
    assert [gate.admit("s", 0.0) for _ in range(7)] == [Decision.ADMIT] * 5 + [Decision.BUSY] * 2
    assert gate.admit("s", 0.05) is Decision.BUSY  # half a token
    assert gate.admit("s", 0.1) is Decision.ADMIT  # one token
    assert gate.admit("s", 0.1) is Decision.BUSY


def test_redis_sees_a_bounded_rate_however_many_buyers() -> None:
    gate = Admission(rate=100.0, burst=20.0)
    admitted = sum(gate.admit("s", i / 10_000) is Decision.ADMIT for i in range(10_000))  # 10k buys in 1 s
    assert admitted <= 20 + 100 + 1


def test_each_sale_has_its_own_bucket() -> None:
    gate = Admission(rate=1.0, burst=1.0)
    assert gate.admit("a", 0.0) is Decision.ADMIT
    assert gate.admit("a", 0.0) is Decision.BUSY
    assert gate.admit("b", 0.0) is Decision.ADMIT


def test_sold_out_is_answered_locally_with_one_probe_per_interval() -> None:
    gate = Admission(rate=1_000.0, burst=1_000.0, probe_interval_s=1.0)
    gate.observe_stock("s", 0, now=10.0)
    assert gate.is_sold_out("s")
    assert gate.admit("s", 10.5) is Decision.SOLD_OUT
    assert gate.admit("s", 11.0) is Decision.ADMIT  # the probe
    assert gate.admit("s", 11.1) is Decision.SOLD_OUT
    assert gate.admit("s", 12.2) is Decision.ADMIT


def test_stock_coming_back_clears_the_sold_out_flag() -> None:
    gate = Admission(probe_interval_s=60.0)
    gate.observe_stock("s", 0, now=1.0)
    assert gate.admit("s", 2.0) is Decision.SOLD_OUT
    gate.observe_stock("s", 3, now=2.5)  # an unpaid reservation expired
    assert not gate.is_sold_out("s")
    assert gate.admit("s", 3.0) is Decision.ADMIT


def test_forget_drops_a_sales_state() -> None:
    gate = Admission()
    gate.observe_stock("s", 0, now=0.0)
    gate.forget("s")
    assert not gate.is_sold_out("s")


@pytest.mark.parametrize(("rate", "burst", "probe"), [(0.0, 1.0, 1.0), (1.0, 0.5, 1.0), (1.0, 1.0, 0.0)])
def test_nonsense_settings_are_refused(rate: float, burst: float, probe: float) -> None:
    with pytest.raises(ValueError):
        Admission(rate, burst, probe)


def test_the_gates_stay_bounded_however_many_sales_are_asked_for() -> None:
    gate = Admission(rate=1.0, burst=1.0, max_sales=3)
    for i in range(1000):
        gate.admit(f"s{i}", 0.0)
        assert len(gate) <= 3


def test_when_full_the_least_recently_used_gate_is_dropped() -> None:
    gate = Admission(rate=1e-6, burst=1.0, max_sales=2)
    assert gate.admit("hot", 0.0) is Decision.ADMIT
    gate.admit("cold", 0.0)
    assert gate.admit("hot", 0.0) is Decision.BUSY  # used again: now the most recent
    gate.admit("new", 0.0)  # drops "cold"
    assert gate.admit("hot", 0.0) is Decision.BUSY  # kept its (empty) bucket
    assert gate.admit("cold", 0.0) is Decision.ADMIT  # forgotten: a fresh bucket


def test_is_sold_out_creates_no_gate() -> None:
    gate = Admission()
    assert not gate.is_sold_out("never-bought")
    assert len(gate) == 0
