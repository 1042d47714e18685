"""Who holds budget reservations (store/budget_holds.py), on SQLite and PostgreSQL: a process's
ledger follows its reserves and settles in their transactions; a sweep charges an expired
owner's holds as spent exactly once, however many sweepers race, and never what a settle
released; a swept owner's late settle adds only what passes the charged hold."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from arbiter.store import Store

CAP = [("tenant:t", 0.0, 1.0), ("global", 0.0, 10.0)]
WINDOWS = [("tenant:t", 0.0), ("global", 0.0)]


def _reserved(store: Store) -> dict[str, float]:
    return {r["scope"]: r["reserved_usd"] for r in store.budget_usage("")}


def _spent(store: Store) -> dict[str, float]:
    return {r["scope"]: r["spent_usd"] for r in store.budget_usage("")}


def test_a_dead_owners_holds_are_charged_once_and_a_live_ones_kept(store: Store) -> None:
    # was "released": a sidecar killed mid-call may have been billed for what it held, and
    # releasing it let a crash-looping sidecar pass a cap without bound (sweep18)
    store.open_budget_lease("dead", expires_ts=100.0)
    store.open_budget_lease("live", expires_ts=1000.0)
    assert store.reserve_budget(CAP, 0.3, "dead") is None
    assert store.reserve_budget(CAP, 0.2, "dead") is None
    assert store.reserve_budget(CAP, 0.1, "live") is None
    assert _reserved(store) == pytest.approx({"tenant:t": 0.6, "global": 0.6})
    # before the dead lease expires, the admin view shows nothing expired; after, its holds
    assert store.expired_budget_holds(now=50.0) == {}
    assert store.expired_budget_holds(now=200.0) == pytest.approx(
        {("tenant:t", 0.0): 0.5, ("global", 0.0): 0.5}
    )
    charged = store.sweep_budget_holds(now=200.0)
    assert sorted((o, s, round(r, 9)) for o, s, _, r in charged) == [
        ("dead", "global", 0.5),
        ("dead", "tenant:t", 0.5),
    ]
    assert _reserved(store) == pytest.approx({"tenant:t": 0.1, "global": 0.1})
    assert _spent(store) == pytest.approx({"tenant:t": 0.5, "global": 0.5})  # charged
    assert store.sweep_budget_holds(now=200.0) == []  # nothing twice
    assert _reserved(store) == pytest.approx({"tenant:t": 0.1, "global": 0.1})
    assert _spent(store) == pytest.approx({"tenant:t": 0.5, "global": 0.5})
    # the dead owner's late settle (it was only stalled) cost less than the charged hold: it
    # adds nothing and releases nothing more
    store.settle_budget(WINDOWS, 0.5, 0.05, "dead")
    assert _reserved(store) == pytest.approx({"tenant:t": 0.1, "global": 0.1})
    assert _spent(store) == pytest.approx({"tenant:t": 0.5, "global": 0.5})
    assert not store.renew_budget_lease("dead", 300.0), "its lease is gone: it must rename"
    # the live owner's settle releases its own hold and adds its cost
    store.settle_budget(WINDOWS, 0.1, 0.02, "live")
    assert _reserved(store) == pytest.approx({"tenant:t": 0.0, "global": 0.0})
    assert _spent(store) == pytest.approx({"tenant:t": 0.52, "global": 0.52})
    assert store.renew_budget_lease("live", 2000.0)


@pytest.mark.parametrize("windows", [WINDOWS, [("tenant:t", 0.0)] * 2], ids=["two", "same-twice"])
def test_a_swept_owners_settle_costing_more_adds_only_the_excess(
    store: Store, windows: list[tuple[str, float]]
) -> None:
    """Total spent = the charged hold, or the real cost when larger; never both. (Distinct
    windows take PostgreSQL's one-statement settle, a window named twice the per-cap one.)"""
    caps = [(s, w, 10.0) for s, w in windows]
    store.open_budget_lease("stalled", expires_ts=100.0)
    assert store.reserve_budget(caps, 0.3, "stalled") is None
    store.sweep_budget_holds(now=200.0)
    before = _spent(store)
    store.settle_budget(windows, 0.3, 0.45, "stalled")  # its call cost more than it held
    after = _spent(store)
    n = {s: windows.count((s, 0.0)) for s, _ in windows}
    assert after == pytest.approx({s: 0.45 * n[s] for s in n})
    assert {s: after[s] - before[s] for s in n} == pytest.approx({s: 0.15 * n[s] for s in n})
    assert _reserved(store) == pytest.approx({s: 0.0 for s in n})


def test_a_clean_stop_releases_its_own_holds_whatever_its_lease(store: Store) -> None:
    """A clean stop settled every charge it had: what its ledger still holds was never called
    under, so it is released, not charged."""
    store.open_budget_lease("me", expires_ts=1000.0)
    store.open_budget_lease("other", expires_ts=1000.0)
    assert store.reserve_budget(CAP, 0.4, "me") is None
    assert store.reserve_budget(CAP, 0.1, "other") is None
    store.sweep_budget_holds(now=10.0, owner="me")
    assert _reserved(store) == pytest.approx({"tenant:t": 0.1, "global": 0.1})
    assert _spent(store) == pytest.approx({"tenant:t": 0.0, "global": 0.0})
    assert store.expired_budget_holds(now=10.0) == {}


def test_a_window_named_by_two_caps_holds_and_releases_twice(store: Store) -> None:
    store.open_budget_lease("o", expires_ts=1000.0)
    twice = [("tenant:t", 0.0, 1.0), ("tenant:t", 0.0, 1.0)]
    assert store.reserve_budget(twice, 0.2, "o") is None
    assert _reserved(store) == pytest.approx({"tenant:t": 0.4})
    store.settle_budget([("tenant:t", 0.0)] * 2, 0.2, 0.0, "o")
    assert _reserved(store) == pytest.approx({"tenant:t": 0.0})
    assert store.sweep_budget_holds(now=2000.0) == [("o", "tenant:t", 0.0, pytest.approx(0.0))]


def test_a_refused_reservation_leaves_no_hold(store: Store) -> None:
    store.open_budget_lease("o", expires_ts=100.0)
    assert store.reserve_budget(CAP, 0.9, "o") is None
    assert store.reserve_budget(CAP, 0.2, "o") is not None  # past the tenant cap: rolled back
    store.sweep_budget_holds(now=200.0)
    assert _reserved(store) == pytest.approx({"tenant:t": 0.0, "global": 0.0})


def test_racing_sweepers_charge_a_dead_owners_holds_once(
    open_: Callable[[], Store],
) -> None:
    stores = [open_() for _ in range(4)]
    first = stores[0]
    for i in range(20):
        first.open_budget_lease(f"dead{i}", expires_ts=100.0)
        assert first.reserve_budget(CAP[1:], 0.25, f"dead{i}") is None
    first.open_budget_lease("live", expires_ts=1000.0)
    assert first.reserve_budget(CAP[1:], 1.0, "live") is None
    released: list[float] = []
    go = threading.Barrier(len(stores))

    def sweep(s: Store) -> None:
        go.wait()
        released.extend(r for _, _, _, r in s.sweep_budget_holds(now=200.0))

    threads = [threading.Thread(target=sweep, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(released) == pytest.approx(20 * 0.25)
    assert _reserved(first) == pytest.approx({"global": 1.0})  # the live owner's hold only
    assert _spent(first) == pytest.approx({"global": 20 * 0.25})  # charged once, not 4 times


def test_one_owners_concurrent_reserves_and_settles_never_deadlock(
    open_: Callable[[], Store],
) -> None:
    """A settle locks the budget rows before the ledger's, as a reserve does: with the ledger
    taken first, a reserve and a settle of the same process waited on each other (PostgreSQL
    aborted one as a deadlock: a capped request failing for nothing)."""
    stores = [open_() for _ in range(6)]
    stores[0].open_budget_lease("o", expires_ts=1e12)
    errors: list[BaseException] = []
    go = threading.Barrier(len(stores))

    def work(s: Store) -> None:
        go.wait()
        try:
            for _ in range(40):
                assert s.reserve_budget(CAP, 0.001, "o") is None
                s.settle_budget(WINDOWS, 0.001, 0.0, "o")
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=work, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert _reserved(stores[0]) == pytest.approx({"tenant:t": 0.0, "global": 0.0})
