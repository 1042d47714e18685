"""`arbiter keys list` (and `keys revoke`, `export`) on a SQLite store that does not exist
created the file (and its directories), an empty store where the operator named none, before
saying it has no tables. A read-only command now creates nothing: the same clear message
(naming `arbiter migrate`), exit status 2; `keys create` still creates and migrates it."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"


@pytest.mark.parametrize(
    "command",
    [["keys", "list"], ["keys", "revoke", "key_nope"], ["export", "--since", "1d"]],
)
def test_a_read_only_command_creates_no_sqlite_file(
    command: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm")
    db = tmp_path / "not" / "there" / "arbiter.db"
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(EXAMPLE.read_text().replace("sqlite:///arbiter.db", f"sqlite:///{db}"))
    head, *rest = command
    assert main([head, "--config", str(cfg), *rest]) == 2
    err = capsys.readouterr().err
    assert "has no Arbiter tables" in err and "arbiter migrate" in err, err
    assert "Traceback" not in err, err
    assert not db.exists() and not (tmp_path / "not").exists(), "a read created the store"
    # a write may create it
    assert main(["keys", "--config", str(cfg), "create", "--tenant", "t1"]) == 0
    assert db.exists()
    assert main([head, "--config", str(cfg), *rest]) in (0, 1)  # revoke: no such key
