"""The crowd's command-line options (locust custom arguments, each also an environment variable).

Registered on locust's parser by :func:`register`; read back with :func:`of`.  Credentials are
environment only (never on a command line): ``LIVEHUB_SECRET`` (mint tokens locally),
``LIVEHUB_PAYMENT_SECRET`` (sign payment callbacks; falls back to ``LIVEHUB_SECRET``),
``LIVEHUB_LOCUST_HOST_KEYS`` (``host-main=main-key,host-b1=b1-key``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from loadtests.crowd.profiles import SHAPES


def register(parser: Any) -> None:
    """Add the ``--livehub-*`` options to locust's (configargparse) parser."""
    group = parser.add_argument_group("livehub", "the festival crowd (loadtests/crowd)")
    add = group.add_argument
    add(
        "--livehub-shape",
        choices=SHAPES,
        default="constant",
        env_var="LIVEHUB_LOCUST_SHAPE",
        help="load shape: constant (-u at -r until -t), join-storm, flash-sale, steady, festival",
    )
    add(
        "--livehub-nodes",
        default="",
        env_var="LIVEHUB_LOCUST_NODES",
        help="comma-separated base URLs of several livehub nodes; users spread over them (empty: -H only)",
    )
    add(
        "--livehub-config",
        default="",
        env_var="LIVEHUB_LOCUST_CONFIG",
        help="the target's festival TOML, read locally for host keys and guides' share codes",
    )
    add(
        "--livehub-redis-url",
        default="",
        env_var="LIVEHUB_REDIS_URL",
        help="the target's Redis: after the run the invariant checker reads it (empty: no check)",
    )
    add("--livehub-prefix", default="lh", env_var="LIVEHUB_REDIS_PREFIX", help="the target's Redis key prefix")
    add(
        "--livehub-check-settle-s",
        type=float,
        default=15.0,
        env_var="LIVEHUB_LOCUST_CHECK_SETTLE_S",
        help="the checker re-checks a breach this long before reporting it",
    )
    add(
        "--livehub-sale-every-s",
        type=float,
        default=20.0,
        env_var="LIVEHUB_LOCUST_SALE_EVERY_S",
        help="each host schedules a flash sale this often",
    )
    add(
        "--livehub-sale-lead-s",
        type=float,
        default=5.0,
        env_var="LIVEHUB_LOCUST_SALE_LEAD_S",
        help="a sale opens this long after it is announced",
    )
    add("--livehub-sale-stock", type=int, default=50, env_var="LIVEHUB_LOCUST_SALE_STOCK")
    add("--livehub-sale-duration-s", type=int, default=30, env_var="LIVEHUB_LOCUST_SALE_DURATION_S")
    add(
        "--livehub-sale-limit",
        type=int,
        default=2,
        env_var="LIVEHUB_LOCUST_SALE_LIMIT",
        help="per-user limit of the hosts' sales",
    )
    add("--livehub-reservation-ttl-s", type=int, default=60, env_var="LIVEHUB_LOCUST_RESERVATION_TTL_S")
    add(
        "--livehub-pay-ratio",
        type=float,
        default=0.8,
        env_var="LIVEHUB_LOCUST_PAY_RATIO",
        help="share of buyers who pay their reservation (the others abandon it)",
    )
    add(
        "--livehub-main-share",
        type=float,
        default=0.5,
        env_var="LIVEHUB_LOCUST_MAIN_SHARE",
        help="share of viewers and buyers in the main venue (the rest spread over the brand rooms)",
    )
    add(
        "--livehub-guide-share",
        type=float,
        default=0.3,
        env_var="LIVEHUB_LOCUST_GUIDE_SHARE",
        help="share of sessions opened through a guide's share code (?guide=)",
    )
    add(
        "--livehub-timeout-s",
        type=float,
        default=10.0,
        env_var="LIVEHUB_LOCUST_TIMEOUT_S",
        help="a snapshot or an answer not received within this is a failure",
    )


@dataclass(frozen=True)
class Options:
    shape: str = "constant"
    nodes: str = ""
    config: str = ""
    redis_url: str = ""
    prefix: str = "lh"
    check_settle_s: float = 15.0
    sale_every_s: float = 20.0
    sale_lead_s: float = 5.0
    sale_stock: int = 50
    sale_duration_s: int = 30
    sale_limit: int = 2
    reservation_ttl_s: int = 60
    pay_ratio: float = 0.8
    main_share: float = 0.5
    guide_share: float = 0.3
    timeout_s: float = 10.0
    secret: str = ""
    payment_secret: str = ""
    host_keys: str = ""


def of(parsed: Any) -> Options:
    """The options of a run (``environment.parsed_options``; None in a bare Environment: defaults)."""
    values = {name: getattr(parsed, "livehub_" + name) for name in Options.__dataclass_fields__
              if parsed is not None and hasattr(parsed, "livehub_" + name)}  # fmt: skip
    secret = os.environ.get("LIVEHUB_SECRET", "")
    return Options(**values, secret=secret, payment_secret=os.environ.get("LIVEHUB_PAYMENT_SECRET", secret),
                   host_keys=os.environ.get("LIVEHUB_LOCUST_HOST_KEYS", ""))  # fmt: skip
