"""Export decisions (with their effective grade) as CSV or JSON Lines, oldest first.

Reads only through the `Store` protocol, page by page, so memory stays flat for any size.
"""

from __future__ import annotations

import csv
import logging
from typing import IO, Any, Literal

import orjson

from arbiter.store import Store

log = logging.getLogger(__name__)

ExportFormat = Literal["csv", "jsonl"]

CSV_COLUMNS = (
    "id", "ts", "tenant", "task", "mode", "chosen_model", "reason", "status", "cost_usd",
    "baseline_model", "baseline_cost_usd", "latency_ms", "prompt_tokens", "completion_tokens",
    "stream", "difficulty", "key_id", "error", "cost_source", "grade", "grader", "candidates",
    "attempts",
)  # fmt: skip
_JSON_IN_CSV = frozenset({"candidates", "attempts"})


def _csv_cell(column: str, value: Any) -> Any:
    if value is None:
        return ""
    if column in _JSON_IN_CSV:
        return orjson.dumps(value).decode()
    return value


def export(
    store: Store,
    since: float,
    fmt: ExportFormat,
    out: IO[str],
    *,
    tenant: str | None = None,
) -> int:
    """Write every decision with ts >= since to `out`; return how many were written.

    csv: a header, then one row per decision (candidates/attempts as JSON text, None as empty).
    jsonl: one JSON object per line, the same dicts `Store.decisions` returns.
    """
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"unknown export format {fmt!r}: use csv or jsonl")
    rows = store.iter_decisions(since=since, tenant=tenant)
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
