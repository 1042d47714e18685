"""Relative file paths in [routing] (priors_file, difficulty_model, cascade_math_verifier_file)
are read from the config file's directory under `arbiter serve` and `check-config`, as
`arbiter replay --routing-config` and SQLite paths already were, whatever the working directory.
Eleventh session: [sandbox.tests] files too (they were read from the working directory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter import config, config_paths, priors
from arbiter.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "arbiter.toml"
PRIORS = '{"quality": {"sim-medium": {"knowledge": 0.9}}, "output_length": {}}'


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config in conf/ naming `priors.json` (beside it), run from another directory."""
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm-test")
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "priors.json").write_text(PRIORS)
    cfg = conf / "arbiter.toml"
    text = EXAMPLE.read_text().replace("[routing]\n", '[routing]\npriors_file = "priors.json"\n', 1)
    cfg.write_text(text)
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    return cfg


def test_check_config_reads_a_relative_priors_file_beside_the_config(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(elsewhere)]) == 0, capsys.readouterr()


def test_serve_loads_a_relative_priors_file_beside_the_config(elsewhere: Path) -> None:
    # serve's path: config.load, then Services loads settings.routing.priors_file
    settings = config.load(elsewhere)
    assert settings.routing.priors_file == str(elsewhere.parent / "priors.json")
    book = priors.load(settings.routing.priors_file)
    assert book.models["sim-medium"]["knowledge"] == 0.9


def test_shipped_names_and_absolute_paths_stay_as_written(tmp_path: Path) -> None:
    routing = config.RoutingSettings(
        priors_file="builtin", difficulty_model="", cascade_math_verifier_file="builtin"
    )
    assert config_paths.anchor_routing_files(routing, tmp_path) == routing
    absolute = config.RoutingSettings(priors_file=str(tmp_path / "p.json"))
    assert config_paths.anchor_routing_files(absolute, Path("/elsewhere")) == absolute


def test_sandbox_test_files_are_read_beside_the_config(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    beside = elsewhere.parent / "checks" / "code_tests.py"
    beside.parent.mkdir()
    beside.write_text("assert solution(1) == 2\n")
    text = elsewhere.read_text().replace(
        '# [sandbox.tests]\n# code = "checks/code_tests.py"',
        f'[sandbox.tests]\ncode = "checks/code_tests.py"\n"team/code" = "{beside}"',
    )
    elsewhere.write_text(text)
    assert main(["check-config", str(elsewhere)]) == 0, capsys.readouterr()
    tests = config.load(elsewhere).sandbox.tests  # serve's path: the executor reads these
    assert tests == {"code": str(beside), "team/code": str(beside)}  # an absolute one as it is
