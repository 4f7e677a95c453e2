"""Garbage collection for a real-time process.

CPython's reference counting frees almost everything livehub allocates per
frame; the cycle collector is for the rest.  Its *full* collection walks every
tracked object, and a node holds many: the websocket stack keeps ~150 tracked
objects per open connection (coroutine frames, closures, parser state), so at
2,000 viewers a full collection stalls the event loop for 100-300 ms, and by
CPython's own rule (25 % growth of the old generation) it ran every few seconds
during a flash sale, which set the buy latency's p99 (see docs/architecture.md,
"Garbage collection").

The policy, applied once the node has started:

* everything alive at that point (modules, the festival with its thousands of
  stores, routes) is moved to the permanent generation (``gc.freeze()``), so no
  collection walks it again;
* young collections (generations 0 and 1) stay automatic and free the
  cycles that die young; a young collection starts after ``YOUNG_THRESHOLD``
  new objects instead of CPython's 700, so the objects of the buys and frames
  in flight have mostly died by then (700 made a young collection every few
  dozen buys, each walking everything in flight);
* automatic full collections are off.  Every ``gc_full_interval_s / 10``
  seconds (60 s by default; a job on :func:`livehub.runtime.periodic.every`,
  first one interval after start) livehub runs a young collection and freezes what
  survives it: mostly the state of connections that stay, which no later
  collection then walks again.  That step costs a young collection (a few ms),
  however many viewers joined meanwhile; a *full* collection walking every
  connection costs ~0.1 ms per connection (~220 ms at 2,000 buyers).
* every ``gc_full_interval_s`` (600 s) the step is a full collection instead:
  everything is unfrozen, walked and frozen again.  That frees the cycles of
  connections that were frozen alive and closed since, and it is the one
  stall livehub keeps, at a known, bounded rate and measured
  (``livehub_gc_full_*`` metrics, a log line when it takes longer than 50 ms).
  ``gc_full_interval_s = 0`` keeps CPython's automatic full collections.

Cyclic garbage that outlived a young collection therefore waits at most one
``gc_full_interval_s``: memory is bounded by what a node's connection churn
leaves in that time.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

from livehub.runtime.periodic import every

log = logging.getLogger("livehub.runtime.heap")

NEVER = 1_000_000_000  # a generation-2 threshold no count reaches
YOUNG_THRESHOLD = 10_000
STEPS = 10  # freeze steps per gc_full_interval_s; the last of each round is the full collection
SLOW_FULL_S = 0.05


class HeapPolicy:
    """The collector settings of one node process, undone by ``stop``."""

    def __init__(self, full_interval_s: float) -> None:
        self.full_interval_s = full_interval_s
        self.full_collections = 0  # full collections, scheduled or not
        self.full_seconds_total = 0.0
        self.full_seconds_last = 0.0
        self.steps = 0  # scheduled steps run (freeze steps and full collections)
        self._started_at = 0.0
        self._saved: tuple[int, int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        gc.callbacks.append(self._observe)
        gc.collect()
        gc.freeze()
        if self.full_interval_s > 0:
            self._saved = gc.get_threshold()
            _, middle, _ = self._saved
            gc.set_threshold(YOUNG_THRESHOLD, middle, NEVER)
            self._task = asyncio.get_running_loop().create_task(self._every(), name="livehub-gc")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None
        gc.unfreeze()
        if self._observe in gc.callbacks:
            gc.callbacks.remove(self._observe)

    async def _every(self) -> None:
        interval_s = self.full_interval_s / STEPS
        await asyncio.sleep(interval_s)  # start() has just collected and frozen: the first step is one interval later
        await every(interval_s, self._scheduled_step, "gc")

    async def _scheduled_step(self) -> None:
        if self.step() and self.full_seconds_last > SLOW_FULL_S:
            log.info("full garbage collection took %.0f ms", self.full_seconds_last * 1000)

    def step(self) -> bool:
        """One scheduled step: a young collection, or every ``STEPS``-th time a full one over
        the unfrozen heap; then the survivors are frozen.  True when it was the full one."""
        self.steps += 1
        full = self.steps % STEPS == 0
        if full:
            gc.unfreeze()
            gc.collect()
        else:
            gc.collect(1)
        gc.freeze()
        return full

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started_at = time.perf_counter()
        else:
            took = time.perf_counter() - self._started_at
            self.full_collections += 1
            self.full_seconds_total += took
            self.full_seconds_last = took
