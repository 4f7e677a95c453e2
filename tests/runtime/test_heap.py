"""livehub.runtime.heap.HeapPolicy: the collector settings of a node process, and undoing them."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from livehub.runtime import heap
from livehub.runtime.heap import HeapPolicy


@pytest.fixture(autouse=True)
def gc_state() -> Iterator[None]:
    """Whatever a test (or a broken policy) does to the collector is undone for the tests after it."""
    threshold = gc.get_threshold()
    callbacks = list(gc.callbacks)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
        gc.callbacks[:] = callbacks


async def test_start_freezes_the_heap_and_turns_automatic_full_collections_off() -> None:
    _, middle, _ = before = gc.get_threshold()
    policy = HeapPolicy(3600)
    policy.start()
    try:
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, middle, heap.NEVER)
        assert any(t.get_name() == "livehub-gc" for t in asyncio.all_tasks())
    finally:
        await policy.stop()
    assert gc.get_threshold() == before


async def test_stop_restores_the_thresholds_unfreezes_and_removes_its_callback() -> None:
    before = gc.get_threshold()
    policy = HeapPolicy(3600)
    policy.start()
    assert policy._observe in gc.callbacks
    await policy.stop()

    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert policy._observe not in gc.callbacks
    assert not any(t.get_name() == "livehub-gc" for t in asyncio.all_tasks())


async def test_the_scheduled_full_collection_runs_and_is_measured() -> None:
    policy = HeapPolicy(0.05)
    policy.start()
    try:
        at_start = policy.full_collections  # start() itself collects once before freezing
        total_at_start = policy.full_seconds_total
        for _ in range(500):
            if policy.full_collections > at_start:
                break
            await asyncio.sleep(0.01)
        assert policy.full_collections > at_start, "no scheduled full collection within 5 s"
        assert policy.full_seconds_total > total_at_start
        assert policy.full_seconds_last > 0
    finally:
        await policy.stop()


async def test_young_collections_stay_automatic_while_full_ones_wait_for_the_schedule() -> None:
    policy = HeapPolicy(3600)
    policy.start()
    try:
        full_before = policy.full_collections
        young_before = gc.get_stats()[0]["collections"]
        # 30 young collections' worth of objects kept alive; CPython's own thresholds would also collect in full
        kept: list[list[int]] = [[] for _ in range(300_000)]
        assert gc.get_stats()[0]["collections"] > young_before
        assert policy.full_collections == full_before
        assert gc.get_count()[0] < heap.YOUNG_THRESHOLD
        del kept
    finally:
        await policy.stop()


async def test_every_full_collection_is_counted_even_one_not_scheduled() -> None:
    policy = HeapPolicy(3600)
    policy.start()
    try:
        at_start = policy.full_collections
        gc.collect(1)  # a young one: not counted
        assert policy.full_collections == at_start
        gc.collect()
        assert policy.full_collections == at_start + 1
    finally:
        await policy.stop()


async def test_a_zero_interval_keeps_cpythons_automatic_collections() -> None:
    before = gc.get_threshold()
    policy = HeapPolicy(0)
    policy.start()
    try:
        assert gc.get_threshold() == before
        assert not any(t.get_name() == "livehub-gc" for t in asyncio.all_tasks())
    finally:
        await policy.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert policy._observe not in gc.callbacks


class _Cyclic:
    """An object that only the cycle collector can free (it refers to itself)."""

    def __init__(self) -> None:
        self.me = self


def test_survivors_of_a_step_are_frozen_and_their_garbage_waits_for_the_full_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(heap, "STEPS", 3)
    policy = HeapPolicy(3600)  # steps driven by hand below, not by the schedule
    full_before = policy.full_collections
    assert policy.step() is False
    obj = _Cyclic()
    ref = weakref.ref(obj)
    assert policy.step() is False  # obj is alive, so it is frozen with the other survivors
    assert policy.full_collections == full_before  # steps are young collections
    del obj  # now cyclic garbage among the frozen objects
    gc.collect()  # not even an unscheduled full collection walks the frozen heap
    assert ref() is not None
    assert policy.step() is True  # the 3rd is the full collection: it walks the frozen heap too
    assert ref() is None
    assert gc.get_freeze_count() > 0  # and freezes the survivors again


async def test_the_first_scheduled_step_waits_one_step_interval_after_start() -> None:
    policy = HeapPolicy(3600)  # a step every 360 s
    policy.start()
    try:
        for _ in range(10):
            await asyncio.sleep(0)
        assert policy.steps == 0  # start() has just collected and frozen: no step at once
    finally:
        await policy.stop()


async def test_a_scheduled_step_that_fails_is_logged_and_the_schedule_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    policy = HeapPolicy(0.05)
    calls = 0
    real_step = policy.step

    def flaky() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return real_step()

    policy.step = flaky  # type: ignore[method-assign]
    policy.start()
    try:
        for _ in range(500):
            if calls >= 3:
                break
            await asyncio.sleep(0.01)
        assert calls >= 3, "the schedule stopped after a failed step"
        assert "gc step crashed" in caplog.text
    finally:
        await policy.stop()
