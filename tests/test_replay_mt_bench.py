"""Issue 17's unseen MT Bench table, as an outsider would write it: one row per question, two
turns, routed on the first turn, scored by the mean of both turns' judge scores; replayed with
the shipped chat config on both feedbacks, and refused (one line) by the configs whose models
its two-model pool lacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arbiter.offline import outcome_table as ot
from arbiter.offline import replay_cli
from tests.replay_shapes import MT_CATEGORIES, STRONG, TWO, WEAK, mt_bench_rows, write_rows
from tests.test_replay_inputs import CONTRACT

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "routing"


@pytest.mark.parametrize("between", [True, False], ids=["answer_between", "questions_only"])
def test_mt_bench_rows_are_routed_on_their_first_turn_and_scored_by_both(
    tmp_path: Path, between: bool
) -> None:
    rows = mt_bench_rows(between)
    table = ot.load_table(*_loaded(write_rows(tmp_path, rows)))
    assert len(table.rows) == 80 and {m.id for m in table.models} == set(TWO)
    for raw, r in zip(rows, table.rows, strict=True):
        assert r.prompt == raw["messages"][0]["content"]  # turn 2 is not what is routed
        assert "limerick" not in r.prompt
        for m in TWO:
            scores = raw["outcomes"][m]["turn_scores"]
            assert r.outcomes[m].quality == pytest.approx(sum((s - 1) / 9 for s in scores) / 2)
    # the pool's means are the per-question means of both turns, as the table states them
    assert table.model_quality(STRONG) > table.model_quality(WEAK)


@pytest.mark.parametrize("feedback", ["sidecar", "labels"])
def test_mt_bench_replays_with_the_chat_config_and_reports_every_key(
    tmp_path: Path, feedback: str
) -> None:
    table, models = write_rows(tmp_path, mt_bench_rows())
    out = tmp_path / "mt.json"
    args = [str(table), "--models", str(models), "--routing-config", str(EXAMPLES / "chat.toml"),
            "--sweep", "--feedback", feedback, "--no-progress", "--out", str(out)]  # fmt: skip
    assert replay_cli.main(args) == 0
    text = out.read_text()
    assert "NaN" not in text and "Infinity" not in text
    doc = json.loads(text)
    assert [k for k in CONTRACT if k not in doc] == []
    assert doc["requests"] == 80 and doc["feedback"] == feedback
    # chat.toml cascades every request (cascade_all): the one note says feedback does nothing
    assert [n.split(":")[0] for n in doc["notes"]] == ["feedback"], doc["notes"]
    assert sum(doc["model_share"].values()) == pytest.approx(100.0)
    assert 0.0 <= doc["apgr"] <= 1.5 and 0.0 <= doc["apgr_cost"] <= 1.5
    for control in ("shuffled_labels", "random"):
        assert doc["controls"][control]["apgr"] is not None, control
    assert {r["task"] for r in mt_bench_rows()} == set(MT_CATEGORIES)


def test_mt_bench_with_a_config_whose_judge_its_pool_lacks_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """chat_judge.toml's cheap judge is not in MT Bench's two-model pool: refused, naming the
    judge and the pool, never replayed without the judge it was chosen with."""
    table, models = write_rows(tmp_path, mt_bench_rows())
    args = [str(table), "--models", str(models), "--routing-config",
            str(EXAMPLES / "chat_judge.toml"), "--sweep", "--no-progress"]  # fmt: skip
    assert replay_cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("arbiter replay: "), err
    assert (
        "'gpt-3.5-turbo-1106'" in err[0] and f"the pool is the table's models: {STRONG}" in err[0]
    )


def _loaded(paths: tuple[Path, Path]) -> tuple[Path, list[ot.ModelSpec]]:
    return paths[0], ot.load_models(paths[1])
