"""The ``livehub`` command: ``livehub festival check``, ``livehub token``, ``livehub hash-key``,
``livehub serve`` refusing unsafe settings outside demo mode (real processes), and the festival
admin's ``livehub festival import`` and ``livehub hosts add / rotate-key`` against a running node."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from livehub.cli import main
from livehub.settings import DEV_SECRET
from tests.conftest import LivehubProcess

CONFIG = Path(__file__).resolve().parents[1] / "config"


def test_festival_check_prints_a_summary_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["festival", "check", str(CONFIG / "small.toml")]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith(f"{CONFIG / 'small.toml'}: festival ") and " ok: " in out and "guides (loaded in" in out


def test_festival_check_lists_the_problems_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[festival]\nid = "f"\ntitle = "t"\nmain_venue = "nope"\n')
    assert main(["--log-level", "WARNING", "festival", "check", str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "festival.main_venue" in captured.err and str(bad) in captured.err


def test_token_mints_a_jwt_of_any_role_with_the_configured_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from livehub.domain.tokens import Identity, verify

    monkeypatch.setenv("LIVEHUB_SECRET", "cli-test-secret-of-at-least-32-bytes")
    assert main(["token", "--user", "clerk-1", "--role", "staff", "--store", "b1-s1"]) == 0
    staff = capsys.readouterr().out.strip()
    assert main(["token", "--user", "host-b1", "--host-venue", "b1"]) == 0
    host = capsys.readouterr().out.strip()

    assert verify("cli-test-secret-of-at-least-32-bytes", staff) == Identity("clerk-1", "staff", store="b1-s1")
    assert verify("cli-test-secret-of-at-least-32-bytes", host) == Identity("host-b1", "host", venue="b1")
    assert main(["token", "--user", "clerk-2", "--role", "staff"]) == 2  # a staff token names its store
    assert "store" in capsys.readouterr().err
# ---- livehub hash-key ---------------------------------------------------------------------------------


def test_hash_key_reads_a_key_from_stdin_and_prints_an_argon2id_hash_of_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from argon2 import PasswordHasher

    monkeypatch.setattr("sys.stdin", io.StringIO("panel-key-42\n"))
    assert main(["hash-key"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("$argon2id$") and "panel-key-42" not in printed
    assert PasswordHasher().verify(printed, "panel-key-42")


@pytest.mark.parametrize("stdin", ["", "\n", "two words\n"])
def test_hash_key_refuses_an_empty_or_spaced_key(
    stdin: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert main(["hash-key"]) == 2
    assert capsys.readouterr().out == ""


# ---- livehub festival check: hosts with no usable key -------------------------------------------------


def test_festival_check_lists_hosts_with_no_usable_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LIVEHUB_DEMO", raising=False)
    monkeypatch.delenv("LIVEHUB_HOST_KEY_B2", raising=False)
    path = tmp_path / "festival.toml"
    text = (CONFIG / "small.toml").read_text()
    text = text.replace('name = "Swift Scooters host"\nkey_hash',
                        'name = "Swift Scooters host"\nkey_hash_env = "LIVEHUB_HOST_KEY_B2"\n#')  # an unset variable
    path.write_text(text)
    assert main(["--log-level", "ERROR", "festival", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "hosts with no usable key (1;" in out and out.rstrip().endswith("host-b2")


def test_festival_check_counts_plaintext_keys_as_usable_only_in_demo_mode(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LIVEHUB_DEMO", raising=False)
    assert main(["festival", "check", str(CONFIG / "festival.toml")]) == 0
    out = capsys.readouterr().out
    assert "hosts with no usable key (101;" in out and "plaintext host keys (101;" in out
    monkeypatch.setenv("LIVEHUB_DEMO", "1")
    assert main(["festival", "check", str(CONFIG / "festival.toml")]) == 0
    out = capsys.readouterr().out
    assert "no usable key" not in out and "plaintext" not in out


# ---- livehub serve refuses unsafe settings outside demo mode -------------------------------------------

PROPER = {"LIVEHUB_SECRET": "serve-test-secret-0123456789", "LIVEHUB_PAYMENT_SECRET": "serve-test-payment-0123456789"}


def refused(redis_url: str, env: dict[str, str], argv: list[str] | None = None,
            config: Path = CONFIG / "small.toml") -> tuple[int, str]:  # fmt: skip
    """Run ``livehub serve`` (or ``argv``) with only ``env`` as LIVEHUB_* settings; (exit code, output)."""
    from tests.conftest import free_port

    base = {k: v for k, v in os.environ.items() if not k.startswith("LIVEHUB_")}
    port = str(free_port())
    argv = argv or [sys.executable, "-m", "livehub", "serve", "--config", str(config), "--host", "127.0.0.1",
                    "--port", port]  # fmt: skip
    proc = subprocess.run(argv, env={**base, "LIVEHUB_REDIS_URL": redis_url, "LIVEHUB_CONFIG": str(config),
                                     "LIVEHUB_REDIS_PREFIX": "refused", **env},
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60, text=True)  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr


def refusal_line(output: str) -> str:
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if "refusing to start" in line]
    assert len(lines) == 1, output
    return lines[0]


@pytest.mark.parametrize(
    ("env", "named"),
    [({"LIVEHUB_PAYMENT_SECRET": PROPER["LIVEHUB_PAYMENT_SECRET"]}, "LIVEHUB_SECRET is not set"),
     ({**PROPER, "LIVEHUB_SECRET": DEV_SECRET}, "LIVEHUB_SECRET is not set"),
     ({"LIVEHUB_SECRET": PROPER["LIVEHUB_SECRET"]}, "LIVEHUB_PAYMENT_SECRET is not set"),
     ({**PROPER, "LIVEHUB_PAYMENT_SECRET": PROPER["LIVEHUB_SECRET"]}, "LIVEHUB_PAYMENT_SECRET equals LIVEHUB_SECRET")],
    ids=["no-secret", "dev-secret", "no-payment-secret", "payment-secret-is-the-token-secret"],
)  # fmt: skip
def test_serve_outside_demo_mode_exits_non_zero_naming_the_unsafe_setting(
    redis_url: str, env: dict[str, str], named: str
) -> None:
    code, output = refused(redis_url, env)
    assert code != 0
    line = refusal_line(output)
    assert line.startswith("livehub: refusing to start outside demo mode") and named in line


def test_serve_outside_demo_mode_refuses_plaintext_host_keys_by_host(redis_url: str) -> None:
    code, output = refused(redis_url, PROPER, config=CONFIG / "festival.toml")
    assert code != 0
    line = refusal_line(output)
    assert "plaintext host keys" in line and "host-main" in line and "LIVEHUB_SECRET" not in line


def test_serve_names_every_unsafe_setting_in_one_line(redis_url: str) -> None:
    code, output = refused(redis_url, {}, config=CONFIG / "festival.toml")
    line = refusal_line(output)
    assert code != 0
    assert "LIVEHUB_SECRET" in line and "LIVEHUB_PAYMENT_SECRET" in line and "plaintext host keys" in line


def test_the_app_factory_refuses_too_so_plain_uvicorn_cannot_bypass_the_check(redis_url: str) -> None:
    from tests.conftest import free_port

    argv = [sys.executable, "-m", "uvicorn", "livehub.app:create_app", "--factory", "--host", "127.0.0.1",
            "--port", str(free_port())]  # fmt: skip
    code, output = refused(redis_url, {"LIVEHUB_SECRET": DEV_SECRET}, argv=argv)
    assert code != 0
    line = refusal_line(output)
    assert "LIVEHUB_SECRET" in line and "LIVEHUB_PAYMENT_SECRET" in line


# ---- livehub festival import, livehub hosts add / rotate-key (against a running node) -------------------


@pytest.fixture(scope="module")
def admin_node(redis_url: str) -> Iterator[LivehubProcess]:
    """A node outside demo mode with a key prefix of its own: these edits reach no other test's festival."""
    from tests.conftest import HUB_ENV, running

    with running(redis_url, "cli" + uuid.uuid4().hex[:8], {**HUB_ENV, "LIVEHUB_DEMO": "0"}) as node:
        yield node


def admin_args(node: LivehubProcess) -> list[str]:
    from livehub.domain.tokens import ADMIN, mint
    from tests.conftest import SECRET

    return ["--url", node.http, "--token", mint(SECRET, "cli-admin", ADMIN)]


def test_festival_import_applies_a_guides_csv_and_prints_what_it_did(
    admin_node: LivehubProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = "c-" + uuid.uuid4().hex[:8]
    csv = tmp_path / "guides.csv"
    csv.write_text(f"id,name,store,brand,share_code\ng-{code},Lan,b2-s1,b2,{code}\n")
    assert main(["festival", "import", str(csv), "--dry-run", *admin_args(admin_node)]) == 0
    assert "validated (dry run, nothing applied): 1 created" in capsys.readouterr().out
    assert main(["festival", "import", str(csv), *admin_args(admin_node)]) == 0
    assert ": applied: 1 created, 0 updated, festival version " in capsys.readouterr().out


def test_festival_import_with_bad_rows_lists_each_line_and_exits_1(
    admin_node: LivehubProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "week2.csv"
    csv.write_text("id,brand,name,lat,lon,radius_km\nok-1,b1,Fine,31.2,121.4,2\nbad-1,b1,Far,95,121.4,2\n"
                   "bad-2,nope,Lost,31.2,121.4,2\n")  # fmt: skip
    assert main(["festival", "import", str(csv), "--kind", "stores", *admin_args(admin_node)]) == 1
    err = capsys.readouterr().err
    assert "refused (400): 2 problems: nothing applied" in err
    assert "  line 3: lat: " in err and "  line 4: brand: 'nope' is not a brand id" in err


def test_festival_import_needs_to_know_what_the_file_holds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "week2.csv"
    csv.write_text("id\n")
    assert main(["festival", "import", str(csv), "--url", "http://127.0.0.1:9"]) == 2
    assert "--kind stores|guides" in capsys.readouterr().err


def test_hosts_add_sends_only_a_hash_and_rotate_key_refuses_the_old_key(
    admin_node: LivehubProcess, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import http_json

    host, old, new = "host-" + uuid.uuid4().hex[:8], "old-key-" + uuid.uuid4().hex, "new-key-" + uuid.uuid4().hex
    monkeypatch.setattr("sys.stdin", io.StringIO(old + "\n"))
    assert main(["hosts", "add", host, "--venue", "b2", "--name", "Late host", *admin_args(admin_node)]) == 0
    assert f"host {host}: applied: 1 created" in capsys.readouterr().out
    login = admin_node.http + "/api/auth/host"
    assert http_json("POST", login, {"host": host, "key": old})[0] == 200

    monkeypatch.setattr("sys.stdin", io.StringIO(new + "\n"))
    assert main(["hosts", "rotate-key", host, *admin_args(admin_node)]) == 0
    assert f"host {host}: applied: 0 created, 1 updated" in capsys.readouterr().out
    assert http_json("POST", login, {"host": host, "key": old})[0] == 401
    assert http_json("POST", login, {"host": host, "key": new})[0] == 200

    monkeypatch.setattr("sys.stdin", io.StringIO(new + "\n"))
    assert main(["hosts", "rotate-key", "no-such-host", *admin_args(admin_node)]) == 2
    assert "refused (404)" in capsys.readouterr().err
