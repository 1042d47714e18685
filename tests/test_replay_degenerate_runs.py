"""Replays whose figures cannot say what they seem to: a one-row table (any router's curve is
the two pure ends, so APGR is 0.5 by construction), and a config that cascades every request
(routing.cascade_all: the router's choice, which --feedback trains, is never used, so both
feedbacks give the same figures). The report says so, keeping every contract key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arbiter.offline import replay_cli
from tests.replay_shapes import STRONG, TWO, WEAK, mt_bench_rows, row, write_rows
from tests.test_replay_inputs import CONTRACT

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "routing"


def _run(table: Path, models: Path, out: Path, *extra: str) -> dict[str, Any]:
    args = [str(table), "--models", str(models), "--no-progress", "--out", str(out), *extra]
    assert replay_cli.main(args) == 0
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def test_a_one_row_table_reports_no_apgr_and_says_why(tmp_path: Path) -> None:
    one = row(0, TWO)  # the baseline right, the cheap model wrong: a gap to recover
    one["outcomes"] = {m: o | {"quality": float(m == STRONG)} for m, o in one["outcomes"].items()}
    table, models = write_rows(tmp_path, [one])
    doc = _run(table, models, tmp_path / "one.json", "--difficulty", "none", "--sweep",
               "--knobs", "0.3,0.9,1.0")  # fmt: skip
    assert [k for k in CONTRACT if k not in doc] == []
    for key in ("apgr", "cpt50", "cpt80", "apgr_cost", "cpt50_cost_pct", "cpt80_cost_pct", "aiq"):
        assert doc[key] is None, (key, doc[key])  # was apgr 0.5, cpt50 50.0, with no word
    assert any(n.startswith("apgr") and "one row" in n for n in doc["notes"]), doc["notes"]
    for control in ("shuffled_labels", "random"):  # the controls' curves are as degenerate
        assert doc["controls"][control]["apgr"] is None, control
    assert doc["aiq_hull"] is not None and doc["requests"] == 1  # the table's own figures stay


def test_a_cascade_on_every_request_says_feedback_has_no_effect(tmp_path: Path) -> None:
    table, models = write_rows(tmp_path, mt_bench_rows())
    chat = str(EXAMPLES / "chat.toml")
    docs = {
        fb: _run(table, models, tmp_path / f"{fb}.json", "--routing-config", chat, "--feedback", fb)
        for fb in ("sidecar", "labels")
    }
    sidecar, labels = docs["sidecar"], docs["labels"]
    assert (sidecar["cost_usd"], sidecar["quality"]) == (labels["cost_usd"], labels["quality"])
    for doc in docs.values():
        assert doc["router_overridden"] == doc["requests"] == 80
        said = [n for n in doc.get("notes", ()) if n.startswith("feedback")]
        assert len(said) == 1 and "cascade_all" in said[0] and "80 of 80" in said[0], doc


def test_a_router_that_chooses_has_no_feedback_note(tmp_path: Path) -> None:
    table, models = write_rows(tmp_path, mt_bench_rows())
    doc = _run(table, models, tmp_path / "r.json", "--difficulty", "none")
    assert doc["router_overridden"] == 0
    assert not [n for n in doc.get("notes", ()) if n.startswith("feedback")]


def test_a_cascade_first_model_overrides_the_router_on_every_request(tmp_path: Path) -> None:
    table, models = write_rows(tmp_path, mt_bench_rows())
    doc = _run(table, models, tmp_path / "c.json", "--difficulty", "none", "--cascade",
               "--cascade-first", WEAK)  # fmt: skip
    assert doc["router_overridden"] == 80
    assert [n for n in doc["notes"] if n.startswith("feedback") and "80 of 80" in n]
