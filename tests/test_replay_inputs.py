"""`arbiter replay` on tables nobody on the team wrote: every shape of issue 17's contract runs
and reports every contract key; every broken table is one line on stderr and exit status 2."""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from arbiter.offline import outcome_table as ot
from arbiter.offline import replay_cli
from tests.replay_shapes import SHAPES, STRONG, TWO, WEAK, row, write_rows, write_shape

CONTRACT = ("apgr", "cpt50", "cpt80", "curve", "aiq", "aiq_hull", "aiq_oracle", "baselines",
            "model_share", "apgr_cost", "cpt50_cost_pct", "cpt80_cost_pct", "curve_cost",
            "feedback", "cpt50_usd", "cpt80_usd", "controls")  # fmt: skip
QUICK = ["--no-progress", "--difficulty", "none", "--sweep", "--knobs", "0.3,0.9,1.0"]


def _replay(table: Path, models: Path, out: Path, *extra: str) -> dict[str, Any]:
    assert replay_cli.main([str(table), "--models", str(models), *QUICK, "--out", str(out),
                            *extra]) == 0  # fmt: skip
    text = out.read_text()
    assert "NaN" not in text and "Infinity" not in text
    doc: dict[str, Any] = json.loads(text)
    missing = [k for k in CONTRACT if k not in doc]
    assert not missing, missing
    return doc


def _refused(capsys: pytest.CaptureFixture[str], table: Path, models: Path, says: str) -> None:
    assert replay_cli.main([str(table), "--models", str(models), *QUICK]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("arbiter replay: "), err
    assert says in err[0], err[0]


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_shape_replays_with_every_contract_key(tmp_path: Path, shape: str) -> None:
    doc = _replay(*write_shape(tmp_path, shape), tmp_path / "out.json")
    assert doc["requests"] == SHAPES[shape][1]
    two = len(SHAPES[shape][0]) == 2
    ends = doc["baselines"]
    gap = ends["always_baseline"]["quality"] > ends["always_cheapest"]["quality"]
    many = doc["requests"] > 1  # one row: every curve is its two ends (null, with a note)
    assert (doc["apgr"] is not None) == (two and gap and many)  # else null, the notes say why
    assert (doc["aiq"] is not None) == many  # the models' prices differ in every shape
    assert bool(doc.get("notes")) == (not two or not gap or not many)


def test_equal_labels_leave_pgr_undefined_everywhere_not_nan(tmp_path: Path) -> None:
    """All labels equal: the quality gap is 0, so PGR (a share of that gap) means nothing. Every
    PGR figure is null, the anchors' included, and `notes` says why; AIQ still holds."""
    doc = _replay(*write_shape(tmp_path, "equal_labels"), tmp_path / "out.json")
    assert all(p["pgr"] is None for p in doc["curve"])
    assert all(p["pgr"] is None for p in doc["curve_cost"])
    assert doc["pgr"] is None and doc["apgr"] is None and doc["apgr_cost"] is None
    assert any("no gap to recover" in n for n in doc["notes"])
    assert doc["aiq"] == pytest.approx(1.0)


def test_an_inverted_gap_leaves_pgr_undefined_not_backwards(tmp_path: Path) -> None:
    """Two of a pool where the dearer model scores lower (two of AlpacaEval's 11 can be): PGR's
    "gap recovered" would read backwards (everything to the cheap model is best, yet scores 0), so
    every PGR figure is null with a note saying why, and AIQ, which has no direction, stays."""
    rows = [row(i, TWO) for i in range(24)]
    for i, r in enumerate(rows):  # the strong model right on a third, the weak one on all
        r["outcomes"][STRONG]["quality"] = float(i % 3 == 0)
        r["outcomes"][WEAK]["quality"] = 1.0
    doc = _replay(*write_rows(tmp_path, rows), tmp_path / "out.json")
    ends = doc["baselines"]
    assert ends["always_cheapest"]["quality"] > ends["always_baseline"]["quality"]
    assert doc["apgr"] is None and doc["cpt80"] is None and doc["apgr_cost"] is None
    assert doc["pgr"] is None and all(p["pgr"] is None for p in doc["curve"])
    assert any("the cheapest model has the higher mean quality" in n for n in doc["notes"])
    assert doc["aiq"] is not None and doc["controls"]["random"]["apgr"] is None


def test_eleven_models_report_null_pgr_keys_and_their_aiq(tmp_path: Path) -> None:
    doc = _replay(*write_shape(tmp_path, "eleven_models"), tmp_path / "out.json")
    assert doc["apgr"] is None and doc["cpt80_cost_pct"] is None and doc["curve_cost"] is None
    assert any("this table has 11" in n for n in doc["notes"])
    assert 0.0 < doc["aiq"] <= 1.0 and len(doc["models"]) == 11


def test_models_file_picks_two_of_eleven(tmp_path: Path) -> None:
    doc = _replay(*write_shape(tmp_path, "eleven_models", [STRONG, WEAK + ":concise"]),
                  tmp_path / "out.json")  # fmt: skip
    assert set(doc["models"]) == {STRONG, WEAK + ":concise"}
    assert doc["apgr"] is not None and "notes" not in doc


def test_a_multi_turn_row_is_routed_on_its_first_turn_and_charged_for_all(tmp_path: Path) -> None:
    table, models = write_shape(tmp_path, "two_turns")
    loaded = ot.load_table(table, ot.load_models(models))
    first = row(0, TWO)
    r = loaded.rows[0]
    assert r.prompt == first["messages"][0]["content"]  # the router sees the first turn
    assert r.prompt_tokens == first["outcomes"][STRONG]["prompt_tokens"]
    o = first["outcomes"][STRONG]
    assert r.outcomes[STRONG].cost_usd == pytest.approx(  # the recorded tokens: both turns
        (o["prompt_tokens"] * 10.0 + o["completion_tokens"] * 30.0) / 1e6
    )
    assert r.outcomes[STRONG].quality in (0.25, 0.75)  # the table's mean over turns, as is


def test_missing_token_counts_are_estimated_by_the_formats_rule(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    table, models = write_shape(tmp_path, "no_token_counts")
    loaded = ot.load_table(table, ot.load_models(models))
    r, raw = loaded.rows[1], row(1, TWO)
    answer = raw["outcomes"][WEAK]["response"]
    assert r.outcomes[WEAK].completion_tokens == math.ceil(len(answer) / 4) > 0
    assert r.prompt_tokens == math.ceil(len(raw["messages"][0]["content"]) / 4)
    assert "96 token counts (prompt_tokens, completion_tokens) missing: estimated" in caplog.text
    rows = [row(i, TWO) for i in range(2)]
    del rows[0]["outcomes"][WEAK]["completion_tokens"]
    rows[0]["outcomes"][WEAK]["response"] = None  # no text recorded (MMLU's letters): 0 tokens
    assert (
        ot.load_table(*_loaded(write_rows(tmp_path, rows))).rows[0].outcomes[WEAK].completion_tokens
        == 0
    )


def test_content_parts_are_prompt_text(tmp_path: Path) -> None:
    parts = [{"type": "text", "text": "How many legs has a spider?"}]
    rows = [row(i, TWO, messages=[{"role": "user", "content": parts}]) for i in range(3)]
    loaded = ot.load_table(*_loaded(write_rows(tmp_path, rows)))
    assert loaded.rows[0].prompt == "How many legs has a spider?"


def _loaded(paths: tuple[Path, Path]) -> tuple[Path, list[ot.ModelSpec]]:
    return paths[0], ot.load_models(paths[1])


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"quality": 7.5}, "rescale scores on another scale first"),  # MT Bench's 1-10 score
        ({"quality": None}, "every outcome needs a quality"),
        ({"quality": -0.1}, "quality must be in [0, 1]"),
        ({"quality": True}, "every outcome needs a quality"),
        ({"completion_tokens": -3}, "a token count is a whole number >= 0"),
        ({"prompt_tokens": 2.5}, "a token count is a whole number >= 0"),
        ({"response": 7}, "response must be a string or null"),
    ],
)
def test_bad_outcomes_are_refused_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], says: str
) -> None:
    rows = [row(i, TWO) for i in range(4)]
    rows[2]["outcomes"][WEAK] |= change
    table, models = write_rows(tmp_path, rows)
    _refused(capsys, table, models, f"{table}:3: outcomes['{WEAK}']")
    _refused(capsys, table, models, says)


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        ([row(0, TWO), row(0, TWO)], "id 'syn-0' is also on line 1"),
        ([row(0, TWO, task=3)], "`task` must be a string or null"),
        ([row(0, TWO, messages="hello")], "`messages` must be a non-empty list"),
        ([row(0, TWO, messages=[{"role": "system", "content": "x"}])], "no user message"),
        ([{k: v for k, v in row(0, TWO).items() if k != "id"}], "`id` must be"),
        ([row(0, TWO, outcomes={})], "`outcomes` must be an object"),
        ([row(i, [STRONG] if i else TWO) for i in range(3)], "two or more priced models"),
        ([row(i, [STRONG]) for i in range(3)], "only 'gpt-4-1106-preview' has them"),
    ],
)
def test_bad_rows_are_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list[dict[str, Any]], says: str
) -> None:
    _refused(capsys, *write_rows(tmp_path, rows), says)


def test_bad_files_are_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, models = write_shape(tmp_path, "plain_jsonl")
    lines = good.read_bytes()
    cases = {
        "empty.jsonl": (b"", "the table is empty"),
        "empty.jsonl.gz": (gzip.compress(b""), "the table is empty"),
        "cut.jsonl.gz": (gzip.compress(lines)[:200], "not a complete gzip file"),
        "latin1.jsonl": (lines.replace(b"Natalia", b"Nat\xe1lia", 1), ":1: not UTF-8"),
        "nan.jsonl": (lines.replace(b'"quality": 1.0', b'"quality": NaN', 1), "NaN and Infinity"),
        "text.jsonl": (b"quality,model\n", ":1: not a JSON object"),
        # a table saved as one JSON array, pretty-printed or on one line: say what it is
        "pretty.json": (json.dumps([row(0, TWO)], indent=2).encode(), ":1: not a JSON object: "),
        "array.json": (json.dumps([row(0, TWO)]).encode(), ":1: a row must be a JSON object"),
    }
    for name, (data, says) in cases.items():
        (tmp_path / name).write_bytes(data)
        _refused(capsys, tmp_path / name, models, says)
        if name.endswith(".json"):
            _refused(capsys, tmp_path / name, models, "this is a JSON array, and tables are JSON")
    _refused(capsys, tmp_path / "absent.jsonl", models, "No such file")


def test_a_model_missing_from_some_rows_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [row(i, [*TWO, "claude-2.1"] if i % 2 else TWO) for i in range(6)]
    table, models = write_rows(tmp_path, rows, [*TWO, "claude-2.1"])
    loaded = ot.load_table(table, ot.load_models(models))
    assert [m.id for m in loaded.models] == TWO
    assert (
        "'claude-2.1' has no outcome on 3 of 6 rows (ids 'syn-0', 'syn-2', 'syn-4')" in caplog.text
    )
    # the report says so too: its figures are of a smaller pool than --models lists
    for extra in ([], ["--no-controls"]):
        doc = _replay(table, models, tmp_path / "out.json", *extra)
        assert doc["models_left_out"] == ["claude-2.1"] and set(doc["models"]) == set(TWO)
        assert any(n.startswith("models_left_out: claude-2.1: ") for n in doc["notes"])
        assert any("--no-controls" in n for n in doc["notes"]) == bool(extra)  # notes add up


def test_a_models_file_must_list_each_model_once_with_real_prices(tmp_path: Path) -> None:
    spec = {"id": STRONG, "price_in_per_mtok": 1, "price_out_per_mtok": 2}
    for models, says in (
        ([spec, spec], "listed twice"),
        ([spec | {"price_in_per_mtok": -1}], "prices must be numbers >= 0"),
        ([spec | {"price_out_per_mtok": "nan"}], "prices must be numbers >= 0"),
    ):
        (tmp_path / "m.json").write_text(json.dumps({"models": models}))
        with pytest.raises(ValueError, match=says):
            ot.load_models(tmp_path / "m.json")


def test_output_paths_are_checked_before_the_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table, models = write_shape(tmp_path, "plain_jsonl")
    for flag in ("--out", "--write-priors"):
        args = [str(table), "--models", str(models), flag, str(tmp_path / "no" / "r.json")]
        assert replay_cli.main(args) == 2
        assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--slope-var", "0"], "--slope-var must be a number > 0"),
        (["--prior-strength", "-1"], "--prior-strength must be a number > 0"),
        (["--cascade", "--cascade-min-tokens", "-3"], "--cascade-min-tokens must be >= 0"),
        (["--difficulty", "/nonexistent/model.onnx"], "--difficulty /nonexistent/model.onnx"),
        (["--sweep-knob", "verifier"], "--sweep-knob needs --routing-config"),
        (["--priors", "LIST"], "not a priors file (expected a JSON object)"),
        (["--priors", "SEVEN"], "every prior is a quality in [0, 1]"),
        (["--priors", "TABLE"], "not a priors file"),
    ],
)
def test_bad_flags_are_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], says: str
) -> None:
    table, models = write_shape(tmp_path, "plain_jsonl")
    (tmp_path / "LIST").write_text("[1, 2]")
    (tmp_path / "SEVEN").write_text(json.dumps({STRONG: {"math": 7}}))
    files = {"LIST": tmp_path / "LIST", "SEVEN": tmp_path / "SEVEN", "TABLE": table}
    args = [str(files.get(f, f)) for f in flags]
    assert replay_cli.main([str(table), "--models", str(models), "--no-progress", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("arbiter replay: ") and says in err[0], err


def test_cli_errors_are_one_line_without_a_traceback(tmp_path: Path) -> None:
    """Through the real entry point: argparse's errors too are one line, and --help points to
    the row format."""
    table, models = write_shape(tmp_path, "plain_jsonl")
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(table.read_bytes())[:100])
    env_cmd = [sys.executable, "-m", "arbiter", "replay"]
    for args in ([str(cut), "--models", str(models)], [str(table), "--models", str(models),
                                                        "--knobs", "a,b", "--sweep"],
                 [str(table)], [str(table), "--models", str(models), "--bogus"]):  # fmt: skip
        p = subprocess.run([*env_cmd, *args], capture_output=True, text=True, timeout=120)
        assert p.returncode == 2, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr, p.stderr
    p = subprocess.run([*env_cmd, "--help"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and '"outcomes"' in p.stdout and "README.md" in p.stdout


def test_the_row_format_helpers_agree_with_the_shared_readme_example() -> None:
    """The README's example row (typed here, not copied from data) parses as documented."""
    example = {"id": "gsm8k-00004", "benchmark": "gsm8k", "task": "math", "subject": None,
               "messages": [{"role": "user", "content": "James decides to run 3 sprints."}],
               "outcomes": {m: {"quality": 1.0, "response": "#### 540", "prompt_tokens": 31,
                                "completion_tokens": 76} for m in TWO},
               "source": {"path": "x.csv", "row": 3}}  # fmt: skip
    parsed, estimated = ot._row(example)
    assert estimated == 0 and parsed.task == "math" and parsed.id == "gsm8k-00004"
    assert parsed.outcomes[STRONG].prompt_tokens == 31


def test_the_via_sidecar_client_reads_the_table_as_the_replay_does(tmp_path: Path) -> None:
    """--via-sidecar sends each row's recorded messages; it read the file with a reader of its
    own, which a BOM (accepted by load_table) broke after the table had loaded."""
    from arbiter.offline.replay_http import table_messages

    table, _ = write_shape(tmp_path, "bom")
    sent = table_messages(table)
    assert len(sent) == SHAPES["bom"][1] and sent["syn-0"] == row(0, TWO)["messages"]


def test_via_sidecar_sends_a_multi_turn_row_as_its_first_turn_and_the_sim_knows_it(
    tmp_path: Path,
) -> None:
    """Issue 17: an MT Bench row is routed on its first turn. --via-sidecar sent every recorded
    message, so the live sidecar routed on the second turn and its history, unlike the
    in-process replay; the sim must still find the row (and its both-turn usage) from turn one."""
    from arbiter.offline.replay_http import table_messages
    from arbiter.offline.sim.outcomes import OutcomeTable

    table, models = write_shape(tmp_path, "two_turns")
    sent = table_messages(table)
    first = row(0, TWO)["messages"]
    assert sent["syn-0"] == first  # the first user turn alone
    sim = OutcomeTable.load(table, models)
    for i in (0, 5):
        recorded = sim.lookup(sent[f"syn-{i}"], STRONG)
        assert recorded is not None and recorded.row_id == f"syn-{i}"
        o = row(i, TWO)["outcomes"][STRONG]
        assert recorded.usage == (o["prompt_tokens"], o["completion_tokens"])
    full = json.loads(table.read_text().splitlines()[0])["messages"]
    assert len(full) == 3 and sim.lookup(full, WEAK) is not None  # whole conversations still match
