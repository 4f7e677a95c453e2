"""The ``livehub`` command: ``livehub festival check``."""

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
