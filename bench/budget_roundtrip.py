"""A capped request's budget writes, alone: `reserve_budget` + `settle_budget` of one request
with 1 and 3 caps, on SQLite (a file) and on PostgreSQL ($ARBITER_TEST_PG_URL, a fresh database),
with an owner (the leased path: the holds ledger written in the same transactions) and without
one (the pre-lease path, still in the code) as the baseline measured in the same run.

Per (backend, caps, path): median and p99 of the pair's wall time over N sequential requests
(after a warm-up), and per request the statements sent and, on PostgreSQL, the round trips
(ReadyForQuery messages the server sent, read from libpq's trace of the one pooled connection;
a pipeline's statements share one). SQLite's statements are counted by its trace callback.
Last line: JSON.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from tests.pg import fresh_database

from arbiter.store import Store
from arbiter.store.postgres import PostgresStore
from arbiter.store.sqlite import SqliteStore

WINDOW = 1_700_000_000.0
RESERVE, ACTUAL = 0.002, 0.0007
OWNER = "bench-owner"


def caps_of(n: int) -> list[tuple[str, float, float]]:
    # distinct scopes (key, tenant, global), limits never reached within the run
    return [(f"scope{i}", WINDOW, 1e9) for i in range(n)]


def one_request(store: Store, caps: list[tuple[str, float, float]], owner: str | None) -> None:
    refused = store.reserve_budget(caps, RESERVE, owner)
    assert refused is None, refused
    after = store.settle_budget([(s, w) for s, w, _ in caps], RESERVE, ACTUAL, owner)
    assert len(after) == len(caps)


def timed(run: Callable[[], None], n: int) -> dict[str, float]:
    for _ in range(min(50, n)):  # warm-up: connections, statement caches
        run()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        run()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 4),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 4),
    }


class _PgTrace:
    """libpq's protocol trace of the store's only connection, to a file we read back."""

    def __init__(self, store: PostgresStore, path: Path) -> None:
        from psycopg import pq

        self.path = path
        self._file = path.open("w")
        with store._pool.connection() as conn:
            self._pgconn = conn.pgconn
        self._pgconn.trace(self._file.fileno())
        self._pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def count(self, run: Callable[[], None]) -> dict[str, int]:
        self._file.flush()
        start = self.path.stat().st_size
        run()
        self._file.flush()
        with self.path.open() as f:
            f.seek(start)
            lines = [ln.split("\t") for ln in f.read().splitlines()]
        sent = [p[2] for p in lines if len(p) > 2 and p[0] == "F"]
        got = [p[2] for p in lines if len(p) > 2 and p[0] == "B"]
        return {
            "statements": sum(1 for m in sent if m in ("Query", "Bind")),
            "round_trips": sum(1 for m in got if m == "ReadyForQuery"),
        }

    def close(self) -> None:
        self._pgconn.untrace()
        self._file.close()


def sqlite_counter(store: SqliteStore) -> Callable[[Callable[[], None]], dict[str, int]]:
    seen: list[str] = []
    conn = store._conn()
    conn.set_trace_callback(seen.append)

    def count(run: Callable[[], None]) -> dict[str, int]:
        seen.clear()
        run()
        # PRAGMA busy_timeout set and restored around each budget transaction
        return {"statements": len(seen), "pragmas": sum(s.startswith("PRAGMA") for s in seen)}

    return count


def measure(store: Store, count: Callable[[Callable[[], None]], dict[str, int]], n: int) -> list:
    store.open_budget_lease(OWNER, time.time() + 3600)
    rows = []
    for k in (1, 3):
        caps = caps_of(k)
        for path, owner in (("baseline_no_owner", None), ("leased_owner", OWNER)):

            def run(caps: list[tuple[str, float, float]] = caps, owner: str | None = owner) -> None:
                one_request(store, caps, owner)

            stats = timed(run, n)
            rows.append({"caps": k, "path": path, **stats, **count(run)})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=500, help="timed requests per case (max 5000)")
    ap.add_argument("--pg-url", default=os.environ.get("ARBITER_TEST_PG_URL"))
    args = ap.parse_args()
    n = max(10, min(args.n, 5000))
    out: dict[str, Any] = {"bench": "budget_roundtrip", "n": n, "results": {}}
    with tempfile.TemporaryDirectory() as tmp:
        lite = SqliteStore(f"sqlite:///{tmp}/b.db")
        lite.migrate()
        try:
            out["results"]["sqlite"] = measure(lite, sqlite_counter(lite), n)
        finally:
            lite.close()
        if args.pg_url:
            with fresh_database(args.pg_url) as url:
                pg = PostgresStore(url, min_size=1, max_size=1)
                pg.migrate()
                trace = _PgTrace(pg, Path(tmp) / "pq.trace")
                try:
                    out["results"]["postgres"] = measure(pg, trace.count, n)
                finally:
                    trace.close()
                    pg.close()
    for backend, rows in out["results"].items():
        for r in rows:
            extra = "" if "round_trips" not in r else f"  round trips {r['round_trips']}"
            print(
                f"{backend:8} caps={r['caps']} {r['path']:18} median {r['median_ms']:.3f} ms  "
                f"p99 {r['p99_ms']:.3f} ms  statements {r['statements']}{extra}"
            )
    print(orjson.dumps(out).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
