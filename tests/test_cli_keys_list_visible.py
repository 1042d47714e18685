"""`arbiter keys list` prints each key's name, which the admin API takes as any string: a name
holding terminal escapes, line ends or bidi controls (from a script naming keys after users, say)
reached the operator's terminal as code (colours, a cleared screen, a forged second key line).
Every such character is printed as a visible escape, one key per line."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter import config
from arbiter.auth import create_key
from arbiter.cli import main
from arbiter.store import open_store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"
NAME = "evil\x1b[2J\x1b[31mred\nd00000000000  active   tenant=root\u202e\u200b"


def test_keys_list_prints_a_names_controls_as_visible_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm-test")
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(EXAMPLE.read_text())
    assert main(["migrate", "--config", str(cfg)]) == 0
    store = open_store(config.load(cfg).store.url)
    try:
        new = create_key(store, "acme", name=NAME)
    finally:
        store.close()
    capsys.readouterr()
    assert main(["keys", "--config", str(cfg), "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 1, out  # one key: one line
    assert lines[0].startswith(new.id)
    assert out.rstrip("\n").isprintable(), repr(out)
    assert "evil\\u001b[2J\\u001b[31mred\\nd00000000000  active   tenant=root\\u202e\\u200b" in out
