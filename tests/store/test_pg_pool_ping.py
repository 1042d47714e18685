"""The PostgreSQL pool pings a connection before use only when it sat idle: under load a ping
before every call was one more round trip and one more (empty) transaction on the server per
store call, doubling the commits each request costs (bench/scale_replicas.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from arbiter.store.postgres import PostgresStore
from tests.pg import fresh_database, require_pg

pytestmark = pytest.mark.postgres


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database(require_pg()) as u:
        yield u


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every empty query a connection sends (psycopg_pool's liveness check)."""
    sent: list[str] = []
    real = psycopg.Connection.execute

    def spy(self: psycopg.Connection[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        if query == "":
            sent.append(query)
        return real(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", spy)
    return sent


def test_back_to_back_calls_are_not_pinged(url: str, pings: list[str]) -> None:
    store = PostgresStore(url)
    try:
        store.migrate()
        pings.clear()
        for _ in range(50):
            store.reserve_budget([("tenant:t", 0.0, 1.0)], 0.001)
    finally:
        store.close()
    assert len(pings) <= 1, f"{len(pings)} pings for 50 calls"


def test_an_idle_connection_the_server_dropped_is_replaced_without_a_failed_call(
    url: str, pings: list[str]
) -> None:
    store = PostgresStore(url, ping_idle_s=0.05)
    try:
        store.migrate()
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        time.sleep(0.2)  # idle longer than ping_idle_s: checked before use
        pings.clear()
        assert store.budget_usage("") == []  # no StoreError: the dead connection was replaced
        assert pings, "the idle connection was handed out unchecked"
    finally:
        store.close()
