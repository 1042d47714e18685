"""A capped request's reserve and settle (store/budget_one_statement.py): on PostgreSQL one
statement each, sent with its BEGIN, lock bound and (settle) COMMIT in one round trip; on both
backends the same answers as the statement-per-cap path had."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import pq

from arbiter.store import Store, StoreError
from arbiter.store.postgres import PostgresStore
from tests.pg import fresh_database, require_pg

CAPS = [("key:k", 0.0, 1.0), ("tenant:t", 0.0, 0.5), ("global", 0.0, 10.0)]
WINDOWS = [(s, w) for s, w, _ in CAPS]


def _usage(store: Store) -> dict[str, tuple[float, float]]:
    return {r["scope"]: (r["spent_usd"], r["reserved_usd"]) for r in store.budget_usage("")}


def _about(usage: dict[str, tuple[float, float]]) -> dict[str, object]:
    return {scope: pytest.approx(pair) for scope, pair in usage.items()}


@pytest.fixture
def pg_store() -> Iterator[PostgresStore]:
    """A PostgreSQL store on a fresh database with one pooled connection (its trace is all)."""
    with fresh_database(require_pg()) as url:
        store = PostgresStore(url, min_size=1, max_size=1)
        store.migrate()
        try:
            yield store
        finally:
            store.close()


def _round_trips(store: PostgresStore, trace: Path, run: Callable[[], None]) -> int:
    """ReadyForQuery messages the server sent while `run` ran: one per round trip."""
    with store._pool.connection() as conn:
        pgconn = conn.pgconn
    with trace.open("w") as f:
        pgconn.trace(f.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            run()
        finally:
            pgconn.untrace()
    return sum(1 for line in trace.read_text().splitlines() if "\tReadyForQuery\t" in line)


@pytest.mark.postgres
def test_a_capped_requests_reserve_and_settle_take_three_round_trips(
    pg_store: PostgresStore, tmp_path: Path
) -> None:
    pg_store.open_budget_lease("o", time.time() + 600)

    def one_request() -> None:
        assert pg_store.reserve_budget(CAPS, 0.01, "o") is None
        pg_store.settle_budget(WINDOWS, 0.01, 0.004, "o")

    one_request()  # the connection's first use (a ping) is not the request's
    # reserve: BEGIN + lock bound + statement, then COMMIT; settle: all of it at once
    # (one per statement before: 26 here, two per cap and window, BEGIN, SET, COMMIT, ledger)
    assert _round_trips(pg_store, tmp_path / "trace", one_request) == 3
    usage = _usage(pg_store)
    assert usage["global"] == pytest.approx((0.008, 0.0))
    released = pg_store.sweep_budget_holds(now=time.time(), owner="o")
    assert sorted(s for _, s, _, _ in released) == sorted(s for s, _ in WINDOWS)
    assert [r for *_, r in released] == pytest.approx([0.0] * 3)  # the settles took it all


def test_a_refusal_by_a_later_cap_rolls_back_the_earlier_ones(store: Store) -> None:
    store.open_budget_lease("o", time.time() + 600)
    assert store.reserve_budget(CAPS, 0.4, "o") is None
    # 0.2 more fits the key's cap (1.0) and the global one, not the tenant's (0.5)
    assert store.reserve_budget(CAPS, 0.2, "o") == ("tenant:t", 0.0, 0.0, pytest.approx(0.4))
    assert _usage(store) == _about(
        {"key:k": (0.0, 0.4), "tenant:t": (0.0, 0.4), "global": (0.0, 0.4)}
    )
    store.settle_budget(WINDOWS, 0.4, 0.1, "o")
    released = store.sweep_budget_holds(now=time.time(), owner="o")
    assert [r for *_, r in released] == pytest.approx([0.0] * 3)  # the refusal held nothing
    assert _usage(store) == _about(
        {"key:k": (0.1, 0.0), "tenant:t": (0.1, 0.0), "global": (0.1, 0.0)}
    )


def test_a_fresh_window_is_refused_an_amount_past_its_limit_and_left_unwritten(
    store: Store,
) -> None:
    assert store.reserve_budget(CAPS, 0.7, "o") == ("tenant:t", 0.0, 0.0, 0.0)
    assert _usage(store) == {}
    assert store.reserve_budget(CAPS, 0.5, None) is None  # exactly the limit fits
    assert _usage(store)["tenant:t"] == pytest.approx((0.0, 0.5))


def test_a_settle_answers_each_windows_spend_in_the_order_asked(store: Store) -> None:
    assert store.reserve_budget(CAPS[:1], 0.3, None) is None
    asked = [("global", 0.0), ("key:k", 0.0)]  # global's row does not exist yet
    assert store.settle_budget(asked, 0.3, 0.25, None) == [
        ("global", 0.0, pytest.approx(0.25)),
        ("key:k", 0.0, pytest.approx(0.25)),
    ]
    assert store.settle_budget(asked, 0.0, 0.5, "o") == [
        ("global", 0.0, pytest.approx(0.75)),
        ("key:k", 0.0, pytest.approx(0.75)),
    ]
    assert _usage(store) == _about({"global": (0.75, 0.0), "key:k": (0.75, 0.0)})


@pytest.mark.postgres
def test_a_lock_timeout_in_the_pipeline_leaves_the_connection_usable(
    pg_store: PostgresStore,
) -> None:
    pg_store.open_budget_lease("o", time.time() + 600)
    assert pg_store.reserve_budget(CAPS, 0.1, "o") is None
    url = pg_store._pool.conninfo
    locked, done = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        with psycopg.connect(url) as conn:
            conn.execute("SELECT 1 FROM budget_usage WHERE scope = 'global' FOR UPDATE")
            locked.set()
            done.wait(30)

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(30)
        with pytest.raises(StoreError):
            pg_store.settle_budget(WINDOWS, 0.1, 0.05, "o")
        with pytest.raises(StoreError):
            pg_store.reserve_budget(CAPS, 0.1, "o")
    finally:
        done.set()
        holder.join(30)
    # the same (only) connection: out of the failed transaction, back to transactions
    assert pg_store.reserve_budget(CAPS, 0.1, "o") is None
    pg_store.settle_budget(WINDOWS, 0.2, 0.05, "o")
    assert _usage(pg_store)["global"] == pytest.approx((0.05, 0.0))
    with pg_store._pool.connection() as conn:
        assert not conn.autocommit


def test_racing_replicas_never_reserve_past_a_fresh_caps_limit(
    open_: Callable[[], Store],
) -> None:
    # two stores (replicas) on one database, racing on windows no row exists for yet: the first
    # reserves insert them, the rest re-check the cap under the row lock
    replicas = [open_(), open_()]
    for i, r in enumerate(replicas):
        r.open_budget_lease(f"r{i}", time.time() + 600)
    granted: list[int] = []
    start = threading.Barrier(8)

    def reserve_some(worker: int) -> None:
        store = replicas[worker % 2]
        start.wait(30)
        for _ in range(5):
            if store.reserve_budget(CAPS, 0.1, f"r{worker % 2}") is None:
                granted.append(worker)

    threads = [threading.Thread(target=reserve_some, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(granted) == 5, "the tenant's cap (0.5) holds five reservations of 0.1, no more"
    assert _usage(replicas[0]) == _about(
        {"key:k": (0.0, 0.5), "tenant:t": (0.0, 0.5), "global": (0.0, 0.5)}
    )
    held = replicas[0].sweep_budget_holds(now=time.time() + 3600)
    assert sum(r for _, s, _, r in held if s == "tenant:t") == pytest.approx(0.5)
    # the expired holds move to spent (sweep18: a dead owner's holds are charged, not released)
    assert _usage(replicas[0])["tenant:t"] == pytest.approx((0.5, 0.0))
