"""livehub.settings: defaults < config file [settings] < LIVEHUB_* env < overrides, and what is refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from livehub.settings import DEV_SECRET, Settings, SettingsError, load_settings, unsafe_settings


@pytest.fixture
def no_file(tmp_path: Path) -> str:
    """A config path that does not exist: no [settings] table at all."""
    return str(tmp_path / "absent.toml")


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "festival.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


# ---- defaults -------------------------------------------------------------------------------------------


def test_without_file_env_or_overrides_every_field_has_its_default(no_file: str) -> None:
    settings = load_settings(env={}, config_path=no_file)

    assert settings == Settings(config_path=no_file)
    assert settings.port == 8000
    assert settings.redis_prefix == "lh"
    assert settings.secret == DEV_SECRET
    assert settings.max_frame_bytes == 8192
    assert settings.outbound_buffer_bytes == 1_048_576


def test_the_process_environment_is_not_read_when_an_env_mapping_is_given(
    no_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEHUB_PORT", "9999")

    assert load_settings(env={}, config_path=no_file).port == 8000


def test_settings_are_frozen_and_replace_returns_a_copy(no_file: str) -> None:
    settings = load_settings(env={}, config_path=no_file)

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
    changed = settings.replace(port=9000)
    assert (settings.port, changed.port) == (8000, 9000)


def test_node_is_node_id_when_set() -> None:
    assert Settings(node_id="node-7").node == "node-7"
    assert Settings().node  # derived from host name and pid otherwise


# ---- precedence -----------------------------------------------------------------------------------------

PRECEDENCE_FILE = """\
[festival]
id = "ignored by settings"

[settings]
port = 9001
history_size = 50
inbound_rate = 2.5
"""


def test_the_config_file_settings_table_overrides_defaults(tmp_path: Path) -> None:
    settings = load_settings(env={}, config_path=config(tmp_path, PRECEDENCE_FILE))

    assert (settings.port, settings.history_size, settings.inbound_rate) == (9001, 50, 2.5)
    assert settings.workers == 1  # not in the file: default


def test_env_overrides_the_config_file(tmp_path: Path) -> None:
    env = {"LIVEHUB_PORT": "9002", "LIVEHUB_INBOUND_RATE": "7.5", "LIVEHUB_SECRET": "from-env"}

    settings = load_settings(env=env, config_path=config(tmp_path, PRECEDENCE_FILE))

    assert (settings.port, settings.inbound_rate, settings.secret) == (9002, 7.5, "from-env")
    assert settings.history_size == 50  # only in the file


def test_overrides_beat_env_and_none_overrides_are_ignored(tmp_path: Path) -> None:
    env = {"LIVEHUB_PORT": "9002", "LIVEHUB_HISTORY_SIZE": "60"}

    settings = load_settings(env=env, config_path=config(tmp_path, PRECEDENCE_FILE), port=9003, history_size=None)

    assert settings.port == 9003
    assert settings.history_size == 60


def test_the_config_path_may_come_from_the_environment(tmp_path: Path) -> None:
    path = config(tmp_path, PRECEDENCE_FILE)

    settings = load_settings(env={"LIVEHUB_CONFIG_PATH": path})

    assert settings.port == 9001
    assert settings.config_path == path


def test_env_variables_that_name_no_setting_are_ignored(no_file: str) -> None:
    assert load_settings(env={"LIVEHUB_NOT_A_SETTING": "1", "PATH": "/bin"}, config_path=no_file).port == 8000


# ---- refused values, each naming where it came from --------------------------------------------------------


def test_an_unknown_key_in_the_settings_table_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    path = config(tmp_path, "[settings]\nprot = 9000\n")

    with pytest.raises(SettingsError, match="prot") as info:
        load_settings(env={}, config_path=path)
    assert path in str(info.value)


def test_a_badly_typed_value_in_the_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = config(tmp_path, '[settings]\nport = "eighty"\n')

    with pytest.raises(SettingsError, match=r"\[settings\].*'port'") as info:
        load_settings(env={}, config_path=path)
    assert path in str(info.value)


def test_a_boolean_for_a_number_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="port"):
        load_settings(env={}, config_path=config(tmp_path, "[settings]\nport = true\n"))
    with pytest.raises(SettingsError, match="inbound_rate"):
        load_settings(env={}, config_path=config(tmp_path, "[settings]\ninbound_rate = false\n"))


def test_a_log_format_other_than_text_or_json_and_a_zero_metrics_flush_are_refused_naming_the_variable(
    no_file: str,
) -> None:
    assert load_settings(env={"LIVEHUB_LOG_FORMAT": "json"}, config_path=no_file).log_format == "json"
    with pytest.raises(SettingsError, match=r"LIVEHUB_LOG_FORMAT.*'text' or 'json'"):
        load_settings(env={"LIVEHUB_LOG_FORMAT": "yaml"}, config_path=no_file)
    with pytest.raises(SettingsError, match="LIVEHUB_METRICS_FLUSH_INTERVAL_S"):
        load_settings(env={"LIVEHUB_METRICS_FLUSH_INTERVAL_S": "0"}, config_path=no_file)


def test_a_badly_typed_env_value_is_refused_naming_the_variable(no_file: str) -> None:
    with pytest.raises(SettingsError, match="LIVEHUB_WORKERS"):
        load_settings(env={"LIVEHUB_WORKERS": "two"}, config_path=no_file)
    with pytest.raises(SettingsError, match="LIVEHUB_INBOUND_RATE"):
        load_settings(env={"LIVEHUB_INBOUND_RATE": "fast"}, config_path=no_file)


@pytest.mark.parametrize("name", ["my_orders_max", "my_orders_grace_s", "pickup_misses", "pickup_miss_window_s",
                                  "store_audit_maxlen", "stock_adjust_max"])  # fmt: skip
def test_every_storefront_bound_must_be_positive(no_file: str, name: str) -> None:
    with pytest.raises(SettingsError, match=f"LIVEHUB_{name.upper()}.*'{name}' must be > 0"):
        load_settings(env={f"LIVEHUB_{name.upper()}": "0"}, config_path=no_file)


def test_a_badly_typed_override_is_refused_naming_the_override(no_file: str) -> None:
    with pytest.raises(SettingsError, match="override"):
        load_settings(env={}, config_path=no_file, port="http")


def test_a_config_file_that_is_not_toml_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = config(tmp_path, "[settings\nport = \n")

    with pytest.raises(SettingsError, match="not valid TOML") as info:
        load_settings(env={}, config_path=path)
    assert path in str(info.value)


@pytest.mark.parametrize(
    "name",
    [
        "port",
        "workers",
        "max_frame_bytes",
        "outbound_buffer_bytes",
        "history_size",
        "replay_max",
        "join_buffer_max",
        "max_errors",
        "inbound_rate",
        "inbound_burst",
        "comment_rate",
        "stock_interval_s",
    ],
)
@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_non_positive_bound_is_refused_naming_the_setting(no_file: str, name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"'{name}' must be > 0"):
        load_settings(env={f"LIVEHUB_{name.upper()}": value}, config_path=no_file)


def test_max_frame_bytes_may_not_exceed_ws_max_size(no_file: str) -> None:
    with pytest.raises(SettingsError, match="max_frame_bytes"):
        load_settings(env={}, config_path=no_file, max_frame_bytes=100_000, ws_max_size=65_536)


@pytest.mark.parametrize("prefix", ["", "{lh}", "lh}"])
def test_the_redis_prefix_must_be_non_empty_and_free_of_braces(no_file: str, prefix: str) -> None:
    with pytest.raises(SettingsError, match="redis_prefix"):
        load_settings(env={"LIVEHUB_REDIS_PREFIX": prefix}, config_path=no_file)


def test_a_non_positive_value_is_refused_naming_where_it_came_from(tmp_path: Path) -> None:
    path = config(tmp_path, "[settings]\nport = 0\n")

    with pytest.raises(SettingsError) as from_env:
        load_settings(env={"LIVEHUB_HISTORY_SIZE": "0"}, config_path=str(tmp_path / "absent.toml"))
    with pytest.raises(SettingsError) as from_file:
        load_settings(env={}, config_path=path)

    assert "LIVEHUB_HISTORY_SIZE" in str(from_env.value)
    assert path in str(from_file.value)


def test_a_fractional_number_for_an_integer_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="port"):
        load_settings(env={}, config_path=config(tmp_path, "[settings]\nport = 8000.5\n"))


def test_a_non_string_value_in_the_file_for_a_string_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="host"):
        load_settings(env={}, config_path=config(tmp_path, '[settings]\nhost = ["0.0.0.0"]\n'))


def test_an_override_naming_no_setting_is_refused(no_file: str) -> None:
    with pytest.raises(SettingsError, match="prot"):
        load_settings(env={}, config_path=no_file, prot=9000)


def test_a_settings_entry_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="settings"):
        load_settings(env={}, config_path=config(tmp_path, "settings = 5\n"))


# ---- repr ------------------------------------------------------------------------------------------------------


def test_repr_hides_the_secret_and_the_redis_url() -> None:
    settings = Settings(secret="s3cr3t-token-key", redis_url="redis://:hunter2@redis.internal:6379/0")

    shown = repr(settings)

    assert "s3cr3t-token-key" not in shown
    assert "hunter2" not in shown and "redis.internal" not in shown
    assert "secret='***'" in shown and "redis_url='***'" in shown
    assert "port=8000" in shown


def test_repr_shows_an_empty_redis_url_as_empty() -> None:
    assert "redis_url=''" in repr(Settings())


# ---- demo mode and the unsafe-settings check (livehub refuses to serve with these outside demo) ----------

GOOD = {"LIVEHUB_SECRET": "token-secret-0123456789", "LIVEHUB_PAYMENT_SECRET": "payment-secret-0123456789"}


def test_demo_mode_is_off_by_default_and_on_with_livehub_demo(no_file: str) -> None:
    assert load_settings(env={}, config_path=no_file).demo is False
    assert load_settings(env={"LIVEHUB_DEMO": "1"}, config_path=no_file).demo is True


def test_proper_distinct_secrets_are_safe_outside_demo(no_file: str) -> None:
    assert unsafe_settings(load_settings(env=GOOD, config_path=no_file)) == []


@pytest.mark.parametrize(
    ("env", "named"),
    [({"LIVEHUB_SECRET": None}, "LIVEHUB_SECRET is not set"),
     ({"LIVEHUB_SECRET": DEV_SECRET}, "LIVEHUB_SECRET is not set"),
     ({"LIVEHUB_SECRET": ""}, "LIVEHUB_SECRET is not set"),
     ({"LIVEHUB_SECRET": "short"}, "LIVEHUB_SECRET is shorter"),
     ({"LIVEHUB_PAYMENT_SECRET": ""}, "LIVEHUB_PAYMENT_SECRET is not set"),
     ({"LIVEHUB_PAYMENT_SECRET": GOOD["LIVEHUB_SECRET"]}, "LIVEHUB_PAYMENT_SECRET equals LIVEHUB_SECRET"),
     ({"LIVEHUB_PAYMENT_SECRET": "short"}, "LIVEHUB_PAYMENT_SECRET is shorter")],
    ids=["no-secret", "dev-secret", "empty-secret", "short-secret", "no-payment-secret", "same-secrets",
         "short-payment-secret"],
)  # fmt: skip
def test_an_unsafe_secret_outside_demo_is_named(no_file: str, env: dict[str, str | None], named: str) -> None:
    merged = {name: value for name, value in {**GOOD, **env}.items() if value is not None}
    reasons = unsafe_settings(load_settings(env=merged, config_path=no_file))
    assert len(reasons) == 1 and reasons[0].startswith(named)


def test_every_unsafe_setting_is_named_at_once(no_file: str) -> None:
    reasons = unsafe_settings(load_settings(env={}, config_path=no_file))
    assert [r.split()[0] for r in reasons] == ["LIVEHUB_SECRET", "LIVEHUB_PAYMENT_SECRET"]


def test_demo_mode_runs_on_the_development_secret_without_a_payment_secret(no_file: str) -> None:
    assert unsafe_settings(load_settings(env={"LIVEHUB_DEMO": "yes"}, config_path=no_file)) == []


def test_the_payment_secret_is_hidden_in_repr() -> None:
    assert "payment-secret-0123456789" not in repr(Settings(payment_secret="payment-secret-0123456789"))


@pytest.mark.parametrize("name", ["payment_window_s", "host_login_rate", "host_login_burst", "host_login_tracked"])
def test_the_trust_bounds_must_be_positive(no_file: str, name: str) -> None:
    with pytest.raises(SettingsError, match=f"'{name}' must be > 0"):
        load_settings(env={f"LIVEHUB_{name.upper()}": "0"}, config_path=no_file)


def test_the_per_identity_like_burst_must_hold_a_full_like_frame(no_file: str) -> None:
    with pytest.raises(SettingsError, match="identity_like_burst"):
        load_settings(env={"LIVEHUB_IDENTITY_LIKE_BURST": "50"}, config_path=no_file)
    assert load_settings(env={"LIVEHUB_IDENTITY_LIKE_BURST": "50", "LIVEHUB_LIKE_MAX_PER_FRAME": "50"},
                         config_path=no_file).identity_like_burst == 50.0  # fmt: skip


@pytest.mark.parametrize("name", ["max_connections_per_identity", "max_connections_per_ip", "identity_buy_rate",
                                  "identity_grab_burst", "identity_max_tracked", "admission_max_sales"])  # fmt: skip
def test_the_limits_per_identity_must_be_positive(no_file: str, name: str) -> None:
    with pytest.raises(SettingsError, match=f"'{name}' must be > 0"):
        load_settings(env={f"LIVEHUB_{name.upper()}": "0"}, config_path=no_file)


def test_the_stats_chart_may_not_show_more_minutes_than_are_kept(no_file: str) -> None:
    kept = {"LIVEHUB_STATS_MINUTES_KEPT": "60"}
    settings = load_settings(env={**kept, "LIVEHUB_STATS_CHART_MINUTES": "60"}, config_path=no_file)
    assert settings.stats_chart_minutes == 60
    with pytest.raises(SettingsError, match="stats_chart_minutes"):
        load_settings(env={**kept, "LIVEHUB_STATS_CHART_MINUTES": "61"}, config_path=no_file)
    with pytest.raises(SettingsError, match="stats_interval_s"):
        load_settings(env={"LIVEHUB_STATS_INTERVAL_S": "0"}, config_path=no_file)


@pytest.mark.parametrize(
    "name", ["GUIDE_ATTRIBUTION_TTL_S", "GUIDE_WINNER_INTERVAL_S", "GUIDE_WINNERS_MAX_HOURS", "GUIDE_OPEN_SCAN_MAX"]
)
def test_the_guides_bounds_must_be_positive(no_file: str, name: str) -> None:
    with pytest.raises(SettingsError, match=name.lower()):
        load_settings(env={f"LIVEHUB_{name}": "0"}, config_path=no_file)


def test_the_guide_winner_grace_may_be_zero_but_not_negative(no_file: str) -> None:
    assert load_settings(env={"LIVEHUB_GUIDE_WINNER_GRACE_S": "0"}, config_path=no_file).guide_winner_grace_s == 0
    with pytest.raises(SettingsError, match="guide_winner_grace_s"):
        load_settings(env={"LIVEHUB_GUIDE_WINNER_GRACE_S": "-1"}, config_path=no_file)
# ---- moderation ----------------------------------------------------------------------------------------


def test_the_blocked_words_come_from_the_festival_files_settings_table(tmp_path: Path) -> None:
    path = config(tmp_path, '[settings]\nmoderation_blocked_words = "spam, free money"\n')
    assert load_settings(env={}, config_path=path).moderation_blocked_words == "spam, free money"


def test_more_than_a_thousand_blocked_words_are_refused(no_file: str) -> None:
    words = ",".join(f"w{i}" for i in range(1001))
    with pytest.raises(SettingsError, match="moderation_blocked_words"):
        load_settings(env={"LIVEHUB_MODERATION_BLOCKED_WORDS": words}, config_path=no_file)


@pytest.mark.parametrize("name", ["moderation_audit_max", "moderation_max_entries", "moderation_max_duration_s",
                                  "moderation_refresh_s"])  # fmt: skip
def test_moderation_bounds_must_be_positive(no_file: str, name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings(env={"LIVEHUB_" + name.upper(): "0"}, config_path=no_file)
