"""`arbiter check-config` says everything wrong in one run (and `--probe` asks the upstreams),
`arbiter serve` with an unreachable PostgreSQL says so in one line, `arbiter --version`."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.cli import main
from arbiter.offline.sim.runner import SimServer

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm-test")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("arbiter ")


def test_check_config_lists_every_problem_once(
    tmp_path: Path, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(
        EXAMPLE.read_text()
        .replace("explore = 1.0", "explor = 1.0")
        .replace("keep_alive_s = 75", "keep_alive_s = 7.5")
        .replace("sqlite:///arbiter.db", "postgresql://arbiter:hunter2@db/arbiter")
        .replace(
            'upstream = "sim"\nprice_in_per_mtok = 0.50', 'upstream = "x"\nprice_in_per_mtok = 0.50'
        )
    )
    assert main(["check-config", str(cfg)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines[-1] == f"{cfg}: 3 problems"
    assert "unknown key 'explor'; did you mean 'explore'?" in err
    assert "server.keep_alive_s must be an integer, not 7.5 (a float)" in err
    assert "upstream 'x' is not defined in [upstreams]" in err
    assert "hunter2" not in err


def test_check_config_ok_masks_the_store_password(
    tmp_path: Path, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(
        EXAMPLE.read_text().replace("sqlite:///arbiter.db", "postgresql://a:hunter2@db/x")
    )
    assert main(["check-config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "postgresql://a:***@db/x" in out and "hunter2" not in out


def test_probe_names_models_the_upstream_does_not_serve(
    tmp_path: Path, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with SimServer() as sim:
        cfg = tmp_path / "arbiter.toml"
        # the example as it once was: models named tiny/premium on a pool serving sim-*
        cfg.write_text(
            EXAMPLE.read_text()
            .replace("http://127.0.0.1:9100/v1", sim.base_url)
            .replace("[models.sim-tiny]", "[models.tiny]")
            .replace('["sim-tiny", ', '["tiny", ')
            .replace("[latency.priors.sim-tiny]", "[latency.priors.tiny]")
        )
        assert main(["check-config", "--probe", str(cfg)]) == 1
        err = capsys.readouterr().err
        assert "models.tiny: upstream 'sim' does not serve 'tiny'; did you mean 'sim-tiny'?" in err
        assert err.count("does not serve") == 1
        cfg.write_text(EXAMPLE.read_text().replace("http://127.0.0.1:9100/v1", sim.base_url))
        assert main(["check-config", "--probe", str(cfg)]) == 0
        assert "every upstream answered" in capsys.readouterr().out


def test_probe_reports_an_unreachable_upstream(
    tmp_path: Path, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(EXAMPLE.read_text().replace("127.0.0.1:9100", "127.0.0.1:9"))
    assert main(["check-config", "--probe", str(cfg)]) == 1
    assert "upstreams.sim: GET http://127.0.0.1:9/v1/models failed: ConnectError" in (
        capsys.readouterr().err
    )


def test_serve_with_unreachable_postgres_is_one_clear_line(
    tmp_path: Path, env: None, capfd: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(
        EXAMPLE.read_text().replace(
            "sqlite:///arbiter.db", "postgresql://arbiter:hunter2@127.0.0.1:9/arbiter"
        )
    )
    assert main(["serve", "--config", str(cfg), "--port", "9"]) == 1
    out, err = capfd.readouterr()
    assert err.strip().splitlines() == [
        "arbiter: cannot reach PostgreSQL at postgresql://arbiter:***@127.0.0.1:9/arbiter: "
        'connection failed: connection to server at "127.0.0.1", port 9 failed: '
        "Connection refused"
    ]
    assert out == ""


def test_check_config_warns_when_no_model_is_routable(
    tmp_path: Path, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config whose every routable model is a shadow challenger loads (and serves by name), but
    `auto` has nothing to route to: check-config says so, without failing."""
    cfg = tmp_path / "arbiter.toml"
    every = '"sim-tiny", "sim-small", "sim-medium", "sim-premium"'
    cfg.write_text(EXAMPLE.read_text() + f"\n[shadow]\nchallengers = [{every}]\n")
    assert main(["check-config", str(cfg)]) == 0
    err = capsys.readouterr().err
    assert "warning: shadow.challengers: every routable model is a challenger" in err
    assert "503" in err
    # a tenant whose allowed models are all challengers is warned about on its own
    cfg.write_text(
        EXAMPLE.read_text().replace("[tenants.search-team]", "[tenants.t]\n"
        'allowed_models = ["sim-small", "judge"]\n[tenants.search-team]')
        + '\n[shadow]\nchallengers = ["sim-small"]\n'
    )  # fmt: skip
    assert main(["check-config", str(cfg)]) == 0
    err = capsys.readouterr().err
    assert "warning: tenants.t.allowed_models: every model the tenant may use" in err
    assert "search-team" not in err
