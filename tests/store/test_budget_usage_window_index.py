"""Outside probe (probes14b): GET /arbiter/budgets reads the windows open now of every scope
(`window_start IN (...)`), and the only index on budget_usage, its primary key, leads with
scope: the read scanned every closed window's row too (a row per key a day; 0.21 s at 110k
rows). Migration 0056 indexes window_start (0065 replaces it by (window_start, scope), which the
budget pages walk); the planner of each backend must use it for the very queries the store
runs, and a store already at 0055 gets it from `migrate`."""

from __future__ import annotations

import time

from arbiter.budget_view import open_window_starts
from arbiter.store import Store, open_store
from arbiter.store.accounts import budget_page_query, budget_usage_query

ROWS = 20_000  # closed windows: 2,000 keys x 10 days, 40 to 49 days ago (before this month)


def _fill(store: Store) -> None:
    days = [time.time() // 86400 * 86400 - d * 86400 for d in range(40, 50)]
    with store._tx() as cur:
        for day in days:
            if store.backend == "sqlite":
                cur.execute(
                    "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < 1999)"
                    " INSERT INTO budget_usage (scope, window_start, spent_usd, reserved_usd)"
                    " SELECT 'key:' || i, ?, 0.01, 0 FROM k",
                    (day,),
                )
            else:
                cur.execute(
                    "INSERT INTO budget_usage (scope, window_start, spent_usd, reserved_usd)"
                    " SELECT 'key:' || i, %s, 0.01, 0 FROM generate_series(0, 1999) AS i",
                    (day,),
                )
        cur.execute("ANALYZE budget_usage" if store.backend == "postgres" else "ANALYZE")


def _plan(store: Store) -> str:
    sql, params = budget_usage_query("", open_window_starts(time.time()))
    explain = "EXPLAIN QUERY PLAN " if store.backend == "sqlite" else "EXPLAIN "
    with store._ro() as cur:
        cur.execute(store._sql(explain + sql), params)
        return "\n".join(" ".join(str(c) for c in row) for row in cur.fetchall())


def test_the_open_windows_read_uses_the_window_index(store: Store) -> None:
    _fill(store)
    plan = _plan(store)
    assert "budget_usage_window" in plan, plan
    assert "Seq Scan" not in plan and "SCAN budget_usage" not in plan.replace("USING", ""), plan
    opened = open_window_starts(time.time())
    with store._tx() as cur:
        for scope in ("tenant:t2", "key:9", "global", "tenant:t1"):
            for start in opened:
                cur.execute(
                    store._sql("INSERT INTO budget_usage (scope, window_start) VALUES (%s, %s)"),
                    (scope, start),
                )
    got = [(r["scope"], r["window_start"]) for r in store.budget_usage("", opened)]
    assert got == sorted(
        (s, w) for s in ("tenant:t2", "key:9", "global", "tenant:t1") for w in opened
    )
    assert len(store.budget_usage("key:1")) == 10  # key:1's own ten days (exact, not a prefix)


def test_a_store_at_0055_gets_the_index_from_migrate(store_url: str) -> None:
    # a fresh store migrated to 0055 only (a copy made by dropping what later migrations add
    # went stale with every later ADD COLUMN: `migrate` re-ran them on the column still there)
    store = open_store(store_url)
    try:
        assert store.migrate(to=55) == 55
        _fill(store)
        assert "budget_usage_window" not in _plan(store)
        assert store.migrate() >= 65
        assert "budget_usage_window" in _plan(store)
        assert len(store.budget_usage("")) == ROWS, "the rows stay"
    finally:
        store.close()


def test_a_budget_page_walks_the_window_scope_index(store: Store) -> None:
    _fill(store)
    day = open_window_starts(time.time())[-1]
    for after, keys_of in (((day, "key:5"), None), (None, "t1")):
        sql, params = budget_page_query(day, after, 1000, ["global", "tenant:t1"], keys_of)
        explain = "EXPLAIN QUERY PLAN " if store.backend == "sqlite" else "EXPLAIN "
        with store._ro() as cur:
            cur.execute(store._sql(explain + sql), params)
            plan = "\n".join(" ".join(str(c) for c in row) for row in cur.fetchall())
        assert "budget_usage_window_scope" in plan, plan
        assert "Seq Scan on budget_usage" not in plan, plan
