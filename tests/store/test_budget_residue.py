"""Settling reservations leaves no floating-point residue in `reserved_usd` (both backends, with
and without a process's ledger, and through a sweep): 0.1 and 0.2 reserved, then released, sum to
0.30000000000000004 and leave 2.8e-17 behind when subtracted naively. /arbiter/budgets showed such
a residue (1.08e-19) after cut completion streams; it is not money and must read exactly 0."""

from __future__ import annotations

import pytest

from arbiter.store import Store

CAP = [("tenant:t", 0.0, 1.0), ("global", 0.0, 10.0)]
WINDOWS = [("tenant:t", 0.0), ("global", 0.0)]


def _reserved(store: Store) -> dict[str, float]:
    return {r["scope"]: r["reserved_usd"] for r in store.budget_usage("")}


@pytest.mark.parametrize("owner", [None, "me"])
def test_settling_what_was_reserved_leaves_exactly_zero(store: Store, owner: str | None) -> None:
    if owner is not None:
        store.open_budget_lease(owner, expires_ts=1000.0)
    assert store.reserve_budget(CAP, 0.1, owner) is None
    assert store.reserve_budget(CAP, 0.2, owner) is None
    store.settle_budget(WINDOWS, 0.1, 0.05, owner)
    store.settle_budget(WINDOWS, 0.2, 0.07, owner)
    assert _reserved(store) == {"tenant:t": 0.0, "global": 0.0}  # exact, not approx
    # a real remainder is kept to the last digit: only residue settles to 0
    assert store.reserve_budget(CAP, 0.3, owner) is None
    assert store.reserve_budget(CAP, 1e-9, owner) is None
    store.settle_budget(WINDOWS, 0.3, 0.0, owner)
    assert _reserved(store) == pytest.approx({"tenant:t": 1e-9, "global": 1e-9}, abs=1e-15)


def test_a_sweep_leaves_exactly_zero(store: Store) -> None:
    store.open_budget_lease("dead", expires_ts=100.0)
    store.open_budget_lease("live", expires_ts=1000.0)
    assert store.reserve_budget(CAP, 0.1, "live") is None
    assert store.reserve_budget(CAP, 0.2, "dead") is None
    store.settle_budget(WINDOWS, 0.1, 0.05, "live")
    store.sweep_budget_holds(now=200.0)
    assert _reserved(store) == {"tenant:t": 0.0, "global": 0.0}
