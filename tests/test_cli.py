"""The ``livehub`` command: ``livehub festival check`` and ``livehub token``."""

from __future__ import annotations

from pathlib import Path

import pytest

from livehub.cli import main

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
