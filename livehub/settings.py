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
SECRET_FIELDS = frozenset({"secret", "redis_url"})
DEV_SECRET = "livehub-dev-secret-change-me"


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

    # websocket wire
    max_frame_bytes: int = 8_192  # larger frames get a too_large error, connection stays
    ws_max_size: int = 65_536  # larger frames close the connection with 1009
    ws_ping_interval_s: float = 20.0
    ws_ping_timeout_s: float = 20.0
    max_connections: int = 200_000  # per node; beyond: HTTP 503 on the upgrade

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
    comment_rate: float = 1.0  # per viewer, per second
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

    # process
    gc_full_interval_s: float = 600.0  # full GC this often (livehub.runtime.heap); 0: CPython's own rule

    # lifecycle
    shutdown_batch_size: int = 500
    shutdown_batch_interval_s: float = 0.05

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
        "redis_script_connections", "sale_retention_s",
    ]  # fmt: skip
    for name in positive:
        if getattr(s, name) <= 0:
            raise SettingsError(f"{where(name)}: setting {name!r} must be > 0, got {getattr(s, name)!r}")
    for name in ["inbound_rate", "inbound_burst", "online_interval_s", "stock_interval_s", "comment_rate",
                 "comment_burst", "comment_room_rate", "admission_rate", "admission_burst", "sweep_interval_s",
                 "leaderboard_interval_s", "reconcile_interval_s", "redis_pool_timeout_s", "redis_socket_timeout_s",
                 "redis_connect_timeout_s", "redis_health_check_s", "position_check_interval_s"]:  # fmt: skip
        if not getattr(s, name) > 0:
            raise SettingsError(f"{where(name)}: setting {name!r} must be > 0, got {getattr(s, name)!r}")
    if s.redis_retries < 0:
        raise SettingsError(f"{where('redis_retries')}: setting 'redis_retries' must be >= 0")
    if not s.gc_full_interval_s >= 0:
        raise SettingsError(f"{where('gc_full_interval_s')}: setting 'gc_full_interval_s' must be >= 0")
    if s.max_frame_bytes > s.ws_max_size:
        raise SettingsError(f"{where('max_frame_bytes')}: setting 'max_frame_bytes' must not exceed 'ws_max_size'")
    if not s.redis_prefix or "{" in s.redis_prefix or "}" in s.redis_prefix:
        raise SettingsError(f"{where('redis_prefix')}: setting 'redis_prefix' must be non-empty and free of braces")
