"""A `--sweep` report's controls (replay_controls): the shuffled-labels run and the random
router, measured in the same run on the same table, next to the router's own figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arbiter.offline import outcome_table as ot
from arbiter.offline import replay as rp
from arbiter.offline import replay_cli
from arbiter.offline.replay_controls import CONTROL_KEYS, headline
from tests.replay_shapes import TWO, row, write_rows, write_shape

KNOBS = [0.3, 0.8, 0.9, 0.95, 1.0]


def _table(tmp: Path, n: int) -> ot.Table:
    table, models = write_rows(tmp, [row(i, TWO) for i in range(n)])
    return ot.load_table(table, ot.load_models(models))


def test_the_shuffled_labels_control_is_the_same_sweep_on_shuffled_labels(tmp_path: Path) -> None:
    table = _table(tmp_path, 60)
    cfg = rp.ReplayConfig(seed=3, feedback="sidecar")
    doc = rp.replay(table, cfg, knobs=KNOBS, controls=True)
    again = rp.replay(ot.shuffled_labels(table, 3), cfg, knobs=KNOBS)
    assert doc["controls"]["shuffled_labels"] == headline(again) | {"seed": 3}
    # and not the real run's figures: the labels did move
    assert headline(doc) != headline(again)


def test_the_random_control_recovers_about_half_the_gap(tmp_path: Path) -> None:
    """A router without information: PGR = c in expectation, so APGR ~0.5 and CPT(80%) ~80%."""
    doc = rp.replay(_table(tmp_path, 400), rp.ReplayConfig(), knobs=KNOBS, controls=True)
    rnd = doc["controls"]["random"]
    assert set(CONTROL_KEYS) <= set(rnd) and rnd["draws"] == 10
    assert rnd["apgr"] == pytest.approx(0.5, abs=0.05)
    assert rnd["cpt80"] == pytest.approx(80.0, abs=8.0)
    assert rnd["apgr_cost"] is not None and rnd["aiq"] is not None


def test_the_cli_reports_controls_unless_told_not_to(tmp_path: Path) -> None:
    table, models = write_shape(tmp_path, "plain_jsonl")
    quick = ["--no-progress", "--difficulty", "none", "--sweep", "--knobs", "0.3,0.9,1.0"]
    out = tmp_path / "out.json"
    assert replay_cli.main([str(table), "--models", str(models), *quick, "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert set(doc["controls"]) == {"shuffled_labels", "random"}
    assert doc["controls"]["random"]["apgr"] is not None
    args = [str(table), "--models", str(models), *quick, "--no-controls", "--out", str(out)]
    assert replay_cli.main(args) == 0
    doc = json.loads(out.read_text())
    assert doc["controls"] is None and any("--no-controls" in n for n in doc["notes"])


def test_more_than_two_models_get_the_random_mix_along_the_hull(tmp_path: Path) -> None:
    table, models = write_shape(tmp_path, "eleven_models")
    loaded = ot.load_table(table, ot.load_models(models))
    doc = rp.replay(loaded, rp.ReplayConfig(), knobs=KNOBS, controls=True)
    rnd, shuffled = doc["controls"]["random"], doc["controls"]["shuffled_labels"]
    assert rnd["aiq"] == doc["aiq_random_hull"] and rnd["apgr"] is None
    assert shuffled["aiq"] is not None and shuffled["apgr"] is None
