"""livehub.runtime.periodic: a failed step never stops a periodic job; stop cancels every job."""

from __future__ import annotations

import asyncio
import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from livehub.runtime.periodic import Periodic


async def test_a_job_keeps_running_after_redis_errors_and_crashes(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RedisConnectionError("redis went away")
        if calls == 2:
            raise ValueError("a bug")

    jobs = Periodic()
    with caplog.at_level(logging.WARNING, logger="livehub.runtime.periodic"):
        jobs.start(0.001, step, "probe")
        for _ in range(200):
            if calls >= 4:
                break
            await asyncio.sleep(0.005)
        await jobs.stop()
    assert calls >= 4
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert (logging.WARNING, "probe step failed: redis went away") in messages
    assert any(level == logging.ERROR and text == "probe step crashed" for level, text in messages)


async def test_stop_cancels_every_job_and_leaves_none_behind() -> None:
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(3600)

    jobs = Periodic()
    jobs.start(1.0, slow, "a")
    jobs.start(1.0, slow, "b")
    await asyncio.wait_for(started.wait(), 1)
    assert len(jobs) == 2
    await jobs.stop()
    assert len(jobs) == 0
    assert not [t for t in asyncio.all_tasks() if (t.get_name() or "").startswith("livehub-a")]
