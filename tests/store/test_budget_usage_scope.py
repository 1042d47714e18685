"""budget_usage(scope) reads that one scope's rows, by the primary key, on both backends.

It was `scope LIKE scope || '%'`: `_` (tenant names allow it) and `%` were wildcards, so
`tenant:a_b` read `tenant:axb`'s spend and `tenant:glob%` every `tenant:glob...`;
a full scope also read its longer siblings (`tenant:acme` read `tenant:acmeX`); and neither
SQLite (LIKE is case-insensitive there) nor PostgreSQL (a non-"C" collation) could use the
primary key for it: EXPLAIN showed a scan of every scope's every window."""

from __future__ import annotations

from arbiter.store import Store
from arbiter.store.accounts import budget_usage_query

SCOPES = (
    "global",
    "shadow",
    "tenant:a_b",
    "tenant:axb",
    "tenant:glob%",
    "tenant:global_x",
    "tenant:globe",
    "tenant:acme",
    "tenant:acmeX",
    "key:1",
    "key:10",
)


def _put(store: Store, scopes: tuple[str, ...], window: float) -> None:
    with store._tx() as cur:
        for scope in scopes:
            cur.execute(
                store._sql(
                    "INSERT INTO budget_usage (scope, window_start, spent_usd) VALUES (%s, %s, 1)"
                ),
                (scope, window),
            )


def test_a_scope_reads_its_own_rows_only(store: Store) -> None:
    _put(store, SCOPES, 0.0)
    _put(store, ("tenant:a_b",), 86400.0)
    for scope in SCOPES:
        got = [r["scope"] for r in store.budget_usage(scope)]
        assert got == [scope] * (2 if scope == "tenant:a_b" else 1), scope
    assert store.budget_usage("tenant:a%") == []  # no wildcard: no such scope
    assert store.budget_usage("tenant:a_b", [86400.0])[0]["window_start"] == 86400.0
    assert sorted(r["scope"] for r in store.budget_usage("", [0.0])) == sorted(SCOPES)


def _plan(store: Store, scope: str) -> str:
    sql, params = budget_usage_query(scope, None)
    explain = "EXPLAIN QUERY PLAN " if store.backend == "sqlite" else "EXPLAIN "
    with store._ro() as cur:
        cur.execute(store._sql(explain + sql), params)
        return "\n".join(" ".join(str(c) for c in row) for row in cur.fetchall())


def test_a_scope_is_read_by_the_primary_key(store: Store) -> None:
    with store._tx() as cur:  # 2,000 keys x 10 days: a scan would be the planner's loss
        if store.backend == "sqlite":
            cur.execute(
                "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < 19999)"
                " INSERT INTO budget_usage (scope, window_start, spent_usd, reserved_usd)"
                " SELECT 'key:' || (i % 2000), (i / 2000) * 86400, 0.01, 0 FROM k"
            )
            cur.execute("ANALYZE")
        else:
            cur.execute(
                "INSERT INTO budget_usage (scope, window_start, spent_usd, reserved_usd)"
                " SELECT 'key:' || (i % 2000), (i / 2000) * 86400, 0.01, 0"
                " FROM generate_series(0, 19999) AS i"
            )
            cur.execute("ANALYZE budget_usage")
    plan = _plan(store, "key:7")
    assert "Seq Scan" not in plan and "SCAN budget_usage" not in plan, plan
    assert "budget_usage_pkey" in plan or "sqlite_autoindex_budget_usage" in plan, plan
    assert len(store.budget_usage("key:7")) == 10
