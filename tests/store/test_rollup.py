"""Per-minute rollups, time series, retention and export, against every backend."""

from __future__ import annotations

import csv
import io
import math
import random
import threading
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from arbiter.records import GraderKind, Record
from arbiter.store import Store
from arbiter.store.export import CSV_COLUMNS, export
from arbiter.store.rollup import LATENCY_EDGES_MS, N_BUCKETS, bucket_of, minute_of, percentile

from .conftest import decision, grade

T0 = 1_700_000_040.0  # a minute boundary


def _totals(points: list[dict[str, Any]]) -> dict[str, float]:
    keys = ("requests", "failed", "cost_usd", "baseline_cost_usd", "graded")
    out = {k: float(sum(p[k] for p in points)) for k in keys}
    out["grade_sum"] = float(sum((p["mean_grade"] or 0) * p["graded"] for p in points))
    return out


def test_buckets_and_percentiles() -> None:
    assert bucket_of(0) == 0 and bucket_of(24.9) == 0 and bucket_of(25) == 1
    assert bucket_of(1e9) == N_BUCKETS - 1
    assert minute_of(T0 + 59.9) == T0 and minute_of(T0 + 60) == T0 + 60
    hist = [0.0] * N_BUCKETS
    hist[bucket_of(120)] = 100  # all in [100, 200)
    assert percentile(hist, 0.5) == pytest.approx(150.0)
    assert percentile(hist, 0.99) == pytest.approx(199.0)
    hist[-1] = 100  # half above the last edge
    assert percentile(hist, 0.99) == LATENCY_EDGES_MS[-1]
    assert percentile([0.0] * N_BUCKETS, 0.5) is None


def test_timeseries_per_minute_filters_and_buckets(store: Store) -> None:
    recs: list[Record] = []
    for m in range(3):
        for i in range(10):
            recs.append(decision(f"{m}-{i}", ts=T0 + 60 * m + i, model="small" if i < 6 else "big",
                                 task="qa" if i % 2 else "code", cost=0.001 * (i + 1),
                                 baseline_cost=0.02, latency_ms=40.0 + 100 * i,
                                 status="failed" if i == 9 else "ok"))  # fmt: skip
    recs.append(decision("other", ts=T0, tenant="t2"))
    store.write(recs)
    points = store.timeseries(tenant="t1", since=T0, until=T0 + 180)
    assert [p["ts"] for p in points] == [T0, T0 + 60, T0 + 120]
    p = points[0]
    assert p["requests"] == 10 and p["failed"] == 1 and p["error_rate"] == 0.1
    assert math.isclose(p["cost_usd"], 0.055) and math.isclose(p["baseline_cost_usd"], 0.2)
    assert math.isclose(p["mean_latency_ms"], 490.0)
    assert 300 <= p["p50_ms"] <= 500 and 750 <= p["p95_ms"] <= 1000  # latencies 40..940
    assert [
        q["requests"] for q in store.timeseries(tenant="t1", since=T0 + 60, until=T0 + 120)
    ] == [10]
    small = store.timeseries(tenant="t1", since=T0, until=T0 + 180, model="small", task="qa")
    assert [q["requests"] for q in small] == [3, 3, 3]
    hourly = store.timeseries(tenant=None, since=T0, until=T0 + 180, bucket_s=3600)
    assert len(hourly) == 1 and hourly[0]["requests"] == 31
    assert hourly[0]["ts"] == int(T0 // 3600 * 3600)


def test_grades_follow_precedence_in_rollups(store: Store) -> None:
    store.write([decision("d", ts=T0 + 5)])
    store.write([grade("d", 0.2, "auto", ts=T0 + 100)])
    store.write([grade("d", 1.0, "feedback", ts=T0 + 200)])
    store.write([grade("d", 0.5, "judge", ts=T0 + 300)])  # lower than feedback: no change
    store.write([grade("d", 0.9, "auto", ts=T0 + 400)])  # replaces the auto grade, still hidden
    [p] = store.timeseries(tenant="t1", since=T0, until=T0 + 600)
    assert p["ts"] == T0 and p["graded"] == 1 and p["mean_grade"] == 1.0  # in the decision's minute
    # the one table (records.GRADER_PRECEDENCE): an automatic check outranks the judge, a
    # reference outranks both, and execution outranks the reference
    store.write([decision("e", ts=T0 + 65), grade("e", 0.2, "auto", ts=T0 + 70)])
    store.write([grade("e", 0.9, "judge", ts=T0 + 80)])
    [p] = store.timeseries(tenant="t1", since=T0 + 60, until=T0 + 120)
    assert p["mean_grade"] == 0.2
    store.write([grade("e", 0.6, "reference", ts=T0 + 90)])
    [p] = store.timeseries(tenant="t1", since=T0 + 60, until=T0 + 120)
    assert p["mean_grade"] == 0.6
    store.write([grade("e", 0.4, "execution", ts=T0 + 95)])
    [p] = store.timeseries(tenant="t1", since=T0 + 60, until=T0 + 120)
    assert p["graded"] == 1 and p["mean_grade"] == 0.4


def test_grade_before_its_decision_moves_to_the_decision_minute(store: Store) -> None:
    store.write([grade("late", 0.7, "judge", ts=T0 + 600)])
    [p] = store.timeseries(tenant="t1", since=T0, until=T0 + 900)
    assert p["ts"] == T0 + 600 and p["requests"] == 0 and p["graded"] == 1
    store.write([decision("late", ts=T0 + 10)])
    points = [
        q
        for q in store.timeseries(tenant="t1", since=T0, until=T0 + 900)
        if q["requests"] or q["graded"]
    ]
    assert [(q["ts"], q["requests"], q["graded"]) for q in points] == [(T0, 1, 1)]


def test_rewrites_are_counted_once(store: Store) -> None:
    batch: list[Record] = [decision("d1", ts=T0), grade("d1", 0.5, "judge", ts=T0 + 1)]
    store.write(batch, batch_id="b")
    store.write(batch, batch_id="b")
    store.write(batch)  # no batch id: decisions and grades are still idempotent
    [p] = store.timeseries(tenant="t1", since=T0, until=T0 + 60)
    assert p["requests"] == 1 and p["graded"] == 1
    store.write([decision("d1", ts=T0 + 120, cost=0.5)])  # a corrected decision moves
    # the minute it left is empty: no point (it was a point of zero requests), at any level
    for tenant in ("t1", None):
        points = store.timeseries(tenant=tenant, since=T0, until=T0 + 180)
        assert [(q["ts"], q["requests"], q["graded"], q["cost_usd"]) for q in points] == [
            (T0 + 120, 1, 1, 0.5)
        ], tenant
        [hour] = store.timeseries(tenant=tenant, since=T0, until=T0 + 3600, bucket_s=3600)
        assert hour["requests"] == 1


@pytest.mark.parametrize("seed", [7])
def test_rollups_agree_with_stats_under_concurrent_writers(
    open_: Callable[[], Store], seed: int
) -> None:
    """Two replicas write shuffled decisions and grades (some grades first, some twice)."""
    rng = random.Random(seed)
    records: list[Record] = []
    for i in range(300):
        ts, cost, lat = T0 + rng.uniform(0, 600), rng.uniform(0, 0.01), rng.uniform(10, 5000)
        records.append(decision(f"d{i}", ts=ts, cost=cost, model=rng.choice("ab"), latency_ms=lat))
        kinds: list[GraderKind] = ["auto", "judge", "feedback"]
        for kind in rng.sample(kinds, rng.randint(0, 3)):
            records.append(grade(f"d{i}", rng.random(), kind, ts=T0 + rng.uniform(0, 900)))
    rng.shuffle(records)
    records += rng.sample(records, 100)  # duplicates from the other replica
    halves = [records[0::2], records[1::2]]
    stores = [open_(), open_()]
    errors: list[BaseException] = []

    def replica(k: int) -> None:
        try:
            part = halves[k]
            for j in range(0, len(part), 25):
                stores[k].write(part[j : j + 25])
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=replica, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    st = stores[0].stats(tenant="t1")
    got = _totals(stores[0].timeseries(tenant="t1", since=T0 - 60, until=T0 + 3600))
    assert got["requests"] == st["requests"] == 300
    assert got["graded"] == st["graded"]
    assert math.isclose(got["cost_usd"], st["cost_usd"], rel_tol=1e-9)
    assert math.isclose(got["grade_sum"], st["mean_grade"] * st["graded"], rel_tol=1e-9)


def test_prune_retention(store: Store) -> None:
    store.write([decision("old", ts=T0), decision("new", ts=T0 + 3600), grade("old", 0.5, ts=T0)])
    assert store.prune(records_before=T0 + 60) == {"decisions": 1, "grades": 1, "alerts": 0}
    assert [d["id"] for d in store.decisions(tenant=None, limit=10)] == ["new"]
    assert len(store.timeseries(tenant=None, since=T0, until=T0 + 7200)) == 2  # rollups stay
    # the hourly levels keep an hour until all of it is before the cut
    assert store.prune(rollups_before=T0 + 60) == {
        "rollups": 1,
        "rollups_hour": 0,
        "rollups_global": 1,
        "rollups_learning": 0,
    }
    assert [p["ts"] for p in store.timeseries(tenant=None, since=T0, until=T0 + 7200)] == [
        T0 + 3600
    ]


def test_iter_decisions_pages_oldest_first(store: Store) -> None:
    store.write([decision(f"d{i}", ts=T0 + i // 2, tenant="t1" if i != 3 else "t2")
                 for i in range(9)])  # fmt: skip  # pairs share a ts: keyset paging must hold
    store.write([grade("d4", 0.3, "auto"), grade("d4", 0.8, "feedback")])
    got = list(store.iter_decisions(since=T0 + 1, tenant="t1", page=2))
    assert [d["id"] for d in got] == ["d2", "d4", "d5", "d6", "d7", "d8"]
    assert got[1]["grade"] == 0.8 and got[1]["grader"] == "feedback"
    assert len(list(store.iter_decisions(since=0.0, page=4))) == 9


def test_export_csv_and_jsonl(store: Store) -> None:
    store.write([decision("a", ts=T0), decision("b", ts=T0 + 1), grade("b", 0.9, "judge")])
    buf = io.StringIO()
    assert export(store, T0, "jsonl", buf) == 2
    lines = [orjson.loads(x) for x in buf.getvalue().splitlines()]
    assert [x["id"] for x in lines] == ["a", "b"] and lines[1]["grade"] == 0.9
    buf = io.StringIO()
    assert export(store, T0 + 0.5, "csv", buf) == 1
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["id"] == "b" and rows[0]["grade"] == "0.9" and rows[0]["error"] == ""
    assert orjson.loads(rows[0]["candidates"])[0]["model"] == "small"
    with pytest.raises(ValueError):
        export(store, 0.0, "xml", buf)  # type: ignore[arg-type]


def test_retention_deletes_in_batches_and_keeps_the_rest(store: Store) -> None:
    old = [decision(f"old{i}", ts=T0 + i) for i in range(11)]
    new = [decision(f"new{i}", ts=T0 + 3600 + i) for i in range(3)]
    store.write([*old, *new, grade("old0", 1.0, "auto", ts=T0 + 1)])
    deleted = store.prune(records_before=T0 + 60, batch=4)  # 3 transactions of <= 4 rows
    assert deleted == {"decisions": 11, "grades": 1, "alerts": 0}
    left = store.decisions(tenant=None, limit=100)
    assert sorted(d["id"] for d in left) == [f"new{i}" for i in range(3)]
    assert store.prune(records_before=T0 + 60, batch=4) == {
        "decisions": 0,
        "grades": 0,
        "alerts": 0,
    }


def test_a_page_past_the_old_id_chunk_keeps_every_best_grade(store: Store) -> None:
    """The grades of a 1,000-row export page: one ANY(array) lookup on PostgreSQL, 500-id IN
    lists on SQLite; both give each decision its best grade."""
    recs: list[Record] = [decision(f"d{i:04d}", ts=T0 + i) for i in range(1_200)]
    recs += [grade(f"d{i:04d}", 0.25, "auto") for i in range(0, 1_200, 3)]
    recs += [grade(f"d{i:04d}", 1.0, "feedback") for i in range(0, 1_200, 9)]
    store.write(recs)
    got = list(store.iter_decisions(since=0.0))
    assert [d["id"] for d in got] == [f"d{i:04d}" for i in range(1_200)]
    for i, d in enumerate(got):
        want = (1.0, "feedback") if i % 9 == 0 else (0.25, "auto") if i % 3 == 0 else (None, None)
        assert (d["grade"], d["grader"]) == want, d["id"]


def test_timeseries_reads_the_all_tenant_rows_as_points_when_the_bucket_is_their_span() -> None:
    """Nothing to add up then: no GROUP BY (the 24 h per-minute series, 1,440 rows, on
    PostgreSQL at 10M decisions: 2x faster). Filtered or coarser series still sum."""
    from arbiter.store.rollup import timeseries_queries

    def sqls(**kw: Any) -> list[str]:
        base = {"tenant": None, "model": None, "task": None, "start": 0, "until": 7 * 86400}
        return [sql for sql, _ in timeseries_queries(**{**base, **kw})]

    [minutes] = sqls(bucket=60)
    assert "GROUP BY" not in minutes and "span = 60" in minutes
    [hours] = sqls(bucket=3600)
    assert "GROUP BY" not in hours and "span = 3600" in hours
    assert all("GROUP BY" in s for s in sqls(bucket=900) + sqls(bucket=60, tenant="t1"))
    hours, tail = sqls(bucket=3600, until=7 * 86400 - 30)  # whole hours, then the last minutes
    assert "GROUP BY" not in hours and "GROUP BY" in tail


def _quantiles_by_walk(hist: list[float], qs: tuple[float, ...]) -> list[float | None]:
    """The reference: walk the buckets, linear within the one holding q of the total."""
    total, out = sum(hist), []
    if total <= 0:
        return [None] * len(qs)
    for q in qs:
        seen = 0.0
        for i, count in enumerate(hist):
            if count > 0 and seen + count >= q * total:
                if i == N_BUCKETS - 1:
                    out.append(float(LATENCY_EDGES_MS[-1]))
                else:
                    lo = 0.0 if i == 0 else float(LATENCY_EDGES_MS[i - 1])
                    out.append(lo + (LATENCY_EDGES_MS[i] - lo) * max(0.0, q * total - seen) / count)
                break
            seen += count
        else:
            out.append(float(LATENCY_EDGES_MS[-1]))
    return out


def test_point_percentiles_equal_a_walk_over_the_buckets() -> None:
    from arbiter.store.rollup import point

    rng = random.Random(7)
    for _ in range(2_000):
        hist = [float(rng.choice((0, 0, 0, 1, rng.randint(1, 500), rng.random() * 1e6)))
                for _ in range(N_BUCKETS)]  # fmt: skip
        p = point((60, sum(hist), 0, 0.0, 0.0, 100.0, 0.0, 0, *hist))
        assert [p["p50_ms"], p["p95_ms"], p["p99_ms"]] == _quantiles_by_walk(
            hist, (0.5, 0.95, 0.99)
        ), hist
