"""PostgreSQL reads run in autocommit (no BEGIN/COMMIT round trips), and the connection they used
goes back to the pool ready for a write transaction: the history APIs' p95 at 10M decisions
(bench/scale_history.py) was mostly those round trips on a busy host."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from arbiter.records import Attempt, Candidate
from arbiter.store import StoreError
from arbiter.store.postgres import PostgresStore
from tests.pg import fresh_database, require_pg

from .conftest import decision

pytestmark = pytest.mark.postgres

IDLE = psycopg.pq.TransactionStatus.IDLE


@pytest.fixture
def store() -> Iterator[PostgresStore]:
    with fresh_database(require_pg()) as url:
        s = PostgresStore(url, max_size=1)  # one connection: every call reuses the read's
        try:
            s.migrate()
            yield s
        finally:
            s.close()


def test_a_read_opens_no_transaction(store: PostgresStore) -> None:
    with store._ro() as cur:
        cur.execute("SELECT count(*) FROM decisions")
        assert cur.fetchone() == (0,)
        assert cur.connection.info.transaction_status == IDLE  # type: ignore[attr-defined]


def test_a_write_after_reads_is_still_one_transaction(store: PostgresStore) -> None:
    assert store.decisions(tenant=None, limit=10) == []
    # a read that fails still gives its connection back
    with pytest.raises(StoreError), store._ro() as cur:
        cur.execute("SELECT no_such_column FROM decisions")
    bad = decision("bad")
    object.__setattr__(bad, "tenant", None)  # NOT NULL violation after a good row
    with pytest.raises(StoreError):
        store.write([decision("good"), bad])
    assert store.decisions(tenant=None, limit=10) == []  # the good row was rolled back too
    with store._pool.connection() as conn:
        assert conn.autocommit is False


def test_json_columns_come_back_as_written(store: PostgresStore) -> None:
    """jsonb is parsed by orjson now (as SQLite's text JSON is): same values as json.loads."""
    why = "context window 8192 < 9120 tokens, ünïcode \u2603"
    cand = Candidate("small", 0.1 + 0.2, 0.5, 1e-7, eligible=False, why_not=why)
    d = decision("d")
    object.__setattr__(d, "candidates", (cand,))
    object.__setattr__(d, "attempts", (Attempt("small", False, 12.5, "upstream_timeout", 504),))
    store.write([d])
    [got] = store.decisions(tenant=None, limit=1)
    assert got["candidates"] == [
        {"model": "small", "score": 0.1 + 0.2, "mean": 0.5, "est_cost_usd": 1e-7,
         "eligible": False, "why_not": why}
    ]  # fmt: skip
    assert got["attempts"] == [
        {"model": "small", "ok": False, "latency_ms": 12.5, "error": "upstream_timeout",
         "status": 504, "ttft_ms": None, "billed": None, "held_ms": 0.0}
    ]  # fmt: skip
