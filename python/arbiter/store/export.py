"""Export decisions (with their effective grade) as CSV or JSON Lines, oldest first.

Reads only through the `Store` protocol, page by page, so memory stays flat for any size.

Each row carries `billed_usd`, what it added to the caps' spend: its `cost_usd`, except a
cascade's in-request judge (mode `cascade_judge`), an audit copy of a cost the request's own
decision holds (README: the request's cost holds its judge), whose is 0. A sum of `cost_usd`
over every row counted such a judge twice; a sum of `billed_usd` is what the caps spent.
"""

from __future__ import annotations

import csv
import datetime
import logging
import math
import re
import time
from typing import IO, Any, Literal

import orjson

from arbiter.store import Store

log = logging.getLogger(__name__)

ExportFormat = Literal["csv", "jsonl"]

CSV_COLUMNS = (
    "id", "ts", "tenant", "task", "mode", "chosen_model", "reason", "status", "cost_usd",
    "billed_usd",
    "baseline_model", "baseline_cost_usd", "latency_ms", "prompt_tokens", "completion_tokens",
    "stream", "difficulty", "key_id", "error", "cost_source", "grade", "grader", "candidates",
    "attempts",
)  # fmt: skip
_JSON_IN_CSV = frozenset({"candidates", "attempts"})
# A text cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (`=HYPERLINK(...)` leaks a row on a click): such cells get a leading apostrophe (OWASP's CSV
# injection advice), which spreadsheets show as text and drop. Model ids come from upstream
# listings, so no text column is trusted.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A bidi control (U+061C, U+200E-200F, U+202A-202E, U+2066-2069) reorders how a cell reads
# ("abc" + U+202E + "fed" reads "abcdef"), and a zero-width one (U+200B-200D, U+2060, U+FEFF)
# shows nothing ("gpt-4o" + U+200B looks like "gpt-4o"), so a model id or tenant could pass for
# another: in a text cell each is a visible mark naming it (⟨U+202E⟩, as the dashboard shows
# it: ui/text.js); in the JSON columns an escape (\u202e: the same JSON value). jsonl keeps
# every value exact.
_DISGUISING = (
    0x061C, *range(0x200B, 0x2010), *range(0x202A, 0x202F), 0x2060, *range(0x2066, 0x206A),
    0xFEFF,
)  # fmt: skip
_MARKS = {c: f"⟨U+{c:04X}⟩" for c in _DISGUISING}
_ESCAPES = {c: f"\\u{c:04x}" for c in _DISGUISING}


_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# What datetime can represent (years 1..9999): every time a store keeps as a 64-bit integer
# minute or a double, so no parsed time overflows a query.
MIN_TIME = datetime.datetime.min.replace(tzinfo=datetime.UTC).timestamp()
MAX_TIME = datetime.datetime.max.replace(tzinfo=datetime.UTC).timestamp()


def parse_time(text: str, *, now: float | None = None) -> float:
    """Unix seconds (`1793491200`), an ISO-8601 date or date-time (`2026-11-01`,
    `2026-11-01T12:00:00+01:00`; naive means UTC), or an age before `now` (`90m`, `24h`, `7d`).
    Raises ValueError, also for a time outside years 1..9999."""
    value = _parse_time(text.strip(), now)
    if not (math.isfinite(value) and MIN_TIME <= value <= MAX_TIME):
        raise ValueError(f"time out of range (years 1..9999): {text!r}")
    return value


def _parse_time(text: str, now: float | None) -> float:
    age = _AGE.fullmatch(text)
    if age:
        return (time.time() if now is None else now) - float(age[1]) * _UNIT_S[age[2]]
    try:
        return float(text)
    except ValueError:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        return parsed.timestamp()


# modes whose decision copies, for audit, a cost another decision holds (records.DecisionMode)
AUDIT_COPY_MODES = frozenset({"cascade_judge"})


def billed_usd(decision: dict[str, Any]) -> float:
    """What `decision` added to the caps' spend (module docstring)."""
    return 0.0 if decision.get("mode") in AUDIT_COPY_MODES else float(decision["cost_usd"])


def with_billed(decision: dict[str, Any]) -> dict[str, Any]:
    """`decision` with its `billed_usd` (the feed's and the export's rows carry it alike)."""
    decision["billed_usd"] = billed_usd(decision)
    return decision


def _csv_cell(column: str, value: Any) -> Any:
    if value is None:
        return ""
    if column in _JSON_IN_CSV:
        return orjson.dumps(value).decode().translate(_ESCAPES)
    if not isinstance(value, str):
        return value
    value = value.translate(_MARKS)  # first: a marked control ahead of "=" is no formula
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def export(
    store: Store,
    since: float,
    fmt: ExportFormat,
    out: IO[str],
    *,
    tenant: str | None = None,
) -> int:
    """Write every decision with ts >= since to `out`; return how many were written.

    csv: a header, then one row per decision (candidates/attempts as JSON text, None as empty,
    a text cell a spreadsheet would read as a formula behind an apostrophe, bidi and
    zero-width controls marked).
    jsonl: one JSON object per line, the same dicts `Store.decisions` returns.
    Both: each row's `billed_usd` too (module docstring).
    """
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"unknown export format {fmt!r}: use csv or jsonl")
    rows = map(with_billed, store.iter_decisions(since=since, tenant=tenant))
    n = 0
    if fmt == "jsonl":
        for item in rows:
            out.write(orjson.dumps(item).decode())
            out.write("\n")
            n += 1
    else:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for item in rows:
            writer.writerow([_csv_cell(c, item.get(c)) for c in CSV_COLUMNS])
            n += 1
    log.info("exported %d decisions since %s as %s", n, since, fmt)
    return n
