"""bench/scale --only history: N recorded decisions, and how fast the history APIs stay.

Bulk-loads N decisions over 30 days (100 tenants; every 10th graded `auto`, every 50th also
`feedback`, every 20th a cache hit) into SQLite (executemany in 200,000-row transactions) and
PostgreSQL (COPY), their per-minute rollups, and the upper rollup levels by the very SQL of
migration 0016 (hourly, all-tenant, totals). Then: p95 of each store call an API makes, a few
calls through the real HTTP app (in process, over httpx's ASGI transport) to confirm, the
export's rows/s and peak memory, and retention: one day of raw rows pruned while a writer keeps
writing batches (the writer's worst batch is what the prune made it wait).

Run through bench/scale.py (`--only history [--quick] [--rows N]`); `python bench/scale_history.py
--rows N` runs it alone and prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "python"), str(REPO)]

TENANTS = 100
MODELS = ("m-small", "m-mid", "m-large", "m-xl", "m-code")
TASKS = ("chat", "math", "code", "extraction")
SPAN_S = 30 * 86400.0
STEP = 200_000


def _timed(fn: Callable[[], object], seconds: float, max_n: int) -> list[float]:
    out: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and len(out) < max_n:
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _p(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


# -- the synthetic history ----------------------------------------------------------------------
def _fields(i: int, n: int, now: float) -> tuple[float, str, str, str, bool, float, float, bool]:
    """ts, tenant, model, task, failed, cost, latency, cache hit of decision i."""
    ts = now - SPAN_S + SPAN_S * i / n
    hit = i % 20 == 3
    cost = 0.0 if hit else 0.0001 * (1 + i % 5)
    return (ts, f"t{i % TENANTS}", MODELS[i % 5], TASKS[(i // 7) % 4], i % 97 == 0, cost,
            100.0 + i % 400, hit)  # fmt: skip


def _grades_of(i: int) -> list[tuple[str, float]]:
    out = [("auto", 0.5 + (i % 7) / 20)] if i % 10 == 0 else []
    if i % 50 == 0:  # feedback outranks the automatic check
        out.append(("feedback", 1.0 if i % 3 else 0.0))
    return out


def _decision_rows(n: int, start: int, count: int, now: float) -> list[tuple[Any, ...]]:
    rows = []
    for i in range(start, start + count):
        ts, tenant, model, task, failed, cost, lat, hit = _fields(i, n, now)
        rows.append((
            f"d{i:010d}", ts, tenant, task, "cache" if hit else "routed", model, "bench", "[]",
            "[]", "failed" if failed else "ok", cost, "m-large", 0.0005, lat, 200, 150, False,
            None, None, None, "usage", "exact" if hit else None, 0.0002 if hit else None, None,
        ))  # fmt: skip
    return rows


def _grade_rows(n: int, start: int, count: int, now: float) -> list[tuple[Any, ...]]:
    rows = []
    for i in range(start, start + count):
        ts, tenant, model, task, *_ = _fields(i, n, now)
        for grader, score in _grades_of(i):
            rows.append((f"d{i:010d}", grader, ts + 5, tenant, task, model, score, ""))
    return rows


def _minute_rollups(n: int, now: float) -> Iterator[tuple[Any, ...]]:
    """The per-minute rollups (0002) of those decisions, aggregated in bulk."""
    from arbiter.records import precedence
    from arbiter.store.rollup import LATENCY_EDGES_MS, N_BUCKETS

    ints = {0, 1, 6, *range(7, 7 + N_BUCKETS)}  # counts are integers in the schema
    acc: dict[tuple[str, str, str, int], list[float]] = {}
    current = None
    for i in range(n):
        ts, tenant, model, task, failed, cost, lat, _ = _fields(i, n, now)
        minute = int(ts // 60 * 60)
        if minute != current:  # ts grows with i: a minute, once left, is complete
            for k, v in acc.items():
                yield (*k, *(int(x) if j in ints else x for j, x in enumerate(v)))
            acc, current = {}, minute
        key = (tenant, model, task, minute)
        row = acc.get(key)
        if row is None:
            row = acc[key] = [0.0] * (7 + N_BUCKETS)
        row[0] += 1
        row[1] += failed
        row[2] += cost
        row[3] += 0.0005
        row[4] += lat
        grades = _grades_of(i)
        if grades:
            row[5] += max(grades, key=lambda g: precedence(g[0]))[1]
            row[6] += 1
        row[7 + min(bisect.bisect_right(LATENCY_EDGES_MS, lat), N_BUCKETS - 1)] += 1
    for k, v in acc.items():
        yield (*k, *(int(x) if j in ints else x for j, x in enumerate(v)))


def _levels_sql(backend: str) -> list[str]:
    """Migration 0016's backfill: the hourly, all-tenant and totals levels from the rest."""
    from arbiter.store._sql import load_migrations

    [(_, stmts)] = [m for m in load_migrations(backend) if m[0] == 16]
    return [s for s in stmts if s.startswith("INSERT")]


_GCOLS = ("decision_id", "grader", "ts", "tenant", "task", "model", "score", "detail")


def load_sqlite(url: str, n: int, now: float) -> dict[str, float]:
    from arbiter.store import open_store
    from arbiter.store._sql import _DCOLS
    from arbiter.store.rollup import SUM_COLS

    store = open_store(url)
    store.migrate()
    conn = store._conn()  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    dsql = f"INSERT INTO decisions ({', '.join(_DCOLS)}) VALUES ({', '.join('?' * len(_DCOLS))})"
    gsql = f"INSERT INTO grades ({', '.join(_GCOLS)}) VALUES ({', '.join('?' * len(_GCOLS))})"
    for start in range(0, n, STEP):
        count = min(STEP, n - start)
        conn.execute("BEGIN")
        conn.executemany(dsql, _decision_rows(n, start, count, now))
        conn.executemany(gsql, _grade_rows(n, start, count, now))
        conn.execute("COMMIT")
    raw_s = time.perf_counter() - t0
    cols = ("tenant", "model", "task", "minute", *SUM_COLS)
    conn.execute("BEGIN")
    sql = f"INSERT INTO rollups ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    conn.executemany(sql, _minute_rollups(n, now))
    conn.execute("COMMIT")
    t1 = time.perf_counter()
    conn.execute("BEGIN")
    for stmt in _levels_sql("sqlite"):
        conn.execute(stmt)
    conn.execute("COMMIT")
    levels_s = time.perf_counter() - t1
    conn.execute("ANALYZE")
    store.close()
    return {"raw_s": round(raw_s, 1), "levels_backfill_s": round(levels_s, 1),
            "total_s": round(time.perf_counter() - t0, 1)}  # fmt: skip


def load_postgres(url: str, n: int, now: float) -> dict[str, float]:
    import psycopg

    from arbiter.store import open_store
    from arbiter.store._sql import _DCOLS
    from arbiter.store.rollup import SUM_COLS

    store = open_store(url)
    store.migrate()
    store.close()
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for start in range(0, n, STEP):
            count = min(STEP, n - start)
            with conn.cursor().copy(f"COPY decisions ({', '.join(_DCOLS)}) FROM STDIN") as cp:
                for row in _decision_rows(n, start, count, now):
                    cp.write_row(row)
            with conn.cursor().copy(f"COPY grades ({', '.join(_GCOLS)}) FROM STDIN") as cp:
                for row in _grade_rows(n, start, count, now):
                    cp.write_row(row)
        raw_s = time.perf_counter() - t0
        cols = ("tenant", "model", "task", "minute", *SUM_COLS)
        with conn.cursor().copy(f"COPY rollups ({', '.join(cols)}) FROM STDIN") as cp:
            for row in _minute_rollups(n, now):
                cp.write_row(row)
        t1 = time.perf_counter()
        with conn.transaction():
            for stmt in _levels_sql("postgres"):
                conn.execute(stmt)
        levels_s = time.perf_counter() - t1
        conn.execute("ANALYZE")
    return {"raw_s": round(raw_s, 1), "levels_backfill_s": round(levels_s, 1),
            "total_s": round(time.perf_counter() - t0, 1)}  # fmt: skip


# -- the calls ----------------------------------------------------------------------------------
def store_calls(url: str, now: float, quick: bool) -> dict[str, Any]:
    from arbiter.store import open_store

    store = open_store(url)
    week = now - 7 * 86400
    calls: dict[str, Callable[[], object]] = {
        # /arbiter/stats: the stats and the cache's share of the savings
        "stats": lambda: (store.stats(tenant=None), store.cache_stats(tenant=None)),
        "stats_tenant": lambda: (store.stats(tenant="t7"), store.cache_stats(tenant="t7")),
        "pareto": lambda: store.quality_by_model(tenant=None),  # /arbiter/pareto's query
        "tenants": store.tenants,
        "timeseries_1h": lambda: store.timeseries(tenant=None, since=now - 3600, until=now),
        "timeseries_24h": lambda: store.timeseries(tenant=None, since=now - 86400, until=now),
        "timeseries_24h_15min": lambda: store.timeseries(
            tenant=None, since=now - 86400, until=now, bucket_s=900
        ),
        "timeseries_7d_hourly": lambda: store.timeseries(
            tenant=None, since=week, until=now, bucket_s=3600
        ),
        "timeseries_7d_hourly_tenant": lambda: store.timeseries(
            tenant="t7", since=week, until=now, bucket_s=3600
        ),
        "feed_first_page": lambda: store.decisions(tenant=None, limit=50),
        "feed_tenant_page": lambda: store.decisions(tenant="t7", limit=50),
    }
    page = store.decisions(tenant=None, limit=50)
    for _ in range(20):  # 20 pages deep
        page = store.decisions(tenant=None, limit=50, after_id=page[-1]["id"])
    deep = page[-1]["id"]
    calls["feed_page_21"] = lambda: store.decisions(tenant=None, limit=50, after_id=deep)

    def export_first_1000() -> None:
        for _ in itertools.islice(store.iter_decisions(since=week), 1000):
            pass

    calls["export_7d_first_1000"] = export_first_1000
    out: dict[str, Any] = {}
    for name, fn in calls.items():
        fn()  # warm the caches once
        ts = _timed(fn, 3.0 if quick else 8.0, 40)
        out[name] = {"p95_ms": round(_p(ts, 0.95) * 1e3, 2), "n": len(ts)}
    # the export streams: memory stays flat over 50,000 rows
    tracemalloc.start()
    t0 = time.perf_counter()
    n = sum(1 for _ in itertools.islice(store.iter_decisions(since=week), 50_000))
    out["export_rows_per_s"] = round(n / (time.perf_counter() - t0))
    out["export_peak_mb_50k_rows"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    tracemalloc.stop()
    store.close()
    return out


def http_calls(url: str, now: float, workdir: Path) -> dict[str, Any]:
    """A few calls through the real app (routing, auth, JSON) to confirm the store figures."""
    from tests.inproc import sidecar_in_process

    def edit(text: str) -> str:
        lines = [f'url = "{url}"' if ln.startswith("url = ") and "sqlite" in ln else ln
                 for ln in text.splitlines()]  # fmt: skip
        return "\n".join(lines) + "\n"

    paths = {
        "http_stats": "/arbiter/stats",
        "http_timeseries_24h_15min": f"/arbiter/timeseries?since={now - 86400:.0f}&bucket_s=900",
        "http_timeseries_7d_hourly": f"/arbiter/timeseries?since={now - 7 * 86400:.0f}"
        "&bucket_s=3600",
        "http_feed_page": "/arbiter/decisions?limit=50",
    }

    async def go() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with sidecar_in_process(workdir, edit_config=edit) as sc:
            for name, path in paths.items():
                await sc.client.get(path, headers=sc.admin)  # warm: the sandbox probe, caches
                ts = []
                for _ in range(15):
                    t0 = time.perf_counter()
                    r = await sc.client.get(path, headers=sc.admin)
                    ts.append(time.perf_counter() - t0)
                    assert r.status_code == 200, (path, r.status_code, r.text[:200])
                out[name] = {"p95_ms": round(_p(ts, 0.95) * 1e3, 2), "n": len(ts)}
        return out

    return asyncio.run(go())


def retention_under_writes(url: str, now: float) -> dict[str, Any]:
    """Prune the oldest day of raw rows while another connection writes 20-decision batches."""
    from arbiter.records import DecisionRecord
    from arbiter.store import open_store

    writer, pruner = open_store(url), open_store(url)
    stop = threading.Event()
    waits: list[float] = []

    def write() -> None:
        k = 0
        while not stop.is_set():
            batch = [
                DecisionRecord(
                    id=f"w{k}-{j}",
                    ts=time.time(),
                    tenant="t1",
                    task="chat",
                    mode="routed",
                    chosen_model="m-small",
                    reason="bench",
                    candidates=(),
                    attempts=(),
                    status="ok",
                    cost_usd=0.0001,
                    baseline_model="m-large",
                    baseline_cost_usd=0.0005,
                    latency_ms=120.0,
                    prompt_tokens=200,
                    completion_tokens=150,
                )
                for j in range(20)
            ]
            t0 = time.perf_counter()
            writer.write(batch)
            waits.append(time.perf_counter() - t0)
            k += 1
            time.sleep(0.01)

    errors: list[BaseException] = []

    def run() -> None:
        try:
            write()
        except BaseException as err:  # reported below, not lost in the thread
            errors.append(err)
            stop.set()

    th = threading.Thread(target=run)
    th.start()
    time.sleep(0.5)
    t0 = time.perf_counter()
    deleted = pruner.prune(records_before=now - SPAN_S + 86400)
    prune_s = time.perf_counter() - t0
    stop.set()
    th.join(30)
    writer.close()
    pruner.close()
    if errors:
        raise errors[0]
    rows = sum(deleted.values())
    return {"deleted": deleted, "prune_s": round(prune_s, 1),
            "prune_rows_per_s": round(rows / prune_s) if prune_s else None,
            "writer_batches": len(waits), "writer_p99_ms": round(_p(waits, 0.99) * 1e3, 1),
            "writer_max_ms": round(max(waits) * 1e3, 1)}  # fmt: skip


def _backend(url: str, now: float, n: int, quick: bool, work: Path, load: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"load": load(url, n, now)}
    out.update(store_calls(url, now, quick))
    out.update(http_calls(url, now, work))
    out["retention"] = retention_under_writes(url, now)
    out["stats_after_retention_requests"] = _requests(url)
    return out


def _requests(url: str) -> int:
    from arbiter.store import open_store

    store = open_store(url)
    try:
        return int(store.stats(tenant=None)["requests"])
    finally:
        store.close()


def bench_history(
    quick: bool, rows: int, workdir: Path, pg_url: str | None, *, sqlite: bool = True
) -> dict[str, Any]:
    now = time.time()
    out: dict[str, Any] = {"rows": rows, "loadavg": os.getloadavg()}
    db = workdir / "history.db"
    (workdir / "sqlite").mkdir(exist_ok=True)
    try:
        if sqlite:
            out["sqlite"] = _backend(f"sqlite:///{db}", now, rows, quick, workdir / "sqlite",
                                     load_sqlite)  # fmt: skip
            out["sqlite"]["db_gb"] = round(db.stat().st_size / 2**30, 2)
            print("history sqlite:", json.dumps(out["sqlite"]), flush=True)  # kept if PG fails
    finally:
        for p in workdir.glob("history.db*"):
            p.unlink()
    if pg_url:
        from tests.pg import fresh_database  # a throwaway database on the server, dropped after

        (workdir / "postgres").mkdir(exist_ok=True)
        with fresh_database(pg_url) as db_url:
            out["postgres"] = _backend(db_url, now, rows, quick, workdir / "postgres",
                                       load_postgres)  # fmt: skip
    out["loadavg_end"] = os.getloadavg()
    return out


def worst_p95(h: dict[str, Any]) -> float | None:
    worst = None
    for backend in ("sqlite", "postgres"):
        for v in h.get(backend, {}).values():
            if isinstance(v, dict) and "p95_ms" in v:
                worst = v["p95_ms"] if worst is None else max(worst, v["p95_ms"])
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--pg-url", default=os.environ.get("ARBITER_TEST_PG_URL"))
    ap.add_argument("--backends", default="sqlite,postgres", help="sqlite, postgres or both")
    args = ap.parse_args()
    backends = set(args.backends.split(","))
    pg_url = args.pg_url if "postgres" in backends else None
    with tempfile.TemporaryDirectory(prefix="arbiter-history-") as tmp:
        h = bench_history(args.quick, args.rows, Path(tmp), pg_url, sqlite="sqlite" in backends)
    h["worst_p95_ms"] = worst_p95(h)
    print(json.dumps(h))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
