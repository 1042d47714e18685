"""Issue 17, the replay's leftovers (route19): the shuffled-labels control hands neither modelled
judge the control's labels, a config error inside an inline table names its line, a report says
which model it measured against and why (a random-priced pool can make a weak model the
dearest), and `--out` keeps the contract's keys with their meaning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arbiter.errors import ConfigError
from arbiter.offline import outcome_table as ot
from arbiter.offline import replay as rp
from arbiter.offline import replay_cli
from arbiter.offline.as_sidecar import SidecarGrader
from arbiter.offline.routing_metrics import apgr, cpt
from arbiter.routing_file import load_routing
from tests.replay_shapes import STRONG, TWO, WEAK, row, write_rows

CONTRACT = ("apgr", "cpt50", "cpt80", "curve", "aiq", "aiq_hull", "aiq_oracle", "baselines",
            "model_share", "cpt50_usd", "cpt80_usd", "apgr_cost", "cpt50_cost_pct",
            "cpt80_cost_pct", "curve_cost", "feedback")  # fmt: skip
MATH_TOML = Path(__file__).resolve().parents[1] / "examples" / "routing" / "math.toml"


def _chat_table(tmp: Path, n: int = 40) -> ot.Table:
    """Open-ended rows (no automatic grader applies): only the judge can grade them."""
    rows = [row(i, TWO) | {"task": "chat"} for i in range(n)]
    for r in rows:
        for o in r["outcomes"].values():
            o["response"] = "Here is a short poem about the sea at night, in four lines."
    table, models = write_rows(tmp, rows)
    return ot.load_table(table, ot.load_models(models))


def test_the_feedback_judge_reads_the_answers_own_label_under_shuffled_labels(
    tmp_path: Path,
) -> None:
    """Sidecar feedback's judge reads the answer's text, as the cascade's modelled judge does
    (test_cascade_judge): under the shuffled-labels control it grades by the label that came
    with the text, not by the label the control moved onto the row. Before, it read the moved
    label, so one control measured the two judges differently."""
    table = _chat_table(tmp_path)
    shuffled = ot.shuffled_labels(table, 3)
    grader = SidecarGrader(seed=0, judge_rate=1.0, judge_error=0.0)
    moved = 0
    for orig, r in zip(table.rows, shuffled.rows, strict=True):
        out = r.outcomes[WEAK]
        moved += out.quality != orig.outcomes[WEAK].quality
        assert grader.grade(r, WEAK, out) == orig.outcomes[WEAK].quality
    assert moved > 0 and grader.judged == len(table.rows)


def test_an_error_inside_an_inline_table_names_its_line(tmp_path: Path) -> None:
    p = tmp_path / "r.toml"
    p.write_text(
        '[routing]\ncascade_tasks = ["chat"]\n\n'
        "cascade_expected_gain = { chat = [1.0] }\n"  # line 4: one number, not a line
        "cascade_min_answer_tokens = { code = 20 }\n"  # line 5: not a cascade task
    )
    with pytest.raises(ConfigError) as err:
        load_routing(p, [STRONG, WEAK])
    problems = err.value.problems
    assert any(m.startswith(f"{p}:4: routing.cascade_expected_gain.chat") for m in problems)
    assert any(m.startswith(f"{p}:5: routing.cascade_min_answer_tokens.code") for m in problems)


def _pool(tmp: Path, dear_is_weak: bool) -> tuple[Path, Path]:
    """Two models where the dearer one is the weaker (a random-priced pool) or the stronger."""
    rows = [row(i, TWO) for i in range(40)]
    table, _ = write_rows(tmp, rows)
    prices = [(0.5, 0.5), (20.0, 40.0)] if dear_is_weak else [(20.0, 40.0), (0.5, 0.5)]
    models = tmp / "priced.json"
    models.write_text(json.dumps({"models": [
        {"id": m, "price_in_per_mtok": a, "price_out_per_mtok": b}
        for m, (a, b) in zip((STRONG, WEAK), prices, strict=True)
    ]}))  # fmt: skip
    return table, models


def _replay(table: Path, models: Path, out: Path, *extra: str) -> dict[str, Any]:
    args = [str(table), "--models", str(models), "--sweep", "--knobs", "0.5,0.9,1.0",
            "--no-progress", "--no-controls", "--out", str(out), *extra]  # fmt: skip
    assert replay_cli.main(args) == 0
    return dict(json.loads(out.read_text()))


def test_a_weak_dearest_model_is_named_as_the_baseline_and_why(tmp_path: Path) -> None:
    table, models = _pool(tmp_path, dear_is_weak=True)
    doc = _replay(table, models, tmp_path / "o.json")
    assert doc["baseline_model"] == WEAK and doc["baseline_chosen_by"] == "most_expensive"
    said = [n for n in doc["notes"] if n.startswith("baseline_model:")]
    assert len(said) == 1 and f"{STRONG} scores higher" in said[0]
    assert f"--baseline {STRONG}" in said[0]
    named = _replay(table, models, tmp_path / "n.json", "--baseline", STRONG)
    assert named["baseline_model"] == STRONG and named["baseline_chosen_by"] == "named"
    assert not [n for n in named["notes"] if n.startswith("baseline_model:")]


def test_a_baseline_named_in_the_routing_config_says_so(tmp_path: Path) -> None:
    table, models = _pool(tmp_path, dear_is_weak=True)
    cfg = tmp_path / "r.toml"
    cfg.write_text(f'[routing]\nbaseline = "{STRONG}"\n')
    doc = _replay(table, models, tmp_path / "o.json", "--routing-config", str(cfg))
    assert doc["baseline_model"] == STRONG and doc["baseline_chosen_by"] == "named"
    cfg.write_text("[routing]\n")
    doc = _replay(table, models, tmp_path / "d.json", "--routing-config", str(cfg))
    assert doc["baseline_model"] == WEAK and doc["baseline_chosen_by"] == "most_expensive"
    assert any(n.startswith(f"baseline_model: {WEAK}") for n in doc["notes"])


def test_naming_the_model_the_default_would_pick_still_says_named(tmp_path: Path) -> None:
    """classify20: a baseline a person named reads `named` even where the default (the dearest
    model) is the same one; before, --baseline and routing.baseline naming the dearest model
    reported `most_expensive`, and an unset routing.baseline must still read as the default."""
    table, models = _pool(tmp_path, dear_is_weak=False)
    doc = _replay(table, models, tmp_path / "n.json", "--baseline", STRONG)
    assert doc["baseline_model"] == STRONG and doc["baseline_chosen_by"] == "named"
    cfg = tmp_path / "r.toml"
    cfg.write_text(f'[routing]\nbaseline = "{STRONG}"\n')
    doc = _replay(table, models, tmp_path / "c.json", "--routing-config", str(cfg))
    assert doc["baseline_model"] == STRONG and doc["baseline_chosen_by"] == "named"
    cfg.write_text("[routing]\n")
    doc = _replay(table, models, tmp_path / "d.json", "--routing-config", str(cfg))
    assert doc["baseline_model"] == STRONG and doc["baseline_chosen_by"] == "most_expensive"


def test_baseline_with_a_routing_config_is_refused_not_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """classify20: --baseline next to --routing-config was dropped without a word (the config's
    routing.baseline, or the default, was used); it is refused like the other flags the config
    sets, naming where to set it."""
    table, models = _pool(tmp_path, dear_is_weak=True)
    cfg = tmp_path / "r.toml"
    cfg.write_text("[routing]\n")
    args = [str(table), "--models", str(models), "--routing-config", str(cfg), "--baseline",
            STRONG, "--no-progress", "--out", str(tmp_path / "o.json")]  # fmt: skip
    assert replay_cli.main(args) == 2
    assert "--baseline (routing.baseline): set by --routing-config" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


def test_a_strong_dearest_model_needs_no_note(tmp_path: Path) -> None:
    table, models = _pool(tmp_path, dear_is_weak=False)
    doc = _replay(table, models, tmp_path / "o.json")
    assert doc["baseline_model"] == STRONG and doc["baseline_chosen_by"] == "most_expensive"
    assert not [n for n in doc.get("notes", []) if n.startswith("baseline_model:")]


def test_equally_priced_models_say_the_tie_rule(tmp_path: Path) -> None:
    table, _ = write_rows(tmp_path, [row(i, TWO) for i in range(40)])
    models = tmp_path / "free.json"
    models.write_text(json.dumps({"models": [
        {"id": m, "price_in_per_mtok": 0, "price_out_per_mtok": 0} for m in TWO
    ]}))  # fmt: skip
    doc = _replay(table, models, tmp_path / "o.json")
    assert doc["baseline_chosen_by"] == "best_among_equally_priced"
    assert doc["baseline_model"] == STRONG  # the better of the two free models


def test_the_out_json_keeps_the_contract_keys_with_their_meaning(tmp_path: Path) -> None:
    """issue 17's contract on `arbiter replay TABLE --models M --sweep --routing-config FILE
    --out OUT`: every key present; feedback defaults to "sidecar"; the dollar axis is the share
    of the all-baseline cost (both calls of a cascade charged) and apgr_cost / cpt*_cost_pct are
    read off curve_cost as apgr / cpt* are off curve; the controls carry both axes."""
    table, models = write_rows(tmp_path, [row(i, TWO) | {"task": "math"} for i in range(60)])
    out = tmp_path / "out.json"
    args = [str(table), "--models", str(models), "--sweep", "--routing-config", str(MATH_TOML),
            "--knobs", "0.1,0.3,0.5,0.9", "--no-progress", "--out", str(out)]  # fmt: skip
    assert replay_cli.main(args) == 0
    doc = json.loads(out.read_text())
    assert [k for k in CONTRACT if k not in doc] == []
    assert doc["feedback"] == "sidecar"
    by_cost = [(p["cost_pct"] / 100, p["pgr"]) for p in doc["curve_cost"]]
    assert doc["apgr_cost"] == round(apgr(by_cost), 4)
    assert doc["cpt80_cost_pct"] == round(100 * cpt(by_cost, 0.8), 2)
    by_calls = [(p["strong_pct"] / 100, p["pgr"]) for p in doc["curve"]]
    assert doc["apgr"] == round(apgr(by_calls), 4)
    base = doc["baselines"]["always_baseline"]["cost_usd"]
    for p, q in zip(doc["curve"], doc["curve_cost"], strict=True):
        assert q["cost_pct"] == pytest.approx(100 * p["cost_usd"] / base, abs=1e-3)
    for ctl in ("shuffled_labels", "random"):
        assert {"apgr", "cpt80", "apgr_cost", "cpt80_cost_pct"} <= set(doc["controls"][ctl])
    assert set(doc["model_share"]) == set(TWO)
    assert doc["baseline_model"] == STRONG and doc["baseline_chosen_by"] == "most_expensive"
    assert rp.PGR_KEYS == ("apgr", "cpt50", "cpt80", "cpt50_usd", "cpt80_usd", "apgr_cost",
                           "cpt50_cost_pct", "cpt80_cost_pct")  # fmt: skip
