"""The store's summary reads: `/arbiter/stats`, the cost/quality view, tenants and the time
series, all from the rollup tables (rollup.py), never from raw decisions, so they stay fast at
any history size. Mixed into SqlStore."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from arbiter.records import LEARNING_MODES, NOT_OWN_MODES
from arbiter.store import learning_series, rollup
from arbiter.store._hooks import StoreHooks
from arbiter.timeseries_bucket import series_grid

if TYPE_CHECKING:
    from arbiter.store._sql import Cursor


@dataclass(frozen=True, slots=True)
class _Group:
    model: str
    task: str
    requests: int
    failed: int
    cost: float
    baseline: float
    latency: float
    graded: int
    grade_sum: float


def _summary(groups: Sequence[_Group]) -> dict[str, Any]:
    requests = sum(g.requests for g in groups)
    cost = sum(g.cost for g in groups)
    baseline = sum(g.baseline for g in groups)
    graded = sum(g.graded for g in groups)
    grade_sum = sum(g.grade_sum for g in groups)
    return {
        "requests": requests,
        "failed": sum(g.failed for g in groups),
        "cost_usd": cost,
        "baseline_cost_usd": baseline,
        "savings_usd": baseline - cost,
        "savings_pct": 100.0 * (baseline - cost) / baseline if baseline > 0 else 0.0,
        "mean_grade": grade_sum / graded if graded else None,
        "graded": graded,
        "mean_latency_ms": sum(g.latency for g in groups) / requests if requests else None,
    }


_LEARNING_SQL = ", ".join(f"'{m}'" for m in LEARNING_MODES)  # literals from records.py
_NOT_OWN_SQL = ", ".join(f"'{m}'" for m in NOT_OWN_MODES)


def _learning(spent: dict[str, tuple[int, int, float]]) -> dict[str, Any]:
    """What Arbiter's own calls to learn cost: shadow calls of challengers, latency probes and
    LLM judge calls, each mode on its line (zeros where none), and the sum."""
    by_mode = {
        mode: {"requests": n, "failed": failed, "cost_usd": cost}
        for mode in LEARNING_MODES
        for n, failed, cost in (spent.get(mode, (0, 0, 0.0)),)
    }
    return {
        "requests": sum(v["requests"] for v in by_mode.values()),
        "cost_usd": sum(v["cost_usd"] for v in by_mode.values()),
        "by_mode": by_mode,
    }


def _by(groups: Sequence[_Group], key: Literal["model", "task"]) -> dict[str, dict[str, Any]]:
    split: dict[str, list[_Group]] = {}
    for g in groups:
        split.setdefault(getattr(g, key), []).append(g)
    return {k: _summary(v) for k, v in sorted(split.items())}


class SummaryReadsMixin(StoreHooks):
    """Mixed into SqlStore; uses its `_ro` and `_sql` hooks."""

    def _numeric_rows(self, cur: Cursor, sql: str, params: Sequence[Any]) -> list[Any]:
        """Every row of a query whose columns are all numbers (a backend may fetch them faster)."""
        cur.execute(sql, params)
        return cur.fetchall()

    def stats(self, *, tenant: str | None) -> dict[str, Any]:
        """All recorded history (the totals rollup, kept when retention drops raw rows): the
        tenants' own requests (routed, passthrough, cache hits) in the top-level figures, and
        what Arbiter's learning calls (shadow, latency probe, judge) cost under `learning`."""
        conds, params = tenant_conds(tenant=tenant)
        own = " AND ".join([f"mode NOT IN ({_NOT_OWN_SQL})", *conds])
        sql = (
            "SELECT model, task, SUM(requests), SUM(failed), SUM(cost_usd), "
            "SUM(baseline_cost_usd), SUM(latency_ms_sum), SUM(graded), SUM(grade_sum) "
            f"FROM rollup_totals WHERE {own} GROUP BY model, task HAVING SUM(requests) > 0 "
            "ORDER BY 1, 2"
        )
        learning_sql = (
            "SELECT mode, SUM(requests), SUM(failed), SUM(cost_usd) FROM rollup_totals WHERE "
            f"{' AND '.join([f'mode IN ({_LEARNING_SQL})', *conds])} GROUP BY mode"
        )
        with self._ro() as cur:
            cur.execute(self._sql(sql), params)
            groups = [
                _Group(r[0], r[1], int(r[2]), int(r[3] or 0), float(r[4] or 0.0),
                       float(r[5] or 0.0), float(r[6] or 0.0), int(r[7]), float(r[8] or 0.0))
                for r in cur.fetchall()
            ]  # fmt: skip
            cur.execute(self._sql(learning_sql), params)
            spent = {str(r[0]): (int(r[1] or 0), int(r[2] or 0), float(r[3] or 0.0))
                     for r in cur.fetchall()}  # fmt: skip
        out = _summary(groups)
        out["by_model"] = _by(groups, "model")
        out["by_task"] = _by(groups, "task")
        out["by_model_task"] = [{"model": g.model, "task": g.task, **_summary([g])} for g in groups]
        out["learning"] = _learning(spent)
        return out

    def quality_by_model(self, *, tenant: str | None) -> list[dict[str, Any]]:
        """Answered requests per (task, model, routed or not): count, cost, graded count and
        grade sum (each decision's best grade), for the cost/quality view, over all history
        (the totals rollup). Judge calls are left out: they are the grader's spend, not answers."""
        conds, params = tenant_conds(tenant=tenant)
        where = " AND ".join(["mode NOT IN ('judge', 'cascade_judge')", *conds])
        sql = (
            "SELECT task, model, CASE WHEN mode = 'routed' THEN 1 ELSE 0 END, "
            "SUM(ok_requests), SUM(ok_cost_usd), SUM(ok_graded), SUM(ok_grade_sum) "
            f"FROM rollup_totals WHERE {where} GROUP BY 1, 2, 3 HAVING SUM(ok_requests) > 0 "
            "ORDER BY 1, 2, 3"
        )
        with self._ro() as cur:
            cur.execute(self._sql(sql), params)
            return [
                {"task": r[0], "model": r[1], "routed": bool(r[2]), "requests": int(r[3]),
                 "cost_usd": float(r[4] or 0.0), "graded": int(r[5]),
                 "grade_sum": float(r[6] or 0.0)}
                for r in cur.fetchall()
            ]  # fmt: skip

    def tenants(self) -> list[str]:
        """Every tenant with a decision on record (the totals: a few rows per tenant)."""
        with self._ro() as cur:
            cur.execute("SELECT DISTINCT tenant FROM rollup_totals ORDER BY 1")
            return [str(r[0]) for r in cur.fetchall()]

    def timeseries(
        self,
        *,
        tenant: str | None,
        since: float,
        until: float,
        model: str | None = None,
        task: str | None = None,
        bucket_s: int = 60,
    ) -> list[dict[str, Any]]:
        """Points for [since, until), one per `bucket_s` (a multiple of 60) that saw traffic;
        a bucket too fine for the range is widened to fitted_bucket()'s by series_grid() (at
        most MAX_POINTS points), here and not only in the HTTP handler: a CLI, export or script
        asking `since=0` per minute would otherwise read and build every minute's row."""
        grid = series_grid(since, until, bucket_s)
        queries = rollup.timeseries_queries(
            tenant=tenant, model=model, task=task, bucket=grid.bucket, start=grid.start,
            until=grid.until,
        )  # fmt: skip
        with self._ro() as cur:
            parts = [self._numeric_rows(cur, self._sql(sql), params) for sql, params in queries]
        if len(parts) == 1:  # one level: its rows are the points
            points = [rollup.point(r) for r in sorted(parts[0], key=lambda r: int(r[0]))]
        else:
            acc: dict[int, list[float]] = {}  # whole hours + the last hour's minutes: add up
            for rows in parts:
                for b, *sums in rows:
                    row = acc.setdefault(int(b), [0.0] * len(sums))
                    for i, v in enumerate(sums):
                        row[i] += float(v or 0)
            points = [rollup.point((b, *acc[b])) for b in sorted(acc)]
        # a decision rewritten into another minute (or one whose grades moved with it) leaves
        # its old rows at zero: no request and no grade there is an empty bucket, never a point
        return [p for p in points if p["requests"] or p["graded"]]

    def learning_timeseries(
        self,
        *,
        tenant: str | None,
        since: float,
        until: float,
        model: str | None = None,
        task: str | None = None,
        bucket_s: int = 60,
    ) -> list[dict[str, Any]]:
        """Arbiter's learning calls per bucket (learning_series.py), on the grid `timeseries`
        answers in for the same arguments (the same fitted bucket, so the two series line up)."""
        grid = series_grid(since, until, bucket_s)
        queries = learning_series.queries(
            tenant=tenant, model=model, task=task, bucket=grid.bucket, start=grid.start,
            until=grid.until,
        )  # fmt: skip
        with self._ro() as cur:
            parts = []
            for sql, params in queries:
                cur.execute(self._sql(sql), params)
                parts.append(cur.fetchall())
        return learning_series.points(parts)


def tenant_conds(*, tenant: str | None, prefix: str = "") -> tuple[list[str], list[Any]]:
    if tenant is None:
        return [], []
    return [f"{prefix}tenant = %s"], [tenant]
