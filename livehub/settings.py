"""Settings: one frozen object, defaults in one place.

Precedence (lowest first): the defaults below, the ``[settings]`` table of the
festival config file, then ``LIVEHUB_<NAME>`` environment variables (upper-case
field name).  Every bound livehub enforces is a field here; docs/operations.md
lists them with what happens when each is hit.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import tomllib
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from livehub.errors import LivehubException

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "festival.toml"
SECRET_FIELDS = frozenset({"secret", "redis_url", "jwt_hs_keys", "payment_secret"})
DEV_SECRET = "livehub-dev-secret-change-me"  # demo mode only (livehub refuses it otherwise)
MIN_SECRET_CHARS = 16  # outside demo mode, shorter secrets are refused


class SettingsError(LivehubException, ValueError):
    """A setting has a value livehub cannot use."""


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    # where things are
    config_path: str = str(DEFAULT_CONFIG)
    redis_url: str = ""  # empty: start the embedded redis-server
    redis_prefix: str = "lh"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    node_id: str = ""  # empty: derived from host name and pid
    secret: str = DEV_SECRET  # HMAC key for tokens; shared by every node
    redis_pool_size: int = 64  # Redis connections per node; more concurrent commands wait
    redis_pool_timeout_s: float = 5.0  # ... at most this long, then "unavailable"
    redis_script_connections: int = 2  # script batches in flight at once (livehub.store.scripts); others wait and merge
    # reliability (livehub.store.client, livehub.hub.gapfill): every Redis call is bounded
    redis_socket_timeout_s: float = 5.0  # an answer from Redis, counted from the call; past it: "unavailable"
    redis_connect_timeout_s: float = 2.0  # opening a connection to Redis
    redis_health_check_s: float = 10.0  # a pooled connection idle this long is PINGed before use
    redis_retries: int = 2  # retries of a command whose connection was lost (backoff 0.05 s .. 1 s)
    position_check_interval_s: float = 5.0  # compare each subscribed channel's position with Redis
    token_ttl_s: int = 86_400

    # tokens (JWT; docs/operations.md "Security", "Tokens and roles")
    jwt_algorithm: str = "HS256"  # platform tokens: HS256 (shared secret), RS256 or ES256 (public key / JWKS)
    jwt_public_key: str = ""  # RS256/ES256: PEM text, or the path of a PEM file
    jwt_jwks_url: str = ""  # RS256/ES256: the platform's JWKS (keys by kid), fetched and cached
    jwt_jwks_cache_s: float = 300.0  # a fetched JWKS is used this long; an unknown kid refetches at most this often
    jwt_jwks_timeout_s: float = 3.0  # one JWKS fetch; beyond: the token is refused (401), retried later
    jwt_jwks_max_keys: int = 16  # keys kept from a JWKS; the rest are ignored (their tokens refused)
    jwt_hs_keys: str = ""  # HS256 keys by kid for rotation: "kid1=secret1,kid2=secret2"
    jwt_leeway_s: float = 30.0  # clock skew allowed on exp / nbf / iat
    jwt_issuer: str = ""  # when set: tokens must carry this "iss"
    jwt_audience: str = ""  # when set: tokens must carry this "aud"

    # websocket wire
    max_frame_bytes: int = 8_192  # larger frames get a too_large error, connection stays
    ws_max_size: int = 65_536  # larger frames close the connection with 1009
    ws_ping_interval_s: float = 20.0
    ws_ping_timeout_s: float = 20.0
    max_connections: int = 200_000  # per node; beyond: HTTP 503 on the upgrade

    # hostile peers at the transport (livehub.web.transport; docs/operations.md, "Hostile input")
    http_max_header_bytes: int = 16_384  # one request's line and headers; beyond: HTTP 431, connection closed
    http_header_timeout_s: float = 10.0  # ... to arrive (from the first byte / last answer); beyond: HTTP 408, closed
    ws_control_rate: float = 10.0  # ping/pong frames per connection per second
    ws_control_burst: float = 20.0  # ... at once; beyond: close 1008
    ws_close_grace_s: float = 5.0  # wait for the peer's close reply; then closed (all written) or aborted (1006)

    # fan-out and backpressure
    transport_high_water: int = 65_536  # kernel-side buffer beyond which a connection is "paused"
    outbound_buffer_bytes: int = 1_048_576  # per-connection backlog while paused; beyond: close 4008
    history_size: int = 2_000  # events kept per channel for recovery
    history_ttl_s: int = 86_400
    replay_max: int = 2_000  # events replayed on resume at most; beyond: fresh snapshot
    join_buffer_max: int = 10_000  # events buffered for a joining connection
    fanout_slice: int = 16  # connections one broadcast writes per loop turn; a bigger audience takes more turns

    # inbound limits per connection
    inbound_rate: float = 20.0  # frames/s
    inbound_burst: float = 40.0
    inbound_backlog: int = 32  # frames waiting while one of the connection's commands runs; full: stop reading
    max_errors: int = 50  # error frames sent before the connection is closed with 1008

    # audience signals
    online_interval_s: float = 1.0
    stock_interval_s: float = 0.25
    comment_max_chars: int = 200
    comment_rate: float = 1.0  # per identity (all its connections on this node), per second
    comment_burst: float = 3.0
    comment_room_rate: float = 50.0  # comments/s delivered per room per node; the rest sampled out
    like_max_per_frame: int = 100

    # commerce
    admission_rate: float = 2_000.0  # buys/s per sale per node let through to Redis
    admission_burst: float = 500.0  # ... at once; beyond: an immediate "busy" answer
    sweep_interval_s: float = 1.0  # expire unpaid reservations, relay outbox effects
    sale_retention_s: int = 604_800  # a settled sale's keys expire this long after its last possible payment
    leaderboard_interval_s: float = 5.0  # guide leaderboard push to hosts
    reconcile_interval_s: float = 300.0  # settle holds/locks left by a crashed node
    # live numbers (livehub.services.stats; docs/operations.md, "Live numbers")
    stats_interval_s: float = 1.0  # push to hosts, peak online counts and sell-out times
    stats_consume_interval_s: float = 0.25  # the stats consumer group reads new orders this often
    stats_minutes_kept: int = 1_440  # orders-per-minute buckets kept (minutes); older ones expire
    stats_chart_minutes: int = 30  # minutes of orders per minute in the stats frame (<= stats_minutes_kept)
    stats_viewers_pending_max: int = 10_000  # viewers a node batches per tick; beyond: not counted that tick
    # guides' own tools (docs/operations.md "Guides: attribution, the hourly winner, the guide page")
    guide_attribution_ttl_s: int = 604_800  # a user stays attributed to the first guide's share code this long
    guide_winner_interval_s: float = 30.0  # how often each node records the winners of hours that ended
    guide_winner_grace_s: int = 120  # an hour's winner is recorded this long after the hour ends (late payments)
    guide_winner_catch_up_hours: int = 24  # hours looked back at each time (recorded ones are kept as they are)
    guide_winner_retention_s: int = 31_536_000  # a recorded winner is kept this long (a year)
    guide_winners_max_hours: int = 744  # hours one winners query may span (31 days); more: 400
    guide_page_hours: int = 24  # hours of sales and commission on a guide's page
    guide_recent_orders: int = 20  # credited orders kept per guide per hour (newest first)
    guide_open_reservations_max: int = 50  # open reservations listed on a guide's page
    guide_open_scan_max: int = 5_000  # open reservations looked at per guide page request; beyond: "truncated"

    # buyers' orders, pickups, storefront (livehub.store.my_orders, pickups, store_stock; docs/operations.md)
    my_orders_max: int = 200  # entries in a buyer's "my orders" index; beyond: the oldest are trimmed
    my_orders_grace_s: int = 600  # an entry pointing at nothing is hidden, and removed once this old
    pickup_misses: int = 20  # wrong pickup codes per store per window; beyond: every verify there refused
    pickup_miss_window_s: float = 60.0  # ... until the window (from the first wrong code) ends
    store_audit_maxlen: int = 1_000  # entries kept (about) in each store's audit stream
    stock_adjust_max: int = 100_000  # the largest |delta| of one stock adjustment

    # the shelf, pre-sales, regular-price card sales, group buys (livehub.services.shelf, presales, group_buying)
    shelf_max_items: int = 50  # products on a venue's shelf (the shopping bag); a longer shelf: 400
    presale_refunds_maxlen: int = 100_000  # refund records kept per pre-sale (stream, ~ trimmed)
    card_sale_stock: int = 10_000  # units of a pinned card's regular-price sale (a card pinned without a sale)
    card_sale_per_user_limit: int = 5  # ... units per buyer
    card_sale_window_s: int = 86_400  # ... each regular-price sale is open at least this long (at most twice it)
    group_update_interval_s: float = 0.5  # a deal's open groups pushed to viewers at most this often per node
    group_state_max: int = 20  # open groups per deal in the venue's latest-value state (nearest deadline first)


    # limits per identity and at the edge (livehub.domain.quotas, livehub.web.edge; docs/operations.md,
    # "Security", "Limits at the edge").  An identity is a token's user id; anonymous viewers count per IP.
    # (comments: comment_rate / comment_burst above, per identity over all its connections)
    identity_like_rate: float = 20.0  # likes/s (the sum of the frames' n) per identity
    identity_like_burst: float = 100.0  # >= like_max_per_frame, so one full frame always fits
    identity_buy_rate: float = 5.0  # buys/s per identity, websocket and HTTP together
    identity_buy_burst: float = 10.0
    identity_grab_rate: float = 5.0  # coupon grabs/s per identity, websocket and HTTP together
    identity_grab_burst: float = 10.0
    identity_max_tracked: int = 100_000  # identities with rate state per node; full: least recently seen forgotten
    max_connections_per_identity: int = 8  # websockets per identity per node; beyond: close 4029
    max_connections_per_ip: int = 256  # websockets per client IP per node (loopback too); beyond: close 4029
    trust_forwarded_for: bool = False  # behind a proxy: the client IP is X-Forwarded-For's last entry
    allowed_origins: str = ""  # comma-separated origins ("https://shop.example"); empty: the Host's own; "*": any
    admission_max_sales: int = 10_000  # sales with an admission gate per node; full: least recently used dropped

    # festival admin (livehub.services.festival_admin; docs/operations.md, "Changing the festival while it runs")
    festival_sync_interval_s: float = 1.0  # each node checks the admin edits' version this often (catch-up)
    admin_import_max_bytes: int = 8_388_608  # a CSV import's body; beyond: 413 too_large, nothing read further
    admin_import_max_rows: int = 50_000  # rows of one CSV import; beyond: refused whole, naming the first extra line
    admin_report_max_problems: int = 1_000  # bad rows listed in one answer; the rest only counted

    # process
    gc_full_interval_s: float = 600.0  # full GC this often (livehub.runtime.heap); 0: CPython's own rule

    # metrics and logs (docs/operations.md, "Health and metrics", "Logs")
    metrics_dir: str = ""  # --workers N: where each worker writes its metrics for its siblings (set by the CLI)
    metrics_flush_interval_s: float = 1.0  # ... this often (and on every scrape it answers)
    log_format: str = "text"  # "text" or "json" (one JSON object per line); --log-format overrides it

    # lifecycle
    shutdown_batch_size: int = 500
    shutdown_batch_interval_s: float = 0.05

    # trust: demo mode, payment callbacks, host logins (docs/operations.md, "Security")
    demo: bool = False  # guest logins, simulated payments, plaintext host keys, the development secret
    payment_secret: str = ""  # HMAC key of payment callbacks; required outside demo, never equal to `secret`
    payment_window_s: int = 300  # a callback's X-Livehub-Timestamp this far from now (either way): refused
    host_login_rate: float = 0.1  # host logins/s per host id and per client IP ...
    host_login_burst: float = 5.0  # ... at once; beyond: 429 rate_limited
    host_login_tracked: int = 10_000  # host ids + IPs the login limiter remembers; beyond: the stalest forgotten

    # moderation (livehub.services.moderation; docs/operations.md, "Moderation")
    moderation_blocked_words: str = ""  # comma-separated; a comment with one of them (a whole word) is refused
    moderation_audit_max: int = 10_000  # entries kept in the audit log (a Redis stream, trimmed ~)
    moderation_max_entries: int = 100_000  # mutes (and bans) in force at once; beyond: refused, "unavailable"
    moderation_max_duration_s: int = 2_592_000  # the longest mute or ban (30 days); a ban's default
    moderation_refresh_s: float = 30.0  # each node reloads the moderation state from Redis this often

    def __repr__(self) -> str:
        shown = {
            f.name: ("***" if f.name in SECRET_FIELDS and getattr(self, f.name) else getattr(self, f.name))
            for f in dataclasses.fields(self)
        }
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    @property
    def node(self) -> str:
        return self.node_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _coerce(name: str, raw: Any, kind: type, source: str) -> Any:
    """Convert ``raw`` to the field's type; strings come from the environment, typed values from TOML."""
    from_text = isinstance(raw, str)
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            if from_text and raw.strip().lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
                return raw.strip().lower() in {"1", "true", "yes", "on"}
        elif kind is int and not isinstance(raw, bool):
            if isinstance(raw, int):
                return raw
            if from_text:
                return int(raw.strip())
        elif kind is float and not isinstance(raw, bool):
            if isinstance(raw, (int, float)):
                return float(raw)
            if from_text:
                return float(raw.strip())
        elif kind is str and from_text:
            return raw
    except ValueError:
        pass
    raise SettingsError(f"{source}: setting {name!r} must be {kind.__name__}, got {raw!r}")


_KINDS = {"int": int, "float": float, "str": str, "bool": bool}


def load_settings(
    env: Mapping[str, str] | None = None, config_path: str | None = None, **overrides: Any
) -> Settings:
    """Build Settings from defaults, the config file's [settings] table, env, then overrides."""
    env = os.environ if env is None else env
    fields = {f.name: _KINDS[str(f.type)] for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    path = config_path or overrides.get("config_path") or env.get("LIVEHUB_CONFIG_PATH") or env.get(
        "LIVEHUB_CONFIG"
    )
    path = str(path or DEFAULT_CONFIG)
    values["config_path"] = path
    table: Any = {}
    if Path(path).is_file():
        try:
            with open(path, "rb") as fh:
                table = tomllib.load(fh).get("settings", {})
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
        if not isinstance(table, dict):
            raise SettingsError(f"{path}: 'settings' must be a table ([settings])")
    for key, raw in table.items():
        if key not in fields:
            raise SettingsError(f"{path}: [settings] has unknown key {key!r}")
        values[key] = _coerce(key, raw, fields[key], f"{path} [settings]")
        sources[key] = f"{path} [settings]"
    for name, kind in fields.items():
        var = "LIVEHUB_" + name.upper()
        if var in env and name != "config_path":
            values[name] = _coerce(name, env[var], kind, var)
            sources[name] = var
    for name, raw in overrides.items():
        if name not in fields:
            raise SettingsError(f"override: no setting named {name!r}")
        if raw is not None:
            values[name] = _coerce(name, raw, fields[name], "override")
            sources[name] = "override"
    settings = Settings(**values)
    _validate(settings, sources)
    return settings


def _validate(s: Settings, sources: Mapping[str, str]) -> None:
    def where(name: str) -> str:
        return sources.get(name, "default")

    positive = [
        "port", "workers", "max_frame_bytes", "ws_max_size", "outbound_buffer_bytes", "history_size",
        "replay_max", "transport_high_water", "max_connections", "comment_max_chars", "like_max_per_frame",
        "shutdown_batch_size", "join_buffer_max", "max_errors", "redis_pool_size", "fanout_slice", "inbound_backlog",
        "redis_script_connections", "sale_retention_s", "payment_window_s", "host_login_tracked",
        "identity_max_tracked", "max_connections_per_identity", "max_connections_per_ip", "admission_max_sales",
        "stats_minutes_kept", "stats_chart_minutes", "stats_viewers_pending_max",
        "shelf_max_items", "presale_refunds_maxlen", "card_sale_stock", "card_sale_per_user_limit",
        "card_sale_window_s",
    ]  # fmt: skip
    for name in positive:
        if getattr(s, name) <= 0:
            raise SettingsError(f"{where(name)}: setting {name!r} must be > 0, got {getattr(s, name)!r}")
    for name in ["inbound_rate", "inbound_burst", "online_interval_s", "stock_interval_s", "comment_rate",
                 "comment_burst", "comment_room_rate", "admission_rate", "admission_burst", "sweep_interval_s",
                 "leaderboard_interval_s", "reconcile_interval_s", "redis_pool_timeout_s", "redis_socket_timeout_s",
                 "redis_connect_timeout_s", "redis_health_check_s", "position_check_interval_s",
                 "host_login_rate", "host_login_burst", "identity_like_rate", "identity_like_burst",
                 "identity_buy_rate", "identity_buy_burst", "identity_grab_rate", "identity_grab_burst",
                 "http_max_header_bytes", "http_header_timeout_s", "ws_control_rate", "ws_control_burst",
                 "ws_close_grace_s", "stats_interval_s", "stats_consume_interval_s"]:  # fmt: skip
        if not getattr(s, name) > 0:
            raise SettingsError(f"{where(name)}: setting {name!r} must be > 0, got {getattr(s, name)!r}")
    for name in ["festival_sync_interval_s", "admin_import_max_bytes", "admin_import_max_rows",
                 "admin_report_max_problems"]:  # fmt: skip
        if not getattr(s, name) > 0:
            raise SettingsError(f"{where(name)}: setting {name!r} must be > 0, got {getattr(s, name)!r}")
    if not s.metrics_flush_interval_s > 0:
        raise SettingsError(f"{where('metrics_flush_interval_s')}: setting 'metrics_flush_interval_s' must be > 0")
    if s.log_format not in ("text", "json"):
        raise SettingsError(f"{where('log_format')}: setting 'log_format' must be 'text' or 'json', "
                            f"got {s.log_format!r}")  # fmt: skip
    for name in ["moderation_audit_max", "moderation_max_entries", "moderation_max_duration_s",
                 "moderation_refresh_s"]:  # fmt: skip
        if not getattr(s, name) > 0:
            raise SettingsError(f"{where(name)}: setting {name!r} must be > 0, got {getattr(s, name)!r}")
    if len([w for w in s.moderation_blocked_words.split(",") if w.strip()]) > 1000:
        name = "moderation_blocked_words"
        raise SettingsError(f"{where(name)}: setting {name!r} has more than 1000 words")
    for name in ("guide_attribution_ttl_s", "guide_winner_interval_s", "guide_winner_catch_up_hours",
                 "guide_winner_retention_s", "guide_winners_max_hours", "guide_page_hours", "guide_recent_orders",
                 "guide_open_reservations_max", "guide_open_scan_max"):  # fmt: skip
        if not getattr(s, name) > 0:
            raise SettingsError(f"{where(name)}: setting {name!r} must be > 0, got {getattr(s, name)!r}")
    if s.guide_winner_grace_s < 0:
        raise SettingsError(f"{where('guide_winner_grace_s')}: setting 'guide_winner_grace_s' must be >= 0")
    if s.redis_retries < 0:
        raise SettingsError(f"{where('redis_retries')}: setting 'redis_retries' must be >= 0")
    _validate_jwt(s, where)
    if not s.gc_full_interval_s >= 0:
        raise SettingsError(f"{where('gc_full_interval_s')}: setting 'gc_full_interval_s' must be >= 0")
    if s.identity_like_burst < s.like_max_per_frame:
        raise SettingsError(f"{where('identity_like_burst')}: setting 'identity_like_burst' must be at least "
                            "'like_max_per_frame' (a full like frame must fit)")
    if s.stats_chart_minutes > s.stats_minutes_kept:
        raise SettingsError(f"{where('stats_chart_minutes')}: setting 'stats_chart_minutes' must not exceed "
                            "'stats_minutes_kept'")
    if s.max_frame_bytes > s.ws_max_size:
        raise SettingsError(f"{where('max_frame_bytes')}: setting 'max_frame_bytes' must not exceed 'ws_max_size'")
    if not s.redis_prefix or "{" in s.redis_prefix or "}" in s.redis_prefix:
        raise SettingsError(f"{where('redis_prefix')}: setting 'redis_prefix' must be non-empty and free of braces")
    _validate_storefront(s, where)


def _validate_storefront(s: Settings, where: Any) -> None:
    for name in ("my_orders_max", "my_orders_grace_s", "pickup_misses", "pickup_miss_window_s", "store_audit_maxlen",
                 "stock_adjust_max"):  # fmt: skip
        if not getattr(s, name) > 0:
            raise SettingsError(f"{where(name)}: setting {name!r} must be > 0, got {getattr(s, name)!r}")
    for name in ("group_update_interval_s", "group_state_max"):  # group buys (livehub.services.group_buying)
        if not getattr(s, name) > 0:
            raise SettingsError(f"{where(name)}: setting {name!r} must be > 0, got {getattr(s, name)!r}")


def hs_keys(text: str) -> dict[str, str]:
    """``jwt_hs_keys`` ("kid1=secret1,kid2=secret2") as {kid: secret}; ``SettingsError`` when malformed."""
    keys: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        kid, sep, secret = pair.partition("=")
        if not sep or not kid.strip() or not secret or kid.strip() in keys:
            raise SettingsError("setting 'jwt_hs_keys' must be 'kid=secret' pairs with distinct kids, comma-separated")
        keys[kid.strip()] = secret
    return keys


def _validate_jwt(s: Settings, where: Any) -> None:
    if s.jwt_algorithm not in ("HS256", "RS256", "ES256"):
        raise SettingsError(f"{where('jwt_algorithm')}: setting 'jwt_algorithm' must be HS256, RS256 or ES256")
    if s.jwt_algorithm != "HS256" and not (s.jwt_public_key or s.jwt_jwks_url):
        raise SettingsError(f"{where('jwt_algorithm')}: {s.jwt_algorithm} needs 'jwt_public_key' or 'jwt_jwks_url'")
    hs_keys(s.jwt_hs_keys)
    for name in ("jwt_jwks_cache_s", "jwt_jwks_timeout_s", "jwt_jwks_max_keys"):
        if not getattr(s, name) > 0:
            raise SettingsError(f"{where(name)}: setting {name!r} must be > 0, got {getattr(s, name)!r}")
    if not 0 <= s.jwt_leeway_s <= 300:
        raise SettingsError(f"{where('jwt_leeway_s')}: setting 'jwt_leeway_s' must be between 0 and 300")


def unsafe_settings(s: Settings) -> list[str]:
    """Why these settings must not serve outside demo mode (empty: safe, or demo mode is on).

    One short reason per unsafe setting, each naming its environment variable.
    """
    if s.demo:
        return []
    out: list[str] = []
    if not s.secret or s.secret == DEV_SECRET:
        out.append("LIVEHUB_SECRET is not set (the development secret is for demo mode only)")
    elif len(s.secret) < MIN_SECRET_CHARS:
        out.append(f"LIVEHUB_SECRET is shorter than {MIN_SECRET_CHARS} characters")
    if not s.payment_secret:
        out.append("LIVEHUB_PAYMENT_SECRET is not set")
    elif s.payment_secret == s.secret:
        out.append("LIVEHUB_PAYMENT_SECRET equals LIVEHUB_SECRET (callback signers could mint tokens)")
    elif len(s.payment_secret) < MIN_SECRET_CHARS:
        out.append(f"LIVEHUB_PAYMENT_SECRET is shorter than {MIN_SECRET_CHARS} characters")
    for kid, key in hs_keys(s.jwt_hs_keys).items():
        if key == DEV_SECRET or len(key) < MIN_SECRET_CHARS:
            out.append(f"LIVEHUB_JWT_HS_KEYS: key {kid[:32]!r} is the development secret or shorter than "
                       f"{MIN_SECRET_CHARS} characters")  # fmt: skip
        elif key == s.payment_secret:
            out.append(f"LIVEHUB_JWT_HS_KEYS: key {kid[:32]!r} equals LIVEHUB_PAYMENT_SECRET")
    return out
