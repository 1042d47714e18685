"""The timeseries' `learning` series: Arbiter's own calls to learn (shadow calls of challengers,
latency probes, LLM judge calls: records.LEARNING_MODES) per time bucket, each mode on its line,
as /arbiter/stats' `learning` block counts them over all history.

Read from `rollups_learning` (migration 0058; rollup.plan() keeps it in the writer's
transaction): per-minute rows (span 60) and per-hour rows (span 3600), so a long range in whole
hours reads the hourly rows, as the tenants' own series does. Pure SQL text and row shaping; the
store runs the queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from arbiter.records import LEARNING_MODES
from arbiter.store.rollup import HOUR

_COLS = ("requests", "failed", "cost_usd", "latency_ms_sum", "grade_sum", "graded")


def queries(
    *, tenant: str | None, model: str | None, task: str | None, bucket: int, start: int, until: int
) -> list[tuple[str, list[Any]]]:
    """(SQL, params) whose (bucket start, mode, *_COLS) rows, summed per bucket and mode, are
    the learning series for [start, until): whole hours from the hourly rows when the bucket is
    whole hours, the rest (or everything) from the per-minute rows (rollup.timeseries_queries'
    split)."""
    filters = [(c, v) for c, v in (("tenant", tenant), ("model", model), ("task", task))]
    conds = [f"{c} = %s" for c, v in filters if v is not None]
    values: list[Any] = [v for _, v in filters if v is not None]
    split = until // HOUR * HOUR if bucket % HOUR == 0 else start
    sums = ", ".join(f"SUM(CAST({c} AS DOUBLE PRECISION))" for c in _COLS)
    out: list[tuple[str, list[Any]]] = []
    for lo, hi, span in ((start, split, HOUR), (max(start, split), until, 60)):
        if lo >= hi:
            continue
        where = " AND ".join([f"span = {span}", "start >= %s", "start < %s", *conds])
        sql = (
            f"SELECT (start / %s) * %s AS b, mode, {sums} FROM rollups_learning "
            f"WHERE {where} GROUP BY b, mode"
        )
        out.append((sql, [bucket, bucket, lo, hi, *values]))
    return out


def points(parts: Iterable[Sequence[Sequence[Any]]]) -> list[dict[str, Any]]:
    """The series' points, oldest first, from every query's rows: per bucket that saw a learning
    call or its grade, the calls and their cost in all and `by_mode` (every learning mode, zeros
    where none, as stats' block)."""
    acc: dict[int, dict[str, list[float]]] = {}
    for rows in parts:
        for b, mode, *sums in rows:
            line = acc.setdefault(int(b), {}).setdefault(str(mode), [0.0] * len(_COLS))
            for i, v in enumerate(sums):
                line[i] += float(v or 0)
    for lines in acc.values():  # counts: whole numbers (float sums of them are exact)
        for line in lines.values():
            line[0], line[1], line[5] = round(line[0]), round(line[1]), round(line[5])
    # a rewritten call moved out of a bucket leaves its row there at zero: no point
    return [_point(b, acc[b]) for b in sorted(acc) if any(v[0] or v[5] for v in acc[b].values())]


def _point(ts: int, lines: dict[str, list[float]]) -> dict[str, Any]:
    by_mode = {mode: _line(lines.get(mode, [0.0] * len(_COLS))) for mode in LEARNING_MODES}
    return {
        "ts": ts,
        "requests": sum(v["requests"] for v in by_mode.values()),
        "failed": sum(v["failed"] for v in by_mode.values()),
        "cost_usd": sum(v["cost_usd"] for v in by_mode.values()),
        "by_mode": by_mode,
    }


def _line(v: Sequence[float]) -> dict[str, Any]:
    requests, failed, cost, latency, grade_sum, graded = v
    n, g = int(requests), int(graded)
    return {
        "requests": n,
        "failed": int(failed),
        "cost_usd": cost,
        "graded": g,
        "mean_grade": grade_sum / g if g else None,
        "mean_latency_ms": latency / n if n else None,
    }
