"""Outside probe (twelfth session): PostgreSQL drops every connection of the sidecar's pool (a
server restart, a failover, an operator's `pg_terminate_backend`), and is back at once.

store/postgres.py says a server restart costs at most one failed call. It cost seven seconds:
the first call on a dropped connection failed and closed the gate for its 1 s cooldown, as
meant, but the probe after it drew the pool's next dropped connection, and psycopg_pool's check
loop backs off 1, 2, 4 s between dead connections, so the probe ran into the pool's 5 s timeout.
Meanwhile every store call failed fast: decisions buffered, keys served stale, and capped
requests spent the outage allowance and then got 503s, seconds after the server was fine again.
A connection that breaks mid-call now has the pool sweep its idle connections in the background
(`ConnectionPool.check`), so the probe after the cooldown gets a live one."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg_pool.pool
import pytest

from arbiter.store import Store, StoreError, open_store
from tests.pg import fresh_database, require_pg

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(60)]

COOLDOWN_S = 1.0  # the gate's: calls fail fast this long after a connection failure


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database(require_pg()) as u:
        yield u


def _kill_backends(url: str) -> int:
    with psycopg.connect(require_pg(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (url.rsplit("/", 1)[1],),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _fill_pool(store: Store, threads: int = 8) -> None:
    """Several connections in the pool, each given back a moment ago (so not pinged on reuse)."""
    gate = threading.Barrier(threads)

    def reads() -> None:
        gate.wait()
        for _ in range(5):
            store.model_overrides()
            time.sleep(0.02)

    workers = [threading.Thread(target=reads) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=20)


def test_the_call_after_the_cooldown_gets_a_live_connection(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(url)
    backoffs: list[float] = []
    real_sleep = psycopg_pool.pool.sleep

    def counted_sleep(seconds: float) -> None:
        backoffs.append(seconds)
        real_sleep(seconds)

    try:
        store.migrate()
        _fill_pool(store)
        assert _kill_backends(url) >= 3
        with pytest.raises(StoreError):  # the one failed call: its connection was dropped
            store.model_overrides()
        time.sleep(COOLDOWN_S + 0.3)
        # psycopg_pool's check loop sleeps (1 s, 2 s, 4 s less jitter) after each dead
        # connection it draws, its module's only sleep: counted, not timed, so a loaded host
        # cannot fail this (it was `took < 0.8 s`)
        monkeypatch.setattr(psycopg_pool.pool, "sleep", counted_sleep)
        assert store.model_overrides() == {}  # PoolTimeout after 5 s, with 4 or more dropped
        assert backoffs == [], "backed off through dropped connections"
    finally:
        store.close()


def test_after_connections_kept_being_dropped_the_store_is_back_within_seconds(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same, while calls are under way and the server keeps dropping connections for 2 s
    (a flapping failover). A probe that drew dropped connections sat in psycopg_pool's check
    loop, backing off 1, 2, 4 s between them, into the pool's 5 s timeout, with live idle
    connections beside it; the next probe could do the same: the store stayed "down" for 5-13 s
    after the server stopped dropping connections. A dropped connection drawn from the pool is
    now discarded and the next one tried at once (the backoff only after a pool's worth)."""
    store = open_store(url)
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            with contextlib.suppress(StoreError):  # failing fast while it is down, as meant
                store.model_overrides()
            time.sleep(0.01)

    workers = [threading.Thread(target=traffic) for _ in range(8)]
    try:
        store.migrate()
        for w in workers:
            w.start()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.0:  # bounded: about 13 rounds
            _kill_backends(url)
            time.sleep(0.15)
        # from here no connection is dropped: the dead ones left in the pool are skipped at once.
        # psycopg_pool's check loop sleeps (1, 2, 4 s) after each dead connection it draws, what
        # kept the store "down" 5-13 s: counted for the draws that begin from now on, not timed
        # (it was `found < 3.5 s`, which a loaded host could pass over with no backoff at all). A
        # draw begun during the drops may have met a pool's worth of them: its backoff is meant.
        calm = time.monotonic()
        backoffs: list[float] = []
        began = threading.local()
        real_sleep, real_getconn = psycopg_pool.pool.sleep, psycopg_pool.ConnectionPool.getconn

        def timed_getconn(pool: psycopg_pool.ConnectionPool, timeout: float | None = None) -> Any:
            began.at = time.monotonic()
            return real_getconn(pool, timeout)

        def counted_sleep(seconds: float) -> None:
            if getattr(began, "at", 0.0) >= calm:
                backoffs.append(seconds)
            real_sleep(seconds)

        monkeypatch.setattr(psycopg_pool.ConnectionPool, "getconn", timed_getconn)
        monkeypatch.setattr(psycopg_pool.pool, "sleep", counted_sleep)
        found = None
        while time.monotonic() - calm < 20:  # eventual: the gate's cooldown, a probe, a reconnect
            try:
                store.model_overrides()
                found = time.monotonic() - calm
                break
            except StoreError:
                time.sleep(0.05)
        assert found is not None, "the store never came back"
        assert backoffs == [], f"backed off through dropped connections (back after {found:.1f}s)"
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=10)
        store.close()
