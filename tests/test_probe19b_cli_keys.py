"""probe19b: `arbiter keys create --config X` (the flag after the subcommand, where `export`,
`migrate` and `serve` take it) was an argparse error, "unrecognized arguments: --config X"; an
operator who then dropped the flag made the key in ./arbiter.toml's store instead. Each keys
subcommand takes it in either place now; given twice, the later one wins (argparse's rule)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"


def _config(tmp_path: Path, name: str) -> Path:
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(EXAMPLE.read_text().replace("sqlite:///arbiter.db", f"sqlite:///{name}.db"))
    return cfg


def test_keys_take_config_after_the_subcommand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm")
    monkeypatch.chdir(tmp_path)  # no ./arbiter.toml: the default config is absent
    ours, other = _config(tmp_path, "ours"), _config(tmp_path, "other")
    assert main(["keys", "create", "--config", str(ours), "--tenant", "t1"]) == 0
    key_id = capsys.readouterr().out.split()[1]
    assert main(["keys", "list", "--config", str(ours)]) == 0
    assert key_id in capsys.readouterr().out
    # before the subcommand as documented, and the later of two
    assert main(["keys", "--config", str(ours), "list"]) == 0
    assert key_id in capsys.readouterr().out
    assert main(["keys", "--config", str(ours), "create", "--config", str(other)]) == 0
    capsys.readouterr()
    assert main(["keys", "--config", str(other), "list"]) == 0
    assert key_id not in capsys.readouterr().out
    assert main(["keys", "revoke", key_id, "--config", str(ours)]) == 0
    assert f"revoked {key_id}" in capsys.readouterr().out
