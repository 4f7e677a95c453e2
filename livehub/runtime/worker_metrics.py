"""``livehub serve --workers N``: every worker's metrics in every worker's scrape.

uvicorn's workers share one listening socket, so a scrape reaches whichever worker the kernel
hands the connection to.  Each worker writes its own metric families (the scrape-time values of
its plain counters, its histogram) to ``<dir>/<pid>.json`` every ``metrics_flush_interval_s``
and again whenever it answers a scrape; the worker that answers merges its live families with
its siblings' files.  The directory is the CLI's (``LIVEHUB_METRICS_DIR``, made and removed by
``livehub serve`` when it starts more than one worker).

Merging: a sample that carries a ``node`` label is one worker's own series and is kept as it
is (every worker is a node with its own id); a sample without one (the event latency
histogram) is summed over the workers, ``_created`` samples taking the earliest.  A sibling's
values are at most one flush interval old, and never older than what that sibling last
answered itself (it writes before it answers), so a counter never goes down between two
scrapes answered by different workers.  The files of workers that are gone are skipped.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import orjson
from prometheus_client.core import Metric

log = logging.getLogger("livehub.runtime.worker_metrics")


def _dump(families: Iterable[Metric]) -> bytes:
    return orjson.dumps([
        [f.name, f.documentation, f.type, f.unit, [[s.name, s.labels, s.value] for s in f.samples]]
        for f in families
    ])  # fmt: skip


def _load(raw: bytes) -> list[Metric]:
    families = []
    for name, documentation, kind, unit, samples in orjson.loads(raw):
        family = Metric(name, documentation, kind, unit)
        for sample_name, labels, value in samples:
            family.add_sample(sample_name, labels, value)
        families.append(family)
    return families


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkerFiles:
    """This worker's metrics file in the shared directory, and its live siblings' families."""

    def __init__(self, directory: str, pid: int | None = None) -> None:
        self.directory = Path(directory)
        self.pid = os.getpid() if pid is None else pid
        self.path = self.directory / f"{self.pid}.json"

    def write(self, families: Iterable[Metric]) -> None:
        """Replace this worker's file (written aside, then renamed: a reader never sees half of it)."""
        partial = self.path.with_suffix(".tmp")
        partial.write_bytes(_dump(families))
        os.replace(partial, self.path)

    def siblings(self) -> list[list[Metric]]:
        """The families of every other live worker that has written its file."""
        out = []
        for path in sorted(self.directory.glob("*.json")):
            if not path.stem.isdigit() or int(path.stem) == self.pid or not _alive(int(path.stem)):
                continue
            try:
                out.append(_load(path.read_bytes()))
            except (OSError, ValueError) as exc:  # a worker stopping removed it; a torn file is never renamed in
                log.debug("skipped worker metrics %s: %s", path.name, exc)
        return out

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def merge(groups: Iterable[Iterable[Metric]]) -> list[Metric]:
    """One family per name: ``node``-labelled samples side by side, the others summed (see the module)."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, frozenset[tuple[str, str]]], tuple[dict[str, str], float]]] = {}
    for group in groups:
        for family in group:
            if family.name not in families:
                families[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
                values[family.name] = {}
            merged = values[family.name]
            for sample in family.samples:
                key = (sample.name, frozenset(sample.labels.items()))
                seen = merged.get(key)
                if seen is None:
                    merged[key] = (sample.labels, sample.value)
                elif sample.name.endswith("_created"):
                    merged[key] = (seen[0], min(seen[1], sample.value))
                else:
                    merged[key] = (seen[0], seen[1] + sample.value)
    out = []
    for name, family in families.items():
        for (sample_name, _), (labels, value) in values[name].items():
            family.add_sample(sample_name, labels, value)
        out.append(family)
    return out
