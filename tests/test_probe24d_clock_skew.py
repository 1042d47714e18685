"""probe24d: a PostgreSQL replica whose clock is 5 minutes off. Budget leases (and discovery's
one-poller lease, the same way) were written and
swept on each replica's own clock: a replica 5 minutes ahead found every other replica's lease
(budgets.lease_s, seconds) long expired and charged the holds of their calls in flight as spent
(each then billed its worst case, and a budget_hold_charged alert); a replica 5 minutes behind
had its own lease read as expired by everyone else. Leases are now written and compared on the
store's clock: each replica's own reading only says how far ahead of it the lease runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from arbiter.store import open_store
from tests.pg import empty_store_url

pytestmark = pytest.mark.postgres

CAP = [("tenant:t", 0.0, 1.0)]
LEASE_S = 30.0


def _skewed(monkeypatch: pytest.MonkeyPatch, by_s: float) -> float:
    """This process's clock `by_s` off from here on (as a replica's whose clock is): its now."""
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + by_s)
    return time.time()


@pytest.mark.parametrize("skew_s", [300.0, -300.0])
def test_a_replica_with_its_clock_off_neither_sweeps_nor_loses_live_leases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, skew_s: float
) -> None:
    with empty_store_url("postgres", tmp_path / "unused.db") as url:
        store = open_store(url)
        try:
            store.migrate()
            # replica A, on time, holds $0.40 for a call in flight under a 30 s lease
            store.open_budget_lease("a", time.time() + LEASE_S)
            assert store.reserve_budget(CAP, 0.4, "a") is None
            # replica B, its clock skew_s off, holds $0.20 under its own lease, and sweeps
            now_b = _skewed(monkeypatch, skew_s)
            store.open_budget_lease("b", now_b + LEASE_S)
            assert store.reserve_budget(CAP, 0.2, "b") is None
            assert store.expired_budget_holds(now_b) == {}
            assert store.sweep_budget_holds(now_b) == []
            monkeypatch.undo()
            # A, on time, sweeps too: B's lease (written on B's clock) is live
            assert store.sweep_budget_holds(time.time()) == []
            (row,) = store.budget_usage("tenant:t")
            assert row["reserved_usd"] == pytest.approx(0.6) and row["spent_usd"] == 0.0
            assert store.renew_budget_lease("a", time.time() + LEASE_S)
            # a lease that really lapsed is still swept, by either
            store.open_budget_lease("c", time.time() - 1.0)
            assert store.reserve_budget(CAP, 0.1, "c") is None
            now_b = _skewed(monkeypatch, skew_s)
            assert [r[0] for r in store.sweep_budget_holds(now_b)] == ["c"]
        finally:
            store.close()


@pytest.mark.parametrize("skew_s", [300.0, -300.0])
def test_a_replica_with_its_clock_off_does_not_take_a_live_discovery_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, skew_s: float
) -> None:
    """Discovery's lease (one poller per upstream) the same way: A polls under a 180 s lease
    (3 intervals of 60 s); B, its clock off, may not take it while A renews, nor A B's."""
    with empty_store_url("postgres", tmp_path / "unused.db") as url:
        store = open_store(url)
        try:
            store.migrate()
            assert store.claim_discovery("up", "a", time.time(), 180.0)
            now_b = _skewed(monkeypatch, skew_s)
            assert not store.claim_discovery("up", "b", now_b, 180.0)
            monkeypatch.undo()
            assert store.claim_discovery("up", "a", time.time(), 180.0)  # renewed
            store.release_discovery("up", "a")
            now_b = _skewed(monkeypatch, skew_s)
            assert store.claim_discovery("up", "b", now_b, 180.0)
            monkeypatch.undo()
            assert not store.claim_discovery("up", "a", time.time(), 180.0)
        finally:
            store.close()
