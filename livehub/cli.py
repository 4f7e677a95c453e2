"""The ``livehub`` command.  The only place that configures logging.

    livehub [--log-format text|json] serve [--config PATH] [--host H] [--port P] [--workers N]
    livehub token --user ID [--role ROLE] [--venue V] [--venues V,..] [--guide G] [--store S] [--ttl-s N]
    livehub orders tail [--group G] [--from-start]
    livehub festival check [PATH]
    livehub hash-key < key.txt
    livehub festival import stores.csv|guides.csv [--kind K] [--dry-run] [--url URL] [--token T]
    livehub hosts add ID --venue V --name N [--url URL] [--token T] < key.txt
    livehub hosts rotate-key ID [--url URL] [--token T] < new-key.txt
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from livehub.settings import Settings, SettingsError, load_settings

log = logging.getLogger("livehub.cli")


# Secrets in log lines: a token in a URL's query (uvicorn's DEBUG lines carry the websocket path with
# ``?token=``), an Authorization header's value, and anything shaped like a signed token.
_SECRETS = re.compile(
    r"(?P<keep>\b(?:token|access_token|secret|key)=)[^&\s\"'#]+"
    r"|(?P<keep2>authorization['\"]?\s*[:=,]\s*(?:b?['\"])?\s*(?:(?:bearer|basic)\s+)?)[^\s'\",)]+"
    r"|\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with every token and Authorization value replaced by ``[redacted]``."""
    return _SECRETS.sub(lambda m: (m.group("keep") or m.group("keep2") or "") + "[redacted]", text)


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed format: leave it to the handler's own error path
        return
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))


class RedactSecrets(logging.Filter):
    """Installs the redacting record factory (every logger of the process, uvicorn's included) and
    redacts what reaches the handler it is attached to.  Named in uvicorn's log config, so a worker
    process that uvicorn spawns installs it too."""

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        _install_redaction()

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


_factory_installed = False


def _install_redaction() -> None:
    global _factory_installed
    if _factory_installed:
        return
    _factory_installed = True
    make = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(redacting_factory)


def json_formatter() -> logging.Formatter:
    """The JSON lines formatter (livehub.runtime.log_context), redacting; named in uvicorn's log config."""
    from livehub.runtime.log_context import JsonFormatter

    return JsonFormatter(redact=redact)


def uvicorn_log_config(log_format: str = "text", level: str = "INFO") -> dict[str, Any]:
    """uvicorn's own logging config with :class:`RedactSecrets` on each of its handlers.  JSON lines:
    uvicorn's formatters are livehub's JSON one, and every worker's root logger (livehub's lines) too."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["livehub_redact"] = {"()": "livehub.cli.RedactSecrets"}
    for handler in config.get("handlers", {}).values():
        handler.setdefault("filters", []).append("livehub_redact")
    if log_format == "json":
        for name in config.get("formatters", {}):
            config["formatters"][name] = {"()": "livehub.cli.json_formatter"}
        config["handlers"]["livehub"] = {"class": "logging.StreamHandler", "formatter": "default",
                                         "stream": "ext://sys.stderr", "filters": ["livehub_redact"]}  # fmt: skip
        config["root"] = {"handlers": ["livehub"], "level": level}
    return config


def _configure_logging(level: str, log_format: str = "text") -> None:
    """Logging for every subcommand; secrets (tokens, Authorization values) are redacted in every record."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    _install_redaction()
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets())
        if log_format == "json":
            handler.setFormatter(json_formatter())


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    return load_settings(config_path=getattr(args, "config", None), **overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from livehub.config import FestivalError, load_festival, require_safe
    from livehub.runtime.embedded_redis import EmbeddedRedis

    settings = _settings(args, host=args.host, port=args.port, workers=args.workers, log_format=args.log_format)
    try:
        festival = load_festival(settings.config_path)
    except FestivalError as exc:
        print(f"livehub: {exc}", file=sys.stderr)
        return 2
    require_safe(settings, festival)  # UnsafeSettings: one line from main(), exit 2, nothing started
    if settings.demo:
        log.warning("demo mode (LIVEHUB_DEMO): guest logins, simulated payments and plaintext host keys are on; "
                    "never expose it")  # fmt: skip
    embedded = None
    if not settings.redis_url:
        embedded = EmbeddedRedis()
        os.environ["LIVEHUB_REDIS_URL"] = embedded.start()
        log.info("started embedded redis-server (pid %s)", embedded.pid)
    os.environ["LIVEHUB_CONFIG"] = settings.config_path
    metrics_dir = None
    if settings.workers > 1 and not settings.metrics_dir:  # each worker's series in every scrape
        import tempfile

        metrics_dir = tempfile.mkdtemp(prefix="livehub-metrics-")
        os.environ["LIVEHUB_METRICS_DIR"] = metrics_dir
    base = f"http://{settings.host}:{settings.port}"
    banner = log.info if settings.log_format == "json" else functools.partial(print, file=sys.stderr, flush=True)
    banner(
        f"\nlivehub: festival {festival.title!r}: 1 main venue + {len(festival.venues) - 1} brand venues, "
        f"{len(festival.stores)} stores, {len(festival.guides)} guides\n"
        f"  watch (viewer):       {base}/watch?venue={festival.main_venue}\n"
        f"  control panel (host): {base}/panel\n"
        f"  festival API:         {base}/api/festival\n"
        f"  metrics:              {base}/metrics\n"
        f"  websocket:            ws://{settings.host}:{settings.port}/ws?venue=<id>&token=<token>\n",
    )  # JSON lines: the banner is a log record like every other line
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
            log_config=uvicorn_log_config(settings.log_format, args.log_level),  # redacts tokens, in every worker
            log_level="debug" if args.log_level == "DEBUG" else "warning",  # no line per connection
        )
    finally:
        if embedded is not None:
            embedded.stop()
        if metrics_dir is not None:
            import shutil

            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


def cmd_token(args: argparse.Namespace) -> int:
    """Print an HS256 JWT signed with LIVEHUB_SECRET (demos and tests): any role and its claims."""
    from livehub.domain.tokens import HOST, VIEWER, mint

    settings = _settings(args)
    role = args.role or (HOST if args.host_venue else VIEWER)
    venues = frozenset(v for v in args.venues.split(",") if v) if args.venues else None
    try:
        token = mint(settings.secret, args.user, role, venue=args.venue or args.host_venue,
                     ttl_s=args.ttl_s or settings.token_ttl_s, venues=venues, guide=args.guide, store=args.store,
                     issuer=settings.jwt_issuer or None, audience=settings.jwt_audience or None)  # fmt: skip
    except ValueError as exc:
        print(f"livehub token: {exc}", file=sys.stderr)
        return 2
    print(token)
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
    from livehub.domain.festival import keyless_hosts, plaintext_hosts
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
    demo_mode = _settings(args).demo
    keyless = keyless_hosts(f, demo_mode)
    if keyless:
        print(f"hosts with no usable key ({len(keyless)}; they cannot log in"
              f"{'' if demo_mode else ', plaintext keys count in demo mode only'}): {_few(keyless)}")  # fmt: skip
    plain = plaintext_hosts(f)
    if plain and not demo_mode:
        print(f"plaintext host keys ({len(plain)}; livehub serve refuses them outside demo mode): {_few(plain)}")
    return 0


def _few(ids: list[str], shown: int = 10) -> str:
    return ", ".join(ids[:shown]) + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


def cmd_hash_key(args: argparse.Namespace) -> int:
    """Read a host key from stdin (one line) and print its argon2id hash for ``key_hash``."""
    from livehub.services.host_login import hash_key

    key = sys.stdin.readline().rstrip("\r\n")
    if not key or len(key) > 256 or any(c.isspace() for c in key) or not key.isprintable():
        print("livehub: hash-key reads one key (1-256 printable characters, no spaces) from stdin",
              file=sys.stderr)  # fmt: skip
        return 2
    print(hash_key(key))
    return 0


# ---- festival admin over HTTP (livehub.web.routes_admin) ----------------------------------------------
ADMIN_URL = "http://127.0.0.1:8000"
ADMIN_TIMEOUT_S = 300.0  # a 50,000-row import is validated in seconds; a busy node may take longer


def _admin_call(args: argparse.Namespace, method: str, path: str, body: bytes,
                content_type: str) -> tuple[int, dict[str, Any]]:  # fmt: skip
    """One admin request to ``--url`` (or LIVEHUB_ADMIN_URL) with ``--token`` (or LIVEHUB_ADMIN_TOKEN):
    the status and the JSON answer; status 0 when the node cannot be reached."""
    import urllib.error
    import urllib.request

    import orjson

    base = (args.url or os.environ.get("LIVEHUB_ADMIN_URL") or ADMIN_URL).rstrip("/")
    token = args.token or os.environ.get("LIVEHUB_ADMIN_TOKEN", "")
    request = urllib.request.Request(base + path, data=body, method=method)
    request.add_header("Content-Type", content_type)
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=ADMIN_TIMEOUT_S) as response:
            return response.status, orjson.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, orjson.loads(raw or b"{}")
        except orjson.JSONDecodeError:
            return exc.code, {"message": raw[:200].decode("utf-8", "replace")}
    except OSError as exc:
        return 0, {"message": f"cannot reach {base}: {exc}"}


def _admin_answer(status: int, out: dict[str, Any], what: str) -> int:
    """Print an admin answer: 0 applied (or validated by a dry run), 1 refused (each bad row), 2 otherwise."""
    if status == 200:
        done = "applied" if out.get("applied") else "validated (dry run, nothing applied)"
        again = " (this request was applied before: nothing applied again)" if out.get("duplicate") else ""
        print(f"{what}: {done}: {out.get('created', 0)} created, {out.get('updated', 0)} updated, "
              f"festival version {out.get('version')}{again}")  # fmt: skip
        return 0
    details = out.get("details") or {}
    rows = details.get("rows") if isinstance(details, dict) else None
    print(f"{what}: refused ({status or 'no answer'}): {out.get('message', '')}", file=sys.stderr)
    if isinstance(rows, list):
        for row in rows:
            where = f"line {row.get('line')}" if row.get("line") else "file"
            print(f"  {where}: {row.get('field') or '-'}: {row.get('reason')}", file=sys.stderr)
        if details.get("problems", 0) > len(rows):
            print(f"  ... and {details['problems'] - len(rows)} more", file=sys.stderr)
    return 1 if status == 400 and rows is not None else 2


def cmd_festival_import(args: argparse.Namespace) -> int:
    """POST a CSV file of stores or guides to a running node (all-or-nothing; ``--dry-run`` validates)."""
    import urllib.parse
    import uuid
    from pathlib import Path

    path = Path(args.path)
    kind = args.kind or path.stem.lower()
    if kind not in ("stores", "guides"):
        print(f"livehub: {path.name}: name the file stores.csv / guides.csv or give --kind stores|guides",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        body = path.read_bytes()
    except OSError as exc:
        print(f"livehub: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    request_id = args.request_id or uuid.uuid4().hex  # give it again (--request-id) to retry safely
    query = urllib.parse.urlencode({"dry_run": "1" if args.dry_run else "0", "request_id": request_id})
    status, out = _admin_call(args, "POST", f"/api/admin/import/{kind}?{query}", body, "text/csv")
    return _admin_answer(status, out, f"{path.name} (request {request_id})")


def _read_key(what: str) -> str | None:
    key = sys.stdin.readline().rstrip("\r\n")
    if not key or len(key) > 256 or any(c.isspace() for c in key) or not key.isprintable():
        print(f"livehub: {what} reads one key (1-256 printable characters, no spaces) from stdin", file=sys.stderr)
        return None
    return key


def cmd_hosts_add(args: argparse.Namespace) -> int:
    """Add (or replace) a host on a running festival: the key from stdin is hashed here, only its hash is sent."""
    import orjson

    from livehub.services.host_login import hash_key

    key = _read_key("hosts add")
    if key is None:
        return 2
    host = {"id": args.id, "venue": args.venue, "name": args.name or args.id, "key_hash": hash_key(key)}
    status, out = _admin_call(args, "POST", "/api/admin/festival", orjson.dumps({"hosts": [host]}),
                              "application/json")  # fmt: skip
    return _admin_answer(status, out, f"host {args.id}")


def cmd_hosts_rotate_key(args: argparse.Namespace) -> int:
    """Replace a host's keys with the new key from stdin (hashed here): the old key is refused on every node."""
    import urllib.parse

    import orjson

    from livehub.services.host_login import hash_key

    key = _read_key("hosts rotate-key")
    if key is None:
        return 2
    path = f"/api/admin/hosts/{urllib.parse.quote(args.id, safe='')}/key"
    status, out = _admin_call(args, "POST", path, orjson.dumps({"key_hash": hash_key(key)}), "application/json")
    return _admin_answer(status, out, f"host {args.id}")


def _admin_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help=f"a livehub node (default: LIVEHUB_ADMIN_URL, else {ADMIN_URL})")
    parser.add_argument("--token", help="an admin token (default: LIVEHUB_ADMIN_TOKEN; `livehub token --role admin`)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livehub", description="Real-time live-commerce session server")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--log-format", default=None, choices=["text", "json"],
                        help="one JSON object per line with json (default: LIVEHUB_LOG_FORMAT, else text)")  # fmt: skip
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
    token.add_argument("--role", choices=["viewer", "host", "moderator", "guide", "staff", "admin"],
                       help="default: viewer (host with --host-venue)")
    token.add_argument("--venue", help="host: the venue they drive")
    token.add_argument("--host-venue", help="mint a host token for this venue (same as --role host --venue V)")
    token.add_argument("--venues", help="moderator: the venues they moderate, comma-separated")
    token.add_argument("--guide", help="guide: their guide id (default: the user id)")
    token.add_argument("--store", help="staff: their store id")
    token.add_argument("--ttl-s", type=int, help="lifetime in seconds (default: LIVEHUB_TOKEN_TTL_S)")
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
    imp = festival_sub.add_parser("import", help="import a CSV file of stores or guides into a running festival")
    imp.add_argument("path", help="stores.csv or guides.csv (the header names the columns)")
    imp.add_argument("--kind", choices=["stores", "guides"], help="default: the file's name")
    imp.add_argument("--dry-run", action="store_true", help="validate and report, apply nothing")
    imp.add_argument("--request-id", help="retry an import with the id it printed: applied at most once")
    _admin_options(imp)
    imp.set_defaults(func=cmd_festival_import)

    hosts = sub.add_parser("hosts", help="hosts of a running festival")
    hosts_sub = hosts.add_subparsers(dest="hosts_command", required=True)
    add = hosts_sub.add_parser("add", help="add a host; its key is read from stdin and sent hashed")
    add.add_argument("id")
    add.add_argument("--venue", required=True)
    add.add_argument("--name", help="default: the id")
    _admin_options(add)
    add.set_defaults(func=cmd_hosts_add)
    rotate = hosts_sub.add_parser("rotate-key", help="replace a host's keys with the key read from stdin")
    rotate.add_argument("id")
    _admin_options(rotate)
    rotate.set_defaults(func=cmd_hosts_rotate_key)

    hash_key = sub.add_parser("hash-key", help="read a host key from stdin, print its hash for key_hash")
    hash_key.set_defaults(func=cmd_hash_key)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        log_format = args.log_format or load_settings(config_path=getattr(args, "config", None)).log_format
    except SettingsError:  # the subcommand's own settings report it (and exit 2)
        log_format = "text"
    _configure_logging(args.log_level, log_format)
    try:
        code: int = args.func(args)
        return code
    except SettingsError as exc:
        print(f"livehub: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
