"""A festival crowd for locust: viewers who watch, like and comment, buyers who rush flash sales
and pay, hosts who schedule sales and pin cards; the invariant checker after the run.

Everything about the target is read from it (``GET /api/festival``, ``/api/venues/{id}``):
it works against the demo festival and ``config/small.toml`` alike. From the repository root
(127.0.0.1 only, bounded in users and time; docs/performance.md "Load testing with locust"
has the distributed commands and every option):

    LIVEHUB_DEMO=1 LIVEHUB_SECRET=load-secret LIVEHUB_REDIS_URL=redis://127.0.0.1:6379/0 \
        livehub serve --config config/small.toml --port 8000 &
    LIVEHUB_REDIS_URL=redis://127.0.0.1:6379/0 LIVEHUB_LOCUST_CONFIG=config/small.toml \
        locust -f loadtests/locustfile.py --headless -H http://127.0.0.1:8000 -u 200 -r 50 -t 60s

Websocket traffic is in locust's table as request type ``WS`` (loadtests/crowd/ws.py):
``join …`` (connect to snapshot), ``event <kind>`` (publish-to-delivery latency), ``buy
<status>``, ``ping``, ``comment``; closes, timeouts, error frames and missing snapshots are
failures. After the run (on the master or the local runner) loadtests/invariants.py reads the
target's Redis (``--livehub-redis-url``) and prints its report; a breach makes locust exit 1.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `loadtests.crowd` from any directory

from locust import events
from locust.runners import WorkerRunner

from loadtests.crowd.options import of, register
from loadtests.crowd.shapes import FestivalShape
from loadtests.crowd.users import Buyer, Host, Viewer

__all__ = ["Buyer", "FestivalShape", "Host", "Viewer"]
log = logging.getLogger("livehub.loadtests.locustfile")
_breached: list[bool] = []


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    register(parser)


@events.test_stop.add_listener
def _check_invariants(environment: Any, **_kwargs: Any) -> None:
    """After the run: the invariant checker on the target's Redis (not on workers: the master checks)."""
    if isinstance(environment.runner, WorkerRunner):
        return
    opts = of(environment.parsed_options)
    if not opts.redis_url:
        log.warning("invariants: not checked (give --livehub-redis-url or LIVEHUB_REDIS_URL)")
        return
    from loadtests.invariants import run_check

    try:
        report = run_check(opts.redis_url, opts.prefix, settle_s=opts.check_settle_s)
    except Exception as exc:  # the check itself failed: that is a failed run too
        log.error("invariants: cannot check %s: %s", opts.redis_url, exc)
        _breached.append(True)
        return
    print(report.render(), flush=True)
    _breached.append(not report.ok)


@events.quitting.add_listener
def _exit_code(environment: Any, **_kwargs: Any) -> None:
    if any(_breached):
        environment.process_exit_code = 1
