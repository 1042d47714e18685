"""rep26: a detected quality change's reset on several replicas (store/arm_resets.py).

1. The reset kept only the resetting replica's grades since the change: what another replica
   pushed between the change and the reset was dropped with the evidence from before it. Now
   each replica's deltas are logged by time (arm_log) and the reset adds the others' since the
   change began.
2. A second change in the same direction within CHANGE_ONCE_S (10 minutes) was taken for the
   first by the store and reset only locally (undone at the next sync; the other replicas kept
   the old belief). Now a change begun after the stored one was detected is a new change.

Two `Services` on one store each (PostgreSQL and SQLite), grades through the learner."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from arbiter.records import PolicyDelta
from arbiter.services import Services
from arbiter.store import arm_resets, open_store
from tests.pg import empty_store_url
from tests.test_rep24_change_reset import TASK, _grade, _stored
from tests.test_shared_slopes import _services

pytestmark = pytest.mark.timeout(90)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _detected(svc: Services) -> int:
    return svc.alerts.changes.get("quality", 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_reset_keeps_what_other_replicas_added_since_the_change(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three replicas grade 10 a round each at 6 good in 10, each syncing each round, until one
    detects. Before: the first reset dropped the grades the other two had pushed since the
    change (about two thirds of them); now every replica's grades since the change count,
    less those before the detector's dating of the change."""
    monkeypatch.setattr(arm_resets.ArmResetsMixin, "ARM_LOG_BUCKET_S", 0.005, raising=False)
    with empty_store_url(backend, tmp_path / "shared.db") as url:
        replicas = [_services(url, tmp_path, seed=s) for s in (1, 2, 3)]
        try:
            a = replicas[0]
            model = next(m.name for m in a.pool if m.name != a.settings.routing.baseline)
            for k, svc in enumerate(replicas):
                _grade(svc, model, range(10_000 * k, 10_000 * k + 200), 9)
            for svc in replicas * 2:
                svc.sync_policy()
            time.sleep(0.2)  # the change begins here
            good = bad = 0
            for r in range(100):
                for k, svc in enumerate(replicas):
                    first = 10_000 * k + 1000 + 10 * r
                    g, b = _grade(svc, model, range(first, first + 10), 6)
                    good, bad = good + g, bad + b
                    svc.sync_policy()
                time.sleep(0.02)
                if any(_detected(svc) for svc in replicas):
                    break
            assert any(_detected(svc) for svc in replicas), "the drop was not detected"
            for svc in replicas * 2:
                svc.sync_policy()
            alpha, beta, n = _stored(a, model)
            print(f"stored {alpha:g}/{beta:g}/{n:g} of {good} good, {bad} bad since the change")
            # base26 kept 54 of 120. Since rep27 a replica dates a change at the first grade of
            # its detector's run, which a good first post-change grade puts a grade or more late
            # per replica (so an idle replica no longer counts another's pre-change grades): the
            # reset keeps 85-95% here, and 101.7 of 120 in 1 of 10 runs (the 0.85 bar failed it)
            assert n >= 0.8 * (good + bad), (alpha, beta, n, good, bad)
            assert alpha <= good + 0.5 and beta <= bad + 0.5, (alpha, beta, good, bad)
            for svc in replicas:
                assert svc.policy.evidence(("default", TASK, model)) == (alpha, beta, n)
        finally:
            for svc in replicas:
                svc.store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_second_change_in_the_same_direction_is_reset_on_every_replica(
    backend: str, tmp_path: Path
) -> None:
    """0.9 good, then 0.5 (A detects, both sync), then 0.1 seconds later (A detects again):
    before, the store took the second reset for the first (within 10 minutes) and kept the
    first's arm plus every delta since (the 0.5 grades outvoting the 0.1 ones on B, and on A
    again from its next sync); now both replicas hold the grades since the second change."""
    with empty_store_url(backend, tmp_path / "shared.db") as url:
        a = _services(url, tmp_path, seed=1)
        b = _services(url, tmp_path, seed=2)
        try:
            model = next(m.name for m in a.pool if m.name != a.settings.routing.baseline)
            _grade(a, model, range(0, 200), 9)
            i = 200
            for level, changes in ((5, 1), (1, 2)):
                while _detected(a) < changes and i < 3000:
                    _grade(a, model, range(i, i + 10), level)
                    i += 10
                if changes == 1:  # the detector re-learns its reference at the new level
                    _grade(a, model, range(i, i + 300), level)
                    i += 300
                a.sync_policy()
                b.sync_policy()
            assert _detected(a) == 2, "the second drop was not detected"
            _grade(a, model, range(i, i + 20), 1)
            for svc in (a, b, a, b):
                svc.sync_policy()
            alpha, beta, n = _stored(a, model)
            print(f"stored {alpha:g}/{beta:g}/{n:g} after the second change")
            for svc in (a, b):
                assert svc.policy.evidence(("default", TASK, model)) == (alpha, beta, n)
            # the grades since the second change: about 1 good in 10 (before: the 5-in-10
            # grades between the changes kept, mean ~0.4)
            assert alpha / n <= 0.2, (alpha, beta, n)
            assert n <= 200, (alpha, beta, n)
        finally:
            a.store.close()
            b.store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_reset_counts_the_others_log_since_its_start(backend: str, tmp_path: Path) -> None:
    """Store level: another replica's logged deltas since the start are added, its earlier
    ones and the resetting replica's own (in its reset's sums already) are not."""
    with empty_store_url(backend, tmp_path / "log.db") as url:
        store = open_store(url)
        try:
            store.migrate()
            key = ("default", TASK, "m")
            store.write([PolicyDelta(*key, 90.0, 10.0, 100.0)], replica="b")  # before
            time.sleep(0.05)
            t0 = store.clock_offset(time.time) + time.time()  # the store's clock
            started = (
                t0 + arm_resets.ArmResetsMixin.ARM_LOG_BUCKET_S * 2
            )  # none of the log is after
            rows = [(*key, "down", 1.0, 4.0, 5.0, started, started + 1, 0.9, 0.2)]
            assert store.reset_arms(rows, 600.0, "a") == 1
            arm = store.load_arms("default")[0]
            assert (arm.alpha, arm.beta, arm.n) == (1.0, 4.0, 5.0)
            store.write([PolicyDelta(*key, 2.0, 8.0, 10.0)], replica="b")
            store.write([PolicyDelta(*key, 1.0, 1.0, 2.0)], replica="a")
            began = t0 - 3600.0  # a change begun before all of the log: every row of b's
            rows = [(*key, "up", 1.0, 0.0, 1.0, began, began + 10, 0.2, 0.9)]
            assert store.reset_arms(rows, 600.0, "a") == 1
            arm = store.load_arms("default")[0]
            assert (arm.alpha, arm.beta, arm.n) == (93.0, 18.0, 111.0)
            # a replica that dates the same change after its detection (its first grades since
            # came later), measured from the same level before: the same change, not applied
            late = (*key, "up", 9.0, 0.0, 9.0, began + 20, began + 30, 0.25, 0.95)
            assert store.reset_arms([late], 600.0, "b") == 0
            # an older replica's reset moves `ts` alone: the levels left are not its change's
            with store._tx() as cur:
                cur.execute(
                    store._sql("UPDATE arm_resets SET ts = %s WHERE direction = 'up'"),
                    (began + 100,),
                )
            after_old = (*key, "up", 9.0, 0.0, 9.0, began + 150, began + 160, 0.25, 0.95)
            assert store.reset_arms([after_old], 600.0, "b") == 1
            # kept a day: a row older is pruned by a logged write
            store.write([PolicyDelta(*key, 1.0, 0.0, 1.0)])  # (not logged: no replica)
            with store._tx() as cur:
                cur.execute(
                    store._sql("UPDATE arm_log SET bucket = bucket - %s WHERE replica = 'a'"),
                    (arm_resets.ARM_LOG_KEEP_S + 60,),
                )
            store._arm_log_writes = 0  # this write prunes
            store.write([PolicyDelta(*key, 0.0, 1.0, 1.0)], replica="b")
            with store._ro() as cur:
                cur.execute("SELECT DISTINCT replica FROM arm_log")
                assert [r[0] for r in cur.fetchall()] == ["b"]
        finally:
            store.close()
