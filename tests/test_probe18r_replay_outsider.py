"""An outside evaluator's `arbiter replay` (issue 17's contract) on tables built here, never seen
by the project: the contract's figures checked against values worked out by hand on both axes,
the big-table path (the file streamed, the oracle frontier once per table), and hand-written
routing configs whose inline-table mistakes must name their key."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest

from arbiter.offline import outcome_table as ot
from arbiter.offline import replay as rp
from arbiter.offline import replay_cli

BIG, SMALL = "acme/big-1", "acme/small-2"
CONTRACT = ("apgr", "cpt50", "cpt80", "curve", "aiq", "aiq_hull", "aiq_oracle", "baselines",
            "model_share", "cpt50_usd", "cpt80_usd", "apgr_cost", "cpt50_cost_pct",
            "cpt80_cost_pct", "curve_cost", "feedback")  # fmt: skip
# a full answer (no check of the sidecar's flags it: no refusal, hedge or repetition), and a
# terse wrong one that a short-answer cut-off of 2..50 tokens escalates
LONG = (
    "The capital is the city on the river, founded by traders who crossed the plains; it became "
    "the seat of government after the war ended and still is, with nearly two million people."
)
WRONG_ROWS = {3, 7, 11, 15, 19}  # the cheap model is wrong on 5 of 20: a 25% gap


def _hand_table(tmp_path: Path, cheap_price: float) -> tuple[Path, Path]:
    """20 rows; the strong model is always right, the cheap one wrong (and terse) on 5. Every
    call is 50 + 50 tokens: the strong model $10 per 1M (0.001 a row), the cheap one
    `cheap_price`."""
    table = tmp_path / "hand.jsonl"
    lines = []
    for i in range(20):
        ok = i not in WRONG_ROWS
        lines.append(json.dumps({
            "id": f"h{i}",
            "messages": [{"role": "user", "content": f"Which city is capital number {i}?"}],
            "outcomes": {
                BIG: {"quality": 1.0, "response": LONG, "prompt_tokens": 50,
                      "completion_tokens": 50},
                SMALL: {"quality": 1.0 if ok else 0.0, "response": LONG if ok else "No.",
                        "prompt_tokens": 50, "completion_tokens": 50},
            },
        }))  # fmt: skip
    table.write_text("\n".join(lines) + "\n")
    models = tmp_path / "models.json"
    models.write_text(json.dumps([
        {"id": BIG, "price_in_per_mtok": 10, "price_out_per_mtok": 10},
        {"id": SMALL, "price_in_per_mtok": cheap_price, "price_out_per_mtok": cheap_price},
    ]))  # fmt: skip
    return table, models


def _cascade_sweep(tmp_path: Path, cheap_price: float) -> dict[str, Any]:
    table, models = _hand_table(tmp_path, cheap_price)
    out = tmp_path / "out.json"
    argv = [str(table), "--models", str(models), "--sweep", "--cascade", "--cascade-first",
            SMALL, "--no-progress", "--difficulty", "none", "--out", str(out)]  # fmt: skip
    assert replay_cli.main(argv) == 0
    doc: dict[str, Any] = json.loads(out.read_text())
    assert not [k for k in CONTRACT if k not in doc]
    return doc


def test_a_free_cheap_model_gives_the_same_figures_on_both_axes_as_worked_by_hand(
    tmp_path: Path,
) -> None:
    """The cascade's short-answer cut-off escalates nothing (PGR 0 at 0% strong), exactly the 5
    wrong answers (PGR 1 at 25%) or every answer (PGR 1 at 100%). By hand, on the grid
    0, 0.1, .., 1 the interpolated PGR is 0, 0.4, 0.8, then 1: APGR = 0.1 x (9.2 - 0.5) = 0.87,
    CPT50 = 12.5%, CPT80 = 20%. With the cheap model free, its calls cost nothing, so the
    dollar axis is the call axis."""
    doc = _cascade_sweep(tmp_path, 0.0)
    assert (doc["apgr"], doc["cpt50"], doc["cpt80"]) == (0.87, 12.5, 20.0)
    assert (doc["apgr_cost"], doc["cpt50_cost_pct"], doc["cpt80_cost_pct"]) == (0.87, 12.5, 20.0)
    # all-strong costs 20 x $0.001: CPT in dollars is the share of it
    assert (doc["cpt50_usd"], doc["cpt80_usd"]) == (0.0025, 0.004)
    # AIQ over [$0, $0.02]: the hull rises 0.75 -> 1 over the first quarter, then stays at 1
    assert doc["aiq"] == pytest.approx(0.25 * 0.875 + 0.75, abs=1e-6)
    assert doc["aiq_hull"] == pytest.approx(0.875, abs=1e-6)  # the two models' chord
    assert doc["aiq_oracle"] == pytest.approx(0.96875, abs=1e-6)
    assert doc["baselines"]["always_cheapest"]["cost_usd"] == 0.0
    assert doc["feedback"] == "sidecar"


def test_a_paid_cheap_model_charges_both_cascade_calls_on_the_dollar_axis(
    tmp_path: Path,
) -> None:
    """The cheap model at a tenth of the strong one's price: every cascade pays it on every row
    (10% of the all-strong cost) plus the strong calls it escalates. Points on the dollar axis:
    (10%, 0), (35%, 1), (110%, 1). By hand: PGR on the grid 0, 0, 0.4, 0.8, then 1 from 0.4:
    APGR = 0.1 x (8.2 - 0.5) = 0.77, CPT50 = 10 + 0.5 x 25 = 22.5%, CPT80 = 30%. The call axis
    is unchanged (0.87 / 12.5% / 20%)."""
    doc = _cascade_sweep(tmp_path, 1.0)
    assert (doc["apgr"], doc["cpt50"], doc["cpt80"]) == (0.87, 12.5, 20.0)
    assert (doc["apgr_cost"], doc["cpt50_cost_pct"], doc["cpt80_cost_pct"]) == (0.77, 22.5, 30.0)
    assert (doc["cpt50_usd"], doc["cpt80_usd"]) == (0.0045, 0.006)
    on_cost = sorted({(p["cost_pct"], p["pgr"]) for p in doc["curve_cost"]})
    assert on_cost == [(10.0, 0.0), (35.0, 1.0), (100.0, 1.0), (110.0, 1.0)]


# -- the big table: read as a stream, the oracle frontier once per table ----------------------
def _rows(n: int, seed: int, models: dict[str, tuple[float, float]]) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        outcomes = {
            m: {
                "quality": rng.choice((0.0, 0.25, 0.5, 1.0)),  # coarse: many ties per row
                "response": "x" * rng.randint(0, 40),
                "prompt_tokens": rng.randint(1, 50),
                "completion_tokens": rng.choice((0, 5, 5, 40)),  # equal costs tie too
            }
            for m in models
        }
        rows.append({"id": f"r{i}", "messages": [{"role": "user", "content": f"q {i} é 数"}],
                     "outcomes": outcomes})  # fmt: skip
    return rows


def _write(tmp_path: Path, rows: list[dict[str, Any]], models: dict[str, tuple[float, float]],
           gz: bool = False) -> tuple[Path, list[ot.ModelSpec]]:  # fmt: skip
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    table = tmp_path / ("t.jsonl.gz" if gz else "t.jsonl")
    table.write_bytes(gzip.compress(data) if gz else data)
    return table, [ot.ModelSpec(m, pin, pout) for m, (pin, pout) in models.items()]


FIVE = {"v/a": (10.0, 30.0), "v/b": (1.0, 2.0), "v/c": (1.0, 2.0), "v/d": (0.0, 0.0),
        "v/e": (0.3, 0.3)}  # fmt: skip


@pytest.mark.parametrize("gz", [False, True])
def test_the_table_is_read_as_a_stream_not_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gz: bool
) -> None:
    """A 200,000-row table (222 MB) peaked at 813 MB: its bytes, their gunzipped copy, a list of
    every line and every parsed row, then the rows again. Reading it whole is what this refuses:
    the file is never read in one piece (nor decompressed in one piece), and the table is the
    same as the whole-file reading gave (bench/replay_big_table.py measures the memory)."""
    table, specs = _write(tmp_path, _rows(300, 1, FIVE), FIVE, gz=gz)

    def whole(*_a: Any, **_k: Any) -> bytes:
        raise AssertionError("the whole table was read into memory at once")

    monkeypatch.setattr(Path, "read_bytes", whole)
    monkeypatch.setattr(gzip, "decompress", whole)
    t = ot.load_table(table, specs)
    assert [r.id for r in t.rows] == [f"r{i}" for i in range(300)]
    assert [m.id for m in t.models] == list(FIVE)


def test_streamed_reading_keeps_every_rule_of_the_format(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What the whole-file reader accepted and refused, the stream does too: a BOM, CRLF and
    lone-CR line ends, a model missing on some rows (left out, named), one whose rows disagree
    on prompt_tokens (the first kept model's count), a truncated gzip (one error naming it)."""
    rows = _rows(12, 2, FIVE)
    del rows[4]["outcomes"]["v/a"]  # v/a is left out: v/b becomes the first kept model
    rows[5]["outcomes"]["v/a"]["prompt_tokens"] = 999
    rows[5]["outcomes"]["v/b"]["prompt_tokens"] = 7
    data = "\ufeff" + "\r\n".join(json.dumps(r) for r in rows[:6]) + "\r"
    data += "\r".join(json.dumps(r) for r in rows[6:]) + "\n"
    table = tmp_path / "t.jsonl"
    table.write_text(data, encoding="utf-8", newline="")
    specs = [ot.ModelSpec(m, pin, pout) for m, (pin, pout) in FIVE.items()]
    t = ot.load_table(table, specs)
    assert [r.id for r in t.rows] == [f"r{i}" for i in range(12)]
    assert [m.id for m in t.models] == ["v/b", "v/c", "v/d", "v/e"]
    assert all(list(r.outcomes) == ["v/b", "v/c", "v/d", "v/e"] for r in t.rows)
    assert t.rows[5].prompt_tokens == 7
    assert "'v/a' has no outcome on 1 of 12 rows (ids 'r4')" in caplog.text
    gz = tmp_path / "t.jsonl.gz"
    gz.write_bytes(gzip.compress(data.encode())[:-20])
    with pytest.raises(ValueError, match="not a complete gzip file"):
        ot.load_table(gz, specs)


def _frontier_by_rows(table: ot.Table, steps: int = 60) -> list[tuple[float, float]]:
    """The oracle frontier as the contract defines it, one row at a time (the reference)."""
    per_prompt = max(table.model_cost(m.id) for m in table.models) / len(table.rows)
    points = [rp.oracle(table)]
    for k in range(steps + 1):
        lam = 0.0 if k == 0 else 10 ** (-3 + 7 * k / steps) / max(per_prompt, 1e-12)
        cost = qual = 0.0
        for r in table.rows:
            o = max(r.outcomes.values(), key=lambda o: (o.quality - lam * o.cost_usd, -o.cost_usd))
            cost += o.cost_usd
            qual += o.quality
        points.append((cost, qual / len(table.rows)))
    return points


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_oracle_frontier_is_the_per_row_definition_to_the_last_bit(
    tmp_path: Path, seed: int
) -> None:
    table, specs = _write(tmp_path, _rows(400, seed, FIVE), FIVE)
    t = ot.load_table(table, specs)
    for tab in (t, ot.shuffled_labels(t, seed)):
        assert rp.oracle_frontier(tab) == _frontier_by_rows(tab)


def test_a_sweep_with_controls_computes_the_oracle_frontier_once_per_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The frontier does not depend on the router: it was recomputed for every sweep_metrics
    call, 12 times in a sweep with controls (the table, the shuffled table, and each of the
    random control's 10 draws), 83 s each on a 200,000-row table. Now once per table."""
    table, specs = _write(tmp_path, _rows(60, 3, {BIG: (10.0, 30.0), SMALL: (1.0, 1.0)}),
                          {BIG: (10.0, 30.0), SMALL: (1.0, 1.0)})  # fmt: skip
    t = ot.load_table(table, specs)
    seen: list[int] = []
    real = rp.oracle_frontier

    def counted(tab: ot.Table, steps: int = 60) -> list[tuple[float, float]]:
        seen.append(id(tab))
        return real(tab, steps)

    monkeypatch.setattr(rp, "oracle_frontier", counted)
    doc = rp.replay(t, rp.ReplayConfig(), knobs=[0.5, 0.9], controls=True)
    assert doc["aiq_oracle"] is not None and doc["controls"]["random"]["aiq"] is not None
    assert len(seen) == len(set(seen)) == 2, seen  # the table and its shuffled copy


# -- hand-written configs: a mistake inside an inline table names its key ---------------------
@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("cascade_expected_gain = { chat = [1.0] }",
         "routing.cascade_expected_gain.chat must be [intercept, slope]"),
        ("cascade_prompt_gain = { chat = [1.0, 2.0, 3.0] }",
         "routing.cascade_prompt_gain.chat must be [intercept, slope]"),
        ("cascade_min_answer_tokens = { chat = -5 }",
         "routing.cascade_min_answer_tokens.chat must be >= 0 tokens"),
        ("cascade_expected_gain = { code = [1.0, -0.1] }",
         "routing.cascade_expected_gain.code: 'code' is not in routing.cascade_tasks"),
    ],
)  # fmt: skip
def test_an_inline_table_mistake_names_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, says: str
) -> None:
    """The shipped chat.toml writes its per-task lines as inline tables, so an outsider's edit
    lands there; the locator finds no line for `key.task` inside `{ ... }` and the message said
    only "FILE: must be [intercept, slope], two finite numbers", naming no key."""
    table, models = _hand_table(tmp_path, 1.0)
    cfg = tmp_path / "mine.toml"
    cfg.write_text(f'[routing]\ncascade_tasks = ["chat"]\ncascade_all = true\n{line}\n')
    argv = [str(table), "--models", str(models), "--sweep", "--routing-config", str(cfg),
            "--no-progress"]  # fmt: skip
    assert replay_cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("arbiter replay: "), err
    assert says in err[0], err[0]


@pytest.mark.parametrize(
    "prices", [("10", 1), (10, True), (False, 1), (10, "NaN"), (-1, 1), (10, [1])]
)
def test_a_models_file_price_must_be_a_json_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], prices: tuple[Any, Any]
) -> None:
    """A price written as a string or a boolean was read by float(): "10" as 10 and true as $1
    per 1M tokens, silently (the sim's config refuses both)."""
    table, _ = _hand_table(tmp_path, 1.0)
    models = tmp_path / "m.json"
    models.write_text(json.dumps([
        {"id": BIG, "price_in_per_mtok": prices[0], "price_out_per_mtok": prices[1]},
        {"id": SMALL, "price_in_per_mtok": 1, "price_out_per_mtok": 1},
    ]))  # fmt: skip
    assert replay_cli.main([str(table), "--models", str(models), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("arbiter replay: "), err
    assert "models[0]" in err[0] and "prices" in err[0], err[0]


@pytest.mark.parametrize("names", [("a/strong", "z/weak"), ("z/strong", "a/weak")])
def test_free_models_make_the_better_one_the_baseline_whatever_their_names(
    tmp_path: Path, names: tuple[str, str]
) -> None:
    """Two self-hosted models priced 0 (an outsider's "missing prices"): the baseline was the
    last by name, so with the weaker model named last every PGR was null and the note said "the
    cheapest model has the higher mean quality" (both cost $0); with the names swapped the same
    table had an APGR. The strong end is now the better model either way: the call axis is
    defined, the dollar axis null (no cost to share)."""
    strong, weak = names
    rows = []
    for i in range(40):
        rows.append({
            "id": f"f{i}", "messages": [{"role": "user", "content": f"question {i}"}],
            "outcomes": {strong: {"quality": 1.0, "response": LONG},
                         weak: {"quality": float(i % 2), "response": LONG}},
        })  # fmt: skip
    table = tmp_path / "free.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows))
    models = tmp_path / "m.json"
    models.write_text(json.dumps([{"id": m, "price_in_per_mtok": 0, "price_out_per_mtok": 0}
                                  for m in (weak, strong)]))  # fmt: skip
    out = tmp_path / "out.json"
    argv = [str(table), "--models", str(models), "--sweep", "--knobs", "0.5,0.9", "--no-progress",
            "--difficulty", "none", "--no-controls", "--out", str(out)]  # fmt: skip
    assert replay_cli.main(argv) == 0
    doc = json.loads(out.read_text())
    assert doc["baseline_model"] == strong
    assert doc["baselines"]["always_cheapest"]["model"] == weak
    assert doc["apgr"] is not None and doc["cpt50"] is not None
    assert doc["apgr_cost"] is None and doc["aiq"] is None  # no dollars to share or integrate
    assert any(
        n.startswith("apgr_cost, cpt50_cost_pct, cpt80_cost_pct: null") for n in doc["notes"]
    )


def test_each_recorded_answer_is_auto_graded_once_per_replay_not_once_per_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sidecar feedback grades the returned answer as the sidecar would; the grade reads only the
    row's task, prompt and answer text, the same in every run of a sweep and in its shuffled
    control. It was recomputed in every run: on 300 rows of 40-120 KB prompts the code grader
    (lowercasing and scanning the prompt) was 85% of math.toml's sweep. Now once per answer, and
    the report is the same."""
    from arbiter import grading

    table, models = _hand_table(tmp_path, 1.0)
    calls: list[tuple[str, str]] = []
    real = grading.grade_answer

    def counted(**kw: Any) -> Any:
        calls.append((kw["prompt"], kw["content"]))
        return real(**kw)

    out = tmp_path / "out.json"
    argv = [str(table), "--models", str(models), "--sweep", "--knobs", "0.3,0.6,0.9,1.0",
            "--no-progress", "--difficulty", "none", "--out", str(out)]  # fmt: skip
    assert replay_cli.main(argv) == 0
    before = out.read_bytes()
    monkeypatch.setattr(grading, "grade_answer", counted)
    assert replay_cli.main(argv) == 0
    assert out.read_bytes() == before
    # at most one grade per answer (rows x models); before, one per answer per run (9 runs)
    assert 0 < len(calls) <= 20 * 2, len(calls)
