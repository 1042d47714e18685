"""Per-minute rollups: what a write adds to the (tenant, model, task, minute) sums, and percentiles.

Pure functions, no driver. Every column is a sum (latency as a fixed-bucket histogram), so rows
written by several replicas merge by addition and percentiles can be read across any of them.
A write's contribution is computed as (state after) - (state before) per decision, so re-writing a
decision, a late grade of higher precedence, or a grade that arrives before its decision all land
exactly once, in the decision's minute.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from arbiter.records import DecisionRecord, GradeRecord, precedence

# Upper edges (ms) of the latency buckets; the last bucket is [60000, inf).
LATENCY_EDGES_MS: tuple[float, ...] = (
    25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000, 20000, 30000,
    60000,
)  # fmt: skip
N_BUCKETS = len(LATENCY_EDGES_MS) + 1
HIST_COLS = tuple(f"h{i:02d}" for i in range(N_BUCKETS))
# Vector layout of one contribution / one rollup row, after the key columns.
SUM_COLS = ("requests", "failed", "cost_usd", "baseline_cost_usd", "latency_ms_sum", "grade_sum",
            "graded", *HIST_COLS)  # fmt: skip
_KEY_COLS = ("tenant", "model", "task", "minute")

Key = tuple[str, str, str, int]  # (tenant, model, task, minute)


def bucket_of(latency_ms: float) -> int:
    for i, edge in enumerate(LATENCY_EDGES_MS):
        if latency_ms < edge:
            return i
    return N_BUCKETS - 1


def minute_of(ts: float) -> int:
    return int(ts // 60) * 60


@dataclass(frozen=True, slots=True)
class DecisionFacts:
    """The columns of a decision a rollup depends on (from a record or a stored row)."""

    ts: float
    tenant: str
    task: str
    model: str
    failed: bool
    cost: float
    baseline: float
    latency_ms: float

    @staticmethod
    def of(d: DecisionRecord) -> DecisionFacts:
        return DecisionFacts(d.ts, d.tenant, d.task, d.chosen_model, d.status == "failed",
                             d.cost_usd, d.baseline_cost_usd, d.latency_ms)  # fmt: skip


@dataclass(frozen=True, slots=True)
class GradeFacts:
    precedence: int
    score: float
    ts: float
    tenant: str
    task: str
    model: str

    @staticmethod
    def of(g: GradeRecord) -> GradeFacts:
        return GradeFacts(precedence(g.grader), g.score, g.ts, g.tenant, g.task, g.model)


def _contribution(
    d: DecisionFacts | None, grades: Mapping[str, GradeFacts]
) -> tuple[Key, list[float]] | None:
    best = max(grades.values(), key=lambda g: g.precedence, default=None)
    vec = [0.0] * len(SUM_COLS)
    if best is not None:
        vec[5], vec[6] = best.score, 1.0
    if d is not None:
        vec[0], vec[1], vec[2], vec[3], vec[4] = (
            1.0,
            float(d.failed),
            d.cost,
            d.baseline,
            d.latency_ms,
        )
        vec[7 + bucket_of(d.latency_ms)] = 1.0
        return (d.tenant, d.model, d.task, minute_of(d.ts)), vec
    if best is None:
        return None
    # a grade whose decision is unknown (not written yet, or pruned): counted in its own minute
    return (best.tenant, best.model, best.task, minute_of(best.ts)), vec


def plan(
    decisions: Sequence[DecisionRecord],
    grades: Sequence[GradeRecord],
    old_decisions: Mapping[str, DecisionFacts],
    old_grades: Mapping[str, Mapping[str, GradeFacts]],
) -> list[tuple[Any, ...]]:
    """Rollup rows to add (key columns + SUM_COLS) in a fixed order, zero rows left out."""
    new_d: dict[str, DecisionFacts] = dict(old_decisions)
    for d in decisions:  # the last record of an id wins, as in the upsert
        new_d[d.id] = DecisionFacts.of(d)
    new_g: dict[str, dict[str, GradeFacts]] = {k: dict(v) for k, v in old_grades.items()}
    for g in grades:
        cur = new_g.setdefault(g.decision_id, {})
        prev = cur.get(g.grader)
        if prev is None or g.ts >= prev.ts:  # same rule as the upsert: the latest ts wins
            cur[g.grader] = GradeFacts.of(g)
    acc: dict[Key, list[float]] = {}
    ids = {d.id for d in decisions} | {g.decision_id for g in grades}
    for ident in ids:
        for sign, part in (
            (-1.0, _contribution(old_decisions.get(ident), old_grades.get(ident, {}))),
            (1.0, _contribution(new_d.get(ident), new_g.get(ident, {}))),
        ):
            if part is None:
                continue
            key, vec = part
            row = acc.setdefault(key, [0.0] * len(SUM_COLS))
            for i, v in enumerate(vec):
                row[i] += sign * v
    out: list[tuple[Any, ...]] = []
    for key, vec in sorted(acc.items(), key=lambda kv: repr(kv[0])):  # a total order, for locks
        if any(abs(v) > 1e-15 for v in vec):
            counts = [round(v) if i in _INT_IDX else v for i, v in enumerate(vec)]
            out.append((*key, *counts))
    return out


_INT_IDX = frozenset({0, 1, 6, *range(7, 7 + N_BUCKETS)})


def upsert_sql() -> str:
    cols = (*_KEY_COLS, *SUM_COLS)
    sets = ", ".join(f"{c} = rollups.{c} + excluded.{c}" for c in SUM_COLS)
    return (
        f"INSERT INTO rollups ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
        f"ON CONFLICT (tenant, minute, model, task) DO UPDATE SET {sets}"
    )


def timeseries_sql(
    *, tenant: str | None, model: str | None, task: str | None
) -> tuple[str, list[str]]:
    """SQL with placeholders (bucket, bucket, since, until, *filters) and the filter values."""
    conds, params = ["minute >= %s", "minute < %s"], []
    for col, val in (("tenant", tenant), ("model", model), ("task", task)):
        if val is not None:
            conds.append(f"{col} = %s")
            params.append(val)
    sums = ", ".join(f"SUM({c})" for c in SUM_COLS)
    sql = (
        f"SELECT (minute / %s) * %s AS b, {sums} FROM rollups WHERE {' AND '.join(conds)} "
        "GROUP BY b ORDER BY b"
    )
    return sql, params


def percentile(hist: Sequence[float], q: float) -> float | None:
    """Approximate q-quantile (0..1) of a latency histogram: linear within a bucket."""
    total = sum(hist)
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    for i, count in enumerate(hist):
        if count > 0 and seen + count >= rank:
            if i == N_BUCKETS - 1:
                return float(LATENCY_EDGES_MS[-1])
            lo = 0.0 if i == 0 else float(LATENCY_EDGES_MS[i - 1])
            return lo + (float(LATENCY_EDGES_MS[i]) - lo) * max(0.0, rank - seen) / count
        seen += count
    return float(LATENCY_EDGES_MS[-1])


def point(row: Iterable[Any]) -> dict[str, Any]:
    """One timeseries point from a (bucket start, *SUM_COLS) row."""
    b, *sums = row
    v = dict(zip(SUM_COLS, (float(x or 0) for x in sums), strict=True))
    hist = [v[c] for c in HIST_COLS]
    requests, graded = int(v["requests"]), int(v["graded"])
    return {
        "ts": int(b),
        "requests": requests,
        "failed": int(v["failed"]),
        "error_rate": v["failed"] / requests if requests else 0.0,
        "cost_usd": v["cost_usd"],
        "baseline_cost_usd": v["baseline_cost_usd"],
        "savings_usd": v["baseline_cost_usd"] - v["cost_usd"],
        "mean_grade": v["grade_sum"] / graded if graded else None,
        "graded": graded,
        "mean_latency_ms": v["latency_ms_sum"] / requests if requests else None,
        "p50_ms": percentile(hist, 0.50),
        "p95_ms": percentile(hist, 0.95),
        "p99_ms": percentile(hist, 0.99),
    }
