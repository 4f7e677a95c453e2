"""The ``livehub`` command.  The only place that configures logging.

    livehub serve [--config PATH] [--host H] [--port P] [--workers N]
    livehub token --user ID [--host-venue VENUE]
    livehub orders tail [--group G] [--from-start]
    livehub festival check [PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from livehub.settings import Settings, SettingsError, load_settings

log = logging.getLogger("livehub.cli")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    return load_settings(config_path=getattr(args, "config", None), **overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from livehub.config import FestivalError, load_festival
    from livehub.runtime.embedded_redis import EmbeddedRedis

    settings = _settings(args, host=args.host, port=args.port, workers=args.workers)
    try:
        festival = load_festival(settings.config_path)
    except FestivalError as exc:
        print(f"livehub: {exc}", file=sys.stderr)
        return 2
    if settings.secret == "livehub-dev-secret-change-me":
        log.warning("LIVEHUB_SECRET is not set: using the development secret (set it in production)")
    embedded = None
    if not settings.redis_url:
        embedded = EmbeddedRedis()
        os.environ["LIVEHUB_REDIS_URL"] = embedded.start()
        log.info("started embedded redis-server (pid %s)", embedded.pid)
    os.environ["LIVEHUB_CONFIG"] = settings.config_path
    base = f"http://{settings.host}:{settings.port}"
    print(
        f"\nlivehub: festival {festival.title!r}: 1 main venue + {len(festival.venues) - 1} brand venues, "
        f"{len(festival.stores)} stores, {len(festival.guides)} guides\n"
        f"  watch (viewer):       {base}/watch?venue={festival.main_venue}\n"
        f"  control panel (host): {base}/panel\n"
        f"  festival API:         {base}/api/festival\n"
        f"  metrics:              {base}/metrics\n"
        f"  websocket:            ws://{settings.host}:{settings.port}/ws?venue=<id>&token=<token>\n",
        file=sys.stderr,
        flush=True,
    )
    # uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown; turn them into SystemExit
    # so that the embedded Redis below is stopped too.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_on_signal)
    try:
        uvicorn.run(
            "livehub.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            loop="uvloop",
            http="livehub.web.transport:LivehubHttpProtocol",  # httptools, head bounded in size and time
            ws="livehub.web.transport:LivehubWebSocketProtocol",
            ws_max_size=settings.ws_max_size,
            ws_per_message_deflate=False,
            ws_ping_interval=settings.ws_ping_interval_s,
            ws_ping_timeout=settings.ws_ping_timeout_s,
            timeout_graceful_shutdown=30,
            backlog=4096,
            access_log=False,
            log_level="debug" if args.log_level == "DEBUG" else "warning",  # no line per connection
        )
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


def cmd_token(args: argparse.Namespace) -> int:
    from livehub.domain.tokens import HOST, VIEWER, mint

    settings = _settings(args)
    role = HOST if args.host_venue else VIEWER
    print(mint(settings.secret, args.user, role, venue=args.host_venue, ttl_s=settings.token_ttl_s))
    return 0


def cmd_orders_tail(args: argparse.Namespace) -> int:
    try:
        from livehub.store.orders import tail_main
    except ImportError:
        print("livehub: orders are not available in this build", file=sys.stderr)
        return 2
    settings = _settings(args)
    if not settings.redis_url:
        print("livehub: set LIVEHUB_REDIS_URL to the festival's Redis", file=sys.stderr)
        return 2
    try:
        asyncio.run(tail_main(settings, group=args.group, from_start=args.from_start, count=args.count))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_festival_check(args: argparse.Namespace) -> int:
    """Validate a festival config and print a summary: exit 0 when usable, 1 with every problem when not."""
    from livehub.config import FestivalError, load_festival
    from livehub.settings import DEFAULT_CONFIG

    path = args.path if args.path is not None else str(DEFAULT_CONFIG)
    if args.log_level != "DEBUG":  # the summary below is the output; the loader's INFO line would repeat it
        logging.getLogger("livehub.config").setLevel(logging.WARNING)
    started = time.perf_counter()
    try:
        f = load_festival(path)
    except FestivalError as exc:
        print(exc, file=sys.stderr)
        return 1
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(f"{path}: festival {f.id!r} ok: {len(f.venues)} venues, {len(f.hosts)} hosts, "
          f"{len(f.brands)} brands, {len(f.products)} products, {len(f.stores)} stores, "
          f"{len(f.guides)} guides (loaded in {elapsed_ms:.0f} ms)")  # fmt: skip
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livehub", description="Real-time live-commerce session server")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run livehub (embedded Redis unless LIVEHUB_REDIS_URL is set)")
    serve.add_argument("--config", help="festival TOML (default: config/festival.toml)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=None, help="processes sharing the port, coordinated by Redis")
    serve.set_defaults(func=cmd_serve)

    token = sub.add_parser("token", help="mint a token with LIVEHUB_SECRET")
    token.add_argument("--config")
    token.add_argument("--user", required=True)
    token.add_argument("--host-venue", help="mint a host token for this venue")
    token.set_defaults(func=cmd_token)

    orders = sub.add_parser("orders", help="orders")
    orders_sub = orders.add_subparsers(dest="orders_command", required=True)
    tail = orders_sub.add_parser("tail", help="print confirmed orders as they happen")
    tail.add_argument("--config")
    tail.add_argument("--group", default=None, help="read as this consumer group (at-least-once, acked)")
    tail.add_argument("--from-start", action="store_true", help="print existing orders first")
    tail.add_argument("--count", type=int, default=0, help="stop after this many orders (0: never)")
    tail.set_defaults(func=cmd_orders_tail)

    festival = sub.add_parser("festival", help="festival config")
    festival_sub = festival.add_subparsers(dest="festival_command", required=True)
    check = festival_sub.add_parser("check", help="validate a festival config and print a summary")
    check.add_argument("path", nargs="?", default=None, help="festival TOML (default: config/festival.toml)")
    check.set_defaults(func=cmd_festival_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.log_level)
    try:
        code: int = args.func(args)
        return code
    except SettingsError as exc:
        print(f"livehub: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
