"""livehub.config: host key hashes written in the festival file, read from an environment variable
or a secret file, several at once while rotating; and the deployment refusals outside demo mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher

from livehub.config import FestivalError, load_festival, refusals
from livehub.services.host_login import key_matches
from livehub.settings import Settings

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
ONE, TWO, THREE = FAST.hash("key-one"), FAST.hash("key-two"), FAST.hash("key-three")
HEAD = """
[festival]
id = "t"
title = "T"
main_venue = "main"

[[venues]]
id = "main"
kind = "main"
title = "Main"

[[hosts]]
id = "host-main"
venue = "main"
name = "Main host"
"""


def festival_file(tmp_path: Path, host_keys: str) -> Path:
    path = tmp_path / "festival.toml"
    path.write_text(HEAD + host_keys, encoding="utf-8")
    return path


def accepts(path: Path, env: dict[str, str], key: str) -> bool:
    return key_matches(load_festival(path, env).hosts["host-main"], key, demo=False)


def test_a_key_hash_in_the_file_logs_in(tmp_path: Path) -> None:
    path = festival_file(tmp_path, f'key_hash = "{ONE}"\n')
    assert accepts(path, {}, "key-one") and not accepts(path, {}, "key-two")


def test_a_list_of_hashes_accepts_each_key_while_rotating(tmp_path: Path) -> None:
    path = festival_file(tmp_path, f'key_hash = ["{ONE}", "{TWO}"]\n')
    assert accepts(path, {}, "key-one") and accepts(path, {}, "key-two")


def test_hashes_come_from_an_environment_variable_whitespace_separated(tmp_path: Path) -> None:
    path = festival_file(tmp_path, 'key_hash_env = "LIVEHUB_HOST_KEY_MAIN"\n')
    env = {"LIVEHUB_HOST_KEY_MAIN": f"{ONE}\n{TWO}"}
    assert accepts(path, env, "key-one") and accepts(path, env, "key-two")


def test_hashes_come_from_a_secret_file_one_a_line_on_top_of_the_written_ones(tmp_path: Path) -> None:
    secret = tmp_path / "host-main.hash"
    secret.write_text(f"{TWO}\n{THREE}\n")
    path = festival_file(tmp_path, f'key_hash = "{ONE}"\nkey_hash_file = "{secret}"\n')
    assert all(accepts(path, {}, k) for k in ("key-one", "key-two", "key-three"))


def test_an_unset_variable_or_a_missing_file_leaves_the_host_without_a_usable_key(tmp_path: Path) -> None:
    path = festival_file(tmp_path, f'key_hash_env = "UNSET_VAR"\nkey_hash_file = "{tmp_path / "absent"}"\n')
    host = load_festival(path, {}).hosts["host-main"]
    assert not host.has_key and not key_matches(host, "key-one", demo=True)


@pytest.mark.parametrize("value", ['"not-a-hash"', '"$argon2id$v=19$m=8,t=1,p=1$short$x"', "[5]"])
def test_a_malformed_hash_is_refused_by_key_without_showing_it(tmp_path: Path, value: str) -> None:
    with pytest.raises(FestivalError) as exc:
        load_festival(festival_file(tmp_path, f"key_hash = {value}\n"), {})
    assert "hosts[0].key_hash" in str(exc.value) and "not-a-hash" not in str(exc.value)


def test_a_malformed_hash_read_from_the_environment_is_refused(tmp_path: Path) -> None:
    path = festival_file(tmp_path, 'key_hash_env = "LIVEHUB_HOST_KEY_MAIN"\n')
    with pytest.raises(FestivalError, match=r"hosts\[0\]\.key_hash"):
        load_festival(path, {"LIVEHUB_HOST_KEY_MAIN": "plain-text-key"})


def test_a_plaintext_key_is_refused_by_host_outside_demo_mode_and_allowed_in_it(tmp_path: Path) -> None:
    path = festival_file(tmp_path, 'key = "plain-key"\n')
    f = load_festival(path, {})
    proper = Settings(config_path=str(path), secret="s" * 20, payment_secret="p" * 20)
    reasons = refusals(proper, f)
    assert len(reasons) == 1 and "plaintext host keys" in reasons[0] and "host-main" in reasons[0]
    assert refusals(proper.replace(demo=True), f) == []
    hashed = load_festival(festival_file(tmp_path, f'key_hash = "{ONE}"\n'), {})
    assert refusals(proper, hashed) == []
