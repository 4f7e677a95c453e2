"""Periodic jobs of a node: one helper for every "do this every N seconds" loop.

A job runs, then sleeps for what is left of its interval (a job slower than its interval runs
back to back, never overlapping itself).  A Redis error is logged as a warning and the job
runs again at its next turn; any other exception is logged with its traceback and the job
goes on too: one failed step never stops a node's stock pusher, sweeper or GC policy.
:class:`Periodic` owns the tasks and cancels them together on stop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

log = logging.getLogger("livehub.runtime.periodic")

Step = Callable[[], Awaitable[object]]


async def every(interval_s: float, step: Step, name: str) -> None:
    """Run ``step`` every ``interval_s`` seconds, for ever (until cancelled)."""
    while True:
        started = time.monotonic()
        try:
            await step()
        except RedisError as exc:
            log.warning("%s step failed: %s", name, exc)
        except Exception:
            log.exception("%s step crashed", name)
        await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - started)))


class Periodic:
    """The periodic jobs of one component, started and stopped together."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, interval_s: float, step: Step, name: str) -> None:
        self._tasks.append(asyncio.create_task(every(interval_s, step, name), name=f"livehub-{name}"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    def __len__(self) -> int:
        return len(self._tasks)
