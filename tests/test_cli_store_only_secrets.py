"""The commands that only touch the store (`migrate`, `keys`, `export`) neither read nor require
the upstreams' or the auth keys: an operator who exports decisions or makes a client key on a
host without the upstream secrets is not told to set them. `serve` and `check-config` still
require every one, naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter import config
from arbiter.cli import main
from arbiter.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # neither the upstream's key nor the admin key is in the environment; a key file that
    # cannot be read is not read either
    monkeypatch.delenv("SIM_API_KEY", raising=False)
    monkeypatch.delenv("ARBITER_ADMIN_KEY", raising=False)
    path = tmp_path / "arbiter.toml"
    text = EXAMPLE.read_text()
    assert 'api_key_env = "SIM_API_KEY"' in text and 'admin_key_env = "ARBITER_ADMIN_KEY"' in text
    path.write_text(text)
    return path


def test_migrate_keys_and_export_run_without_any_secret(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "--config", str(cfg)]) == 0
    assert main(["keys", "create", "--config", str(cfg), "--tenant", "team-a"]) == 0
    assert main(["keys", "list", "--config", str(cfg)]) == 0
    assert main(["export", "--config", str(cfg), "--since", "7d"]) == 0
    err = capsys.readouterr().err
    assert "is not set" not in err, err
    assert "exported 0 decisions" in err


def test_serve_and_check_config_still_require_them(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError) as raised:
        config.load(cfg)
    problems = "\n".join(raised.value.problems)
    assert "SIM_API_KEY is not set" in problems and "ARBITER_ADMIN_KEY is not set" in problems
    assert main(["check-config", str(cfg)]) != 0
    assert "SIM_API_KEY is not set" in capsys.readouterr().err


def test_without_secrets_no_key_is_read(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm-test")
    loaded = config.load(cfg, secrets=False)
    assert all(up.api_key is None for up in loaded.upstreams.values())
    assert loaded.auth.admin_key is None
    # the rest of the config is checked as strictly as ever
    cfg.write_text(cfg.read_text() + "\n[bogus]\n")
    with pytest.raises(ConfigError, match="bogus"):
        config.load(cfg, secrets=False)
