"""GET /arbiter/timeseries over a long range: the bucket asked for against the fitted one
(timeseries_bucket.py), same store, same run (probes14b: `since=200d&bucket_s=60` over 288k
minute rows answered 61 MB in 30-39 s).

It fills a fresh store with DAYS of one request a minute (the per-minute, hourly and all-tenant
rollups, consistent sums, written by SQL: the recorder would take minutes), then reads the range
both ways, every tenant (the all-tenant level) and one tenant (the per-tenant levels): the store
read plus the JSON of the answer, best of 3, the points, the bytes, and the requests counted
(the same both ways: widening loses nothing); and the learning series (one shadow call a minute,
`rollups_learning`) for the same question, its time as a ratio to the own series'.

Usage: python bench/timeseries_bound.py [--days 200] [--pg postgresql://.../db_for_bench]
(the PostgreSQL database must be an empty one you may fill and keep)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import orjson

from arbiter.store import Store, open_store
from arbiter.timeseries_bucket import fitted_bucket


def _fill(store: Store, days: int, now: int) -> None:
    t0, n = now - days * 86400, days * 1440
    if store.backend == "sqlite":
        gen = f"WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < {n - 1}) "
        src = "FROM g"
    else:
        gen, src = "", f"FROM generate_series(0, {n - 1}) AS i"
    sums = "requests, cost_usd, baseline_cost_usd, latency_ms_sum, h03"
    one = "1, 0.001, 0.01, 150, 1"
    added = "SUM(requests), SUM(cost_usd), SUM(baseline_cost_usd), SUM(latency_ms_sum), SUM(h03)"
    with store._tx() as cur:
        cur.execute(
            f"{gen}INSERT INTO rollups (tenant, model, task, minute, {sums}) "
            f"SELECT 't1', 'm', 'qa', {t0} + i * 60, {one} {src}"
        )
        cur.execute(
            f"{gen}INSERT INTO rollups_global (span, start, {sums}) "
            f"SELECT 60, {t0} + i * 60, {one} {src}"
        )
        cur.execute(
            f"INSERT INTO rollups_hour (tenant, model, task, hour, {sums}) "
            f"SELECT tenant, model, task, (minute / 3600) * 3600, {added} FROM rollups "
            "GROUP BY tenant, model, task, (minute / 3600) * 3600"
        )
        cur.execute(
            f"INSERT INTO rollups_global (span, start, {sums}) "
            f"SELECT 3600, (start / 3600) * 3600, {added} FROM rollups_global WHERE span = 60 "
            "GROUP BY (start / 3600) * 3600"
        )
        # one shadow call a minute too: the learning series' rows (migration 0058), both spans
        cur.execute(
            f"{gen}INSERT INTO rollups_learning (span, start, tenant, model, task, mode, {sums}) "
            f"SELECT 60, {t0} + i * 60, 't1', 'm', 'qa', 'shadow', {one} {src}"
        )
        cur.execute(
            f"INSERT INTO rollups_learning (span, start, tenant, model, task, mode, {sums}) "
            f"SELECT 3600, (start / 3600) * 3600, tenant, model, task, mode, {added} "
            "FROM rollups_learning WHERE span = 60 "
            "GROUP BY (start / 3600) * 3600, tenant, model, task, mode"
        )
        cur.execute("ANALYZE")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=200)
    ap.add_argument("--pg", default=None, help="an empty PostgreSQL database to fill")
    args = ap.parse_args()
    url = args.pg or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    store = open_store(url)
    store.migrate()
    now = int(time.time()) // 60 * 60
    _fill(store, args.days, now)
    since, until = now - args.days * 86400 - 60, time.time() + 60
    fitted = fitted_bucket(since, until, 60)
    print(
        f"{store.backend}: {args.days} days x 1,440 minutes; asked bucket 60 s, fitted {fitted} s"
    )
    for tenant in (None, "t1"):
        best: dict[int, float] = {}
        for bucket in (60, fitted):
            runs = []
            for _ in range(3):
                t = time.perf_counter()
                points = store.timeseries(tenant=tenant, since=since, until=until, bucket_s=bucket)
                body = orjson.dumps({"data": points})
                runs.append(time.perf_counter() - t)
            best[bucket] = min(runs)
            print(
                f"  tenant={tenant!s:5s} bucket {bucket:6d} s: {len(points):7d} points "
                f"{len(body) / 1e6:7.2f} MB  {best[bucket]:7.3f} s  "
                f"requests {sum(p['requests'] for p in points)}"
            )
        print(f"  tenant={tenant!s:5s} fitted / asked time: {best[fitted] / best[60]:.3f}")
        # the learning series beside it (GET /arbiter/timeseries answers both), same question
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            learning = store.learning_timeseries(
                tenant=tenant, since=since, until=until, bucket_s=60
            )
            body = orjson.dumps({"learning": learning})
            runs.append(time.perf_counter() - t)
        calls = sum(p["requests"] for p in learning)
        print(
            f"  tenant={tenant!s:5s} learning series: {len(learning):7d} points "
            f"{len(body) / 1e6:7.2f} MB  {min(runs):7.3f} s  calls {calls}  "
            f"time / the own series': {min(runs) / best[fitted]:.3f}"
        )
    store.close()


if __name__ == "__main__":
    main()
