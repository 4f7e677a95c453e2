"""Shared by the fuzz tests: the hypothesis profiles they run under and the tally of inputs tried per
bad-input category (docs/operations.md, "Hostile input", quotes the figures).

Profiles (``HYPOTHESIS_PROFILE``, default ``ci``): ``ci`` bounds the examples so that all the fuzz tests
together run in about a minute on a loaded machine; ``thorough`` tries ten times as many.  ``deadline=None``
in both: a slow example on a busy machine is not a failure (speed is for the benchmarks).

The tally is written, merged with what earlier test modules of the run recorded, to ``LIVEHUB_FUZZ_COUNTS``
(default ``$TMPDIR/livehub-fuzz-counts.json``) and printed to the terminal when a fuzz module finishes.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.register_profile(
    "thorough", max_examples=3000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
SCALE = 10 if PROFILE == "thorough" else 1


def pure(examples: int = 300) -> settings:
    """Settings for a pure decoder property: many examples (scaled by the profile), no deadline."""
    return settings(settings.get_profile(PROFILE), max_examples=examples * SCALE)


def wire(examples: int = 40) -> settings:
    """Settings for a property run against a real server: fewer examples, no deadline, no shrinking
    beyond what is quick."""
    return settings(settings.get_profile(PROFILE), max_examples=examples * SCALE)


COUNTS: Counter[str] = Counter()


def tried(category: str, n: int = 1) -> None:
    COUNTS[category] += n


def counts_path() -> Path:
    return Path(os.environ.get("LIVEHUB_FUZZ_COUNTS") or Path(tempfile.gettempdir()) / "livehub-fuzz-counts.json")


def report(module: str, request: pytest.FixtureRequest) -> None:
    """Merge this module's tally into the run's file and print it on pytest's terminal."""
    path = counts_path()
    merged: dict[str, int] = {}
    try:
        merged = json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    mine = {f"{module}: {k}": v for k, v in sorted(COUNTS.items())}
    merged.update(mine)
    path.write_text(json.dumps(merged, indent=1, sort_keys=True))
    lines = "\n".join(f"  {k}: {v}" for k, v in mine.items())
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if terminal is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
            terminal.write_line(f"\n[fuzz] inputs tried ({PROFILE} profile), also in {path}:\n{lines}")
    COUNTS.clear()
