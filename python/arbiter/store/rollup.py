"""Rollups: what a write adds to the per-minute, per-hour, all-tenant and all-time sums.

Pure functions, no driver. Every column is a sum (latency as a fixed-bucket histogram), so rows
written by several replicas merge by addition and percentiles can be read across any of them.
A write's contribution is computed as (state after) - (state before) per decision, so re-writing a
decision, a late grade of higher precedence, or a grade that arrives before its decision all land
exactly once, in the decision's minute.

Levels (migrations 0002 and 0016), all maintained in the writer's transaction, so there is no
not-yet-rolled tail to add at read time:
  rollups         (tenant, model, task, minute)  timeseries with filters, buckets < 1 h
  rollups_hour    (tenant, model, task, hour)    timeseries with filters, buckets of whole hours
  rollups_global  (span 60|3600, start)          timeseries of every tenant, no model/task filter
  rollup_totals   (tenant, model, task, mode)    stats and cache stats: all history, never pruned
  rollups_learning (span 60|3600, start, tenant, model, task, mode)  the learning series (0058)
The time-keyed levels count a grade whose decision is unknown in the grade's own minute; the
totals count only decisions (and their best grade), exactly like a scan of the raw tables.
The time-keyed levels leave out Arbiter's learning calls (records.LEARNING_MODES: shadow, latency
probe, judge; migration 0057 took them out of the rows written before), so a time series counts
what stats counts as a tenant's requests; the totals keep them, under their mode, and
rollups_learning counts them per minute and per hour under their mode (migration 0058: the
timeseries' `learning` series, as stats' `learning` block). A cascade's in-request judge
(records.IN_REQUEST_MODES) is in neither: its cost is in the request's own decision.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from arbiter.records import LEARNING_MODES, NOT_OWN_MODES

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
# The totals (keyed by mode too) also split cache hits by kind, and sum the answered (status ok)
# requests apart: the cost/quality view (/arbiter/pareto) counts only those.
CACHE_COLS = ("cache_exact_hits", "cache_exact_saved_usd", "cache_semantic_hits",
              "cache_semantic_saved_usd")  # fmt: skip
OK_COLS = ("ok_requests", "ok_cost_usd", "ok_graded", "ok_grade_sum")
TOTAL_COLS = (*SUM_COLS, *CACHE_COLS, *OK_COLS)
_KEY_COLS = ("tenant", "model", "task", "minute")
HOUR = 3600

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
    """The columns of a decision a rollup depends on (from a row to write or a stored one)."""

    ts: float
    tenant: str
    task: str
    model: str
    failed: bool
    cost: float
    baseline: float
    latency_ms: float
    cache_kind: str | None = None
    cache_saved: float = 0.0
    mode: str = "routed"


@dataclass(frozen=True, slots=True)
class GradeFacts:
    precedence: int
    score: float
    ts: float
    tenant: str
    task: str
    model: str


Sparse = list[tuple[int, float]]  # (index in TOTAL_COLS, value): a contribution's non-zeros
_N_SUM = len(SUM_COLS)


def _contribution(
    d: DecisionFacts | None, grades: Mapping[str, GradeFacts]
) -> tuple[Key, Sparse] | None:
    """The decision's (or orphan grade's) key and its non-zero TOTAL_COLS entries."""
    best = max(grades.values(), key=lambda g: g.precedence, default=None)
    vec: Sparse = [(5, best.score), (6, 1.0)] if best is not None else []
    if d is not None:
        vec += [(0, 1.0), (1, float(d.failed)), (2, d.cost), (3, d.baseline),
                (4, d.latency_ms), (7 + bucket_of(d.latency_ms), 1.0)]  # fmt: skip
        if d.cache_kind in ("exact", "semantic"):
            at = _N_SUM + (0 if d.cache_kind == "exact" else 2)
            vec += [(at, 1.0), (at + 1, d.cache_saved)]
        if not d.failed:
            at = _N_SUM + len(CACHE_COLS)
            vec += [(at, 1.0), (at + 1, d.cost)]
            if best is not None:
                vec += [(at + 2, 1.0), (at + 3, best.score)]
        return (d.tenant, d.model, d.task, minute_of(d.ts)), vec
    if best is None:
        return None
    # a grade whose decision is unknown (not written yet, or pruned): counted in its own minute
    return (best.tenant, best.model, best.task, minute_of(best.ts)), vec


@dataclass(frozen=True, slots=True)
class Upserts:
    """Rows to add to each level (key columns + sums), each in a fixed order (for row locks)."""

    minute: list[tuple[Any, ...]]  # (tenant, model, task, minute, *SUM_COLS)
    hour: list[tuple[Any, ...]]  # (tenant, model, task, hour, *SUM_COLS)
    global_: list[tuple[Any, ...]]  # (span, start, *SUM_COLS)
    totals: list[tuple[Any, ...]]  # (tenant, model, task, mode, *TOTAL_COLS)
    # (span, start, tenant, model, task, mode, *SUM_COLS): learning calls per minute and hour
    learning: list[tuple[Any, ...]] = field(default_factory=list)


def plan(
    decisions: Sequence[tuple[str, DecisionFacts]],
    grades: Sequence[tuple[str, str, GradeFacts]],
    old_decisions: Mapping[str, DecisionFacts],
    old_grades: Mapping[str, Mapping[str, GradeFacts]],
) -> Upserts:
    """What a write adds to every rollup level; rows that add nothing are left out.
    `decisions`: (id, facts); `grades`: (decision id, grader, facts), in the batch's order."""
    new_d: dict[str, DecisionFacts] = dict(old_decisions)
    for ident, facts in decisions:  # the last record of an id wins, as in the upsert
        new_d[ident] = facts
    new_g: dict[str, dict[str, GradeFacts]] = {k: dict(v) for k, v in old_grades.items()}
    for decision_id, grader, gf in grades:
        cur = new_g.setdefault(decision_id, {})
        prev = cur.get(grader)
        if prev is None or gf.ts >= prev.ts:  # same rule as the upsert: the latest ts wins
            cur[grader] = gf
    minute: dict[tuple[Any, ...], dict[int, float]] = {}
    hour: dict[tuple[Any, ...], dict[int, float]] = {}
    glob: dict[tuple[Any, ...], dict[int, float]] = {}
    totals: dict[tuple[Any, ...], dict[int, float]] = {}
    learning: dict[tuple[Any, ...], dict[int, float]] = {}  # (tenant, model, task, minute, mode)
    ids = {ident for ident, _ in decisions} | {g[0] for g in grades}
    for ident in ids:
        for sign, dec, grs in (
            (-1.0, old_decisions.get(ident), old_grades.get(ident, {})),
            (1.0, new_d.get(ident), new_g.get(ident, {})),
        ):
            part = _contribution(dec, grs)
            if part is None:
                continue
            key, vec = part
            # the time levels hold no cache split, and only tenants' own requests (Arbiter's
            # learning calls are not traffic: migration 0057); the totals hold every decision
            # (keyed by mode), as a scan of the raw rows would
            if dec is None or dec.mode not in NOT_OWN_MODES:
                _add(minute, key, [(i, v) for i, v in vec if i < _N_SUM], sign)
            elif dec.mode in LEARNING_MODES:
                _add(learning, (*key, dec.mode), [(i, v) for i, v in vec if i < _N_SUM], sign)
            if dec is not None:
                _add(totals, (*key[:3], dec.mode), vec, sign)
    for (tenant, model, task, m), sparse in minute.items():  # a batch has few minutes
        h = m // HOUR * HOUR
        items = list(sparse.items())
        _add(hour, (tenant, model, task, h), items, 1.0)
        _add(glob, (60, m), items, 1.0)
        _add(glob, (HOUR, h), items, 1.0)
    spans: dict[tuple[Any, ...], dict[int, float]] = {}
    for (tenant, model, task, m, mode), sparse in learning.items():
        items = list(sparse.items())
        _add(spans, (60, m, tenant, model, task, mode), items, 1.0)
        _add(spans, (HOUR, m // HOUR * HOUR, tenant, model, task, mode), items, 1.0)
    return Upserts(_rows(minute, _N_SUM), _rows(hour, _N_SUM), _rows(glob, _N_SUM),
                   _rows(totals, len(TOTAL_COLS)), _rows(spans, _N_SUM))  # fmt: skip


def _add(acc: dict[tuple[Any, ...], dict[int, float]], key: tuple[Any, ...], vec: Sparse,
         sign: float) -> None:  # fmt: skip
    row = acc.get(key)
    if row is None:
        row = acc[key] = {}
    for i, v in vec:
        row[i] = row.get(i, 0.0) + sign * v


def _rows(acc: Mapping[tuple[Any, ...], Mapping[int, float]], width: int) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for key, sparse in sorted(acc.items(), key=lambda kv: repr(kv[0])):  # a total order, for locks
        if any(abs(v) > 1e-15 for v in sparse.values()):
            vec: list[float | int] = [0] * width
            for i, v in sparse.items():
                vec[i] = round(v) if i in _INT_IDX else v
            out.append((*key, *vec))
    return out


_INT_IDX = frozenset(
    TOTAL_COLS.index(c)
    for c in ("requests", "failed", "graded", *HIST_COLS, "cache_exact_hits",
              "cache_semantic_hits", "ok_requests", "ok_graded")
)  # fmt: skip


# table -> (key columns, conflict target, sum columns)
LEVELS: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "rollups": (_KEY_COLS, "tenant, minute, model, task", SUM_COLS),
    "rollups_hour": (("tenant", "model", "task", "hour"), "tenant, hour, model, task", SUM_COLS),
    "rollups_global": (("span", "start"), "span, start", SUM_COLS),
    "rollup_totals": (
        ("tenant", "model", "task", "mode"),
        "tenant, model, task, mode",
        TOTAL_COLS,
    ),
    "rollups_learning": (
        ("span", "start", "tenant", "model", "task", "mode"),
        "span, start, tenant, model, task, mode",
        SUM_COLS,
    ),
}


def upsert_sql(table: str = "rollups") -> str:
    keys, conflict, sums = LEVELS[table]
    cols = (*keys, *sums)
    sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in sums)
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
        f"ON CONFLICT ({conflict}) DO UPDATE SET {sets}"
    )


def timeseries_queries(
    *, tenant: str | None, model: str | None, task: str | None, bucket: int, start: int, until: int
) -> list[tuple[str, list[Any]]]:
    """(SQL, params) whose (bucket start, *SUM_COLS) rows, summed per bucket, are the series for
    [start, until): whole hours from an hourly level when the bucket is whole hours, the rest
    (or everything) from a per-minute level; the all-tenant level when nothing is filtered."""
    filters = [(c, v) for c, v in (("tenant", tenant), ("model", model), ("task", task))]
    conds = [f"{c} = %s" for c, v in filters if v is not None]
    values: list[Any] = [v for _, v in filters if v is not None]
    whole = not conds
    split = until // HOUR * HOUR if bucket % HOUR == 0 else start
    out: list[tuple[str, list[Any]]] = []
    for lo, hi, hourly in ((start, split, True), (max(start, split), until, False)):
        if lo >= hi:
            continue
        if whole:
            table, col, where = "rollups_global", "start", [f"span = {HOUR if hourly else 60}"]
        elif hourly:
            table, col, where = "rollups_hour", "hour", []
        else:
            table, col, where = "rollups", "minute", []
        where += [f"{col} >= %s", f"{col} < %s", *conds]
        if whole and bucket == (HOUR if hourly else 60):
            # one all-tenant row per bucket: the rows are the points, nothing to add up (the
            # 24 h per-minute series: 1,440 rows a GROUP BY of 25 sums took ~2x as long to serve)
            cols = ", ".join(f"CAST({c} AS DOUBLE PRECISION)" for c in SUM_COLS)
            sql = f"SELECT {col} AS b, {cols} FROM {table} WHERE {' AND '.join(where)}"
            out.append((sql, [lo, hi]))
            continue
        # float sums of floats: PostgreSQL's SUM(bigint) is a NUMERIC, slow to add and to read
        sums = ", ".join(f"SUM(CAST({c} AS DOUBLE PRECISION))" for c in SUM_COLS)
        sql = (
            f"SELECT ({col} / %s) * %s AS b, {sums} FROM {table} "
            f"WHERE {' AND '.join(where)} GROUP BY b"
        )
        out.append((sql, [bucket, bucket, lo, hi, *([] if whole else values)]))
    return out


def percentile(hist: Sequence[float], q: float) -> float | None:
    """Approximate q-quantile (0..1) of a latency histogram: linear within a bucket."""
    return _quantiles(hist, (q,))[0]


_EDGES = tuple(float(e) for e in LATENCY_EDGES_MS)
_LOWS = (0.0, *_EDGES[:-1])
_POINT_QS = (0.50, 0.95, 0.99)


def _quantiles(hist: Sequence[float], qs: Sequence[float]) -> list[float | None]:
    """percentile() of each q (ascending): the bucket holding q of the total, found by bisection
    on the running sums (a point of a 1,440-point series takes three bisections, not a loop)."""
    total = sum(hist)
    if total <= 0:
        return [None] * len(qs)
    cum = list(accumulate(hist))
    out: list[float | None] = []
    for q in qs:
        want = q * total
        i = bisect_left(cum, want)  # the first bucket whose running sum reaches it (count > 0)
        if i >= N_BUCKETS - 1:
            out.append(_EDGES[-1])
            continue
        seen, lo = (cum[i - 1] if i else 0.0), _LOWS[i]
        out.append(lo + (_EDGES[i] - lo) * max(0.0, want - seen) / hist[i])
    return out


_H0 = SUM_COLS.index("h00")


def point(row: Sequence[Any]) -> dict[str, Any]:
    """One timeseries point from a (bucket start, *SUM_COLS) row."""
    v = [float(x or 0) for x in row[1:]]
    requests, failed, cost, baseline, latency, grade_sum, graded_f = v[:_H0]
    requests_n, graded = int(requests), int(graded_f)
    p50, p95, p99 = _quantiles(v[_H0:], _POINT_QS)
    return {
        "ts": int(row[0]),
        "requests": requests_n,
        "failed": int(failed),
        "error_rate": failed / requests if requests_n else 0.0,
        "cost_usd": cost,
        "baseline_cost_usd": baseline,
        "savings_usd": baseline - cost,
        "mean_grade": grade_sum / graded if graded else None,
        "graded": graded,
        "mean_latency_ms": latency / requests if requests_n else None,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
    }
