"""probe24d: a shipped-priors file (`routing.priors_file`) that is malformed is refused by
`check-config` with a line naming the key and what is wrong, as `serve` refuses it: before,
check-config only asked whether the file existed (it called a file that is not JSON, or whose
priors are out of range, OK, and serve then refused to start), and a `families` that is not a
list (a number, null) crashed serve with a TypeError traceback. A well-formed file naming
models that are not in the pool passes (its entries wait for those models)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from arbiter import priors
from arbiter.cli import main
from arbiter.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"
ENV = {"SIM_API_KEY": "sk-sim", "ARBITER_ADMIN_KEY": "adm-test"}

BAD = {
    "not JSON": (b"{quality: 1", "is not JSON"),
    "families a number": (b'{"families": 5}', "families"),
    "families null": (b'{"quality": {}, "families": null}', "families"),
    "families an object": (b'{"families": {"gpt-*": {"chat": 0.9}}}', "families"),
    "a prior past 1": (b'{"quality": {"m": {"chat": 1.5}}}', "quality.m.chat"),
    # probe27a: a family whose globs are not strings, or that has none, matched no model and
    # loaded silently (its priors never applied)
    "a glob a number": (b'{"families": [{"match": [5], "quality": {"chat": 0.9}}]}', "match[0]"),
    "a glob empty": (b'{"families": [{"match": ["gpt-*", ""], "quality": {}}]}', "match[1]"),
    "no glob": (b'{"families": [{"match": [], "quality": {"chat": 0.9}}]}', "families[0]"),
    # left27: a task the classifier does not have was accepted, its prior never read
    "a task misspelt": (b'{"quality": {"m": {"chatt": 0.9}}}', "quality.m.chatt is no task"),
    "a family's task misspelt": (
        b'{"families": [{"match": ["x-*"], "quality": {"Code": 0.9}}]}',
        "families[0].Code is no task",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_check_config_refuses_a_malformed_priors_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    raw, named = BAD[case]
    with pytest.raises(ConfigError, match=re.escape(named)):
        priors.parse(raw, "p.json")  # what serve's start reads
    (tmp_path / "p.json").write_bytes(raw)
    for var, value in {**ENV, "ARBITER_ROUTING__PRIORS_FILE": str(tmp_path / "p.json")}.items():
        monkeypatch.setenv(var, value)
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(EXAMPLE.read_text())
    assert main(["check-config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "routing.priors_file" in err and named in err, err
    assert "Traceback" not in err


def test_priors_for_models_not_in_the_pool_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = b'{"quality": {"not-here": {"chat": 0.7}}, "families": [{"match": ["x-*"]}]}'
    (tmp_path / "p.json").write_bytes(raw.replace(b'"x-*"]', b'"x-*"], "quality": {"chat": 1}'))
    for var, value in {**ENV, "ARBITER_ROUTING__PRIORS_FILE": str(tmp_path / "p.json")}.items():
        monkeypatch.setenv(var, value)
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(EXAMPLE.read_text())
    assert main(["check-config", str(cfg)]) == 0, capsys.readouterr().err
