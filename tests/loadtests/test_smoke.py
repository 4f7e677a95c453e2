"""The smoke scenario's proof of work (loadtests/smoke.py): a locust run that did no real work
(no websocket join, no event, no buy, no payment) fails even with zero failures counted."""

from __future__ import annotations

import csv
from pathlib import Path

from loadtests.smoke import work_done

FIELDS = ["Type", "Name", "Request Count", "Failure Count"]


def stats(path: Path, rows: list[tuple[str, str, int]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIELDS)
        for kind, name, n in rows:
            w.writerow([kind, name, n, 0])
        w.writerow(["", "Aggregated", sum(n for *_, n in rows), 0])
    return path


def test_a_run_that_joined_got_events_bought_and_paid_did_its_work(tmp_path: Path) -> None:
    rows = [("WS", "join main", 10), ("WS", "event sale.scheduled", 5), ("WS", "buy ok", 3),
            ("POST", "POST /api/reservations/{id}/pay", 2)]  # fmt: skip
    assert work_done(stats(tmp_path / "s.csv", rows)) == []


def test_a_run_whose_websockets_did_nothing_did_not_do_its_work(tmp_path: Path) -> None:
    rows = [("GET", "GET /api/festival", 1), ("POST", "POST /api/auth/guest", 300)]
    missing = work_done(stats(tmp_path / "s.csv", rows))
    assert len(missing) == 4 and "no WS 'join ' requests" in missing


def test_a_run_without_stats_did_not_do_its_work(tmp_path: Path) -> None:
    assert len(work_done(tmp_path / "absent.csv")) == 4
