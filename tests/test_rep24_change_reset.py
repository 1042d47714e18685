"""rep24: a quality change two replicas both detect is reset once. Each replica made the arm's
evidence the grades since the change by an additive delta computed from its own view; when
both detected before either's delta had synced, the evidence from before the change was
subtracted twice (probe24d: alpha 100 / beta 20 stored at alpha -80, read as 0 good / 20 bad
until 80 more good grades came). Now the reset sets the stored sums once per change
(store/arm_resets.py): the arm ends as the grades since the change, never below them, never
negative, and the next good grades count at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from arbiter.learning import Answered
from arbiter.records import PolicyDelta
from arbiter.services import Services
from arbiter.store import open_store
from arbiter.store.arm_resets import ArmResetsMixin
from tests.pg import empty_store_url
from tests.test_shared_slopes import _services

pytestmark = pytest.mark.timeout(60)

TASK = "math"


def _grade(svc: Services, model: str, ids: range, good_in_10: int) -> tuple[int, int]:
    """Grades `ids` of `model` through the learner, `good_in_10` of every 10 good; returns
    (good, bad)."""
    good = 0
    for i in ids:
        score = 1.0 if i % 10 < good_in_10 else 0.0
        good += int(score)
        answered = Answered(f"d{i}", "default", TASK, model, "q", "a", "stop", None, 0.0)
        svc.learner._apply(f"d{i}", answered, score, "auto", "test")
    return good, len(ids) - good


def _degrade(svc: Services, model: str, first: int) -> tuple[int, int]:
    """2 good grades in 10 until the replica's detector finds the drop, then 10 more."""
    good = bad = 0
    for start in range(first, first + 300, 10):
        g, b = _grade(svc, model, range(start, start + 10), 2)
        good, bad = good + g, bad + b
        if svc.alerts.changes.get("quality"):
            g, b = _grade(svc, model, range(start + 10, start + 20), 2)
            return good + g, bad + b
    raise AssertionError("the drop was not detected in 300 grades")


def _stored(svc: Services, model: str) -> tuple[float, float, float]:
    arm = next(a for a in svc.store.load_arms("default") if (a.task, a.model) == (TASK, model))
    return arm.alpha, arm.beta, arm.n


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_change_both_replicas_detect_is_reset_once(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the other replica's grades logged in the bucket a change began in count pro rata
    # (store/arm_resets.py): 50 ms buckets, and the change 0.1 s after the last sync
    monkeypatch.setattr(ArmResetsMixin, "ARM_LOG_BUCKET_S", 0.05)
    with empty_store_url(backend, tmp_path / "shared.db") as url:
        a = _services(url, tmp_path, seed=1)
        b = _services(url, tmp_path, seed=2)
        try:
            model = next(m.name for m in a.pool if m.name != a.settings.routing.baseline)
            _grade(a, model, range(0, 200), 9)  # 9 good in 10 on each replica, shared
            _grade(b, model, range(10_000, 10_200), 9)
            for svc in (a, b, a, b):
                svc.sync_policy()
            assert _stored(a, model)[:2] == (360.0, 40.0)
            time.sleep(0.1)
            # the model degrades to 2 good in 10: both replicas detect before either syncs
            ga, ba = _degrade(a, model, 1000)
            gb, bb = _degrade(b, model, 20_000)
            for svc in (a, b, a, b):
                svc.sync_policy()
            alpha, beta, n = _stored(a, model)
            assert alpha >= 0 and beta >= 0, f"negative evidence stored: {alpha}, {beta}"
            # the grades since the change: never more than after it, nor much fewer (each
            # replica's detector places the change a few grades late)
            assert alpha <= ga + gb and beta <= ba + bb, (alpha, beta)
            assert n >= 0.75 * (ga + gb + ba + bb), (alpha, beta, n)
            for svc in (a, b):
                assert svc.policy.evidence(("default", TASK, model)) == (alpha, beta, n)
            # the next good grades count at once (before: swallowed by the negative sums)
            _grade(a, model, range(5000, 5010), 10)
            a.sync_policy()
            assert _stored(a, model)[0] == alpha + 10
        finally:
            a.store.close()
            b.store.close()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_reset_is_applied_once_per_arm_and_direction_in_its_window(
    backend: str, tmp_path: Path
) -> None:
    """The second reset of the same change (another replica's, or a retry of a write whose
    reply was lost) leaves the arm as the first set it, deltas since included; the other
    direction, or a change begun after the first was detected, is a new change."""
    with empty_store_url(backend, tmp_path / "resets.db") as url:
        store = open_store(url)
        try:
            store.migrate()
            key = ("default", TASK, "m")
            store.write([PolicyDelta(*key, 100.0, 20.0, 120.0)])
            # (started, detected) on the store's clock: the change began at 1000, found at 1100;
            # the mean grade 0.9 before it, 0.2 after
            down = (*key, "down", 2.0, 8.0, 10.0, 1000.0, 1100.0, 0.9, 0.2)
            assert store.reset_arms([down], 600.0) == 1
            store.write([PolicyDelta(*key, 1.0, 0.0, 1.0)])
            # the same change (it began before 1100), found by another replica
            again = (*key, "down", 3.0, 9.0, 12.0, 1010.0, 1200.0, 0.9, 0.25)
            assert store.reset_arms([again], 600.0) == 0
            arm = store.load_arms("default")[0]
            assert (arm.alpha, arm.beta, arm.n) == (3.0, 8.0, 11.0)
            assert (
                store.reset_arms([(*key, "up", 5.0, 1.0, 6.0, 1000.0, 1100.0, 0.2, 0.8)], 600.0)
                == 1
            )
            # a change begun after the first's detection, from its level after: a new one
            second = (*key, "down", 0.0, 4.0, 4.0, 1150.0, 1160.0, 0.2, 0.0)
            assert store.reset_arms([second], 600.0) == 1
            arm = store.load_arms("default")[0]
            assert (arm.alpha, arm.beta, arm.n) == (0.0, 4.0, 4.0)
            # its start not known: one per window, as before
            assert (
                store.reset_arms([(*key, "down", 1.0, 1.0, 2.0, 0.0, 1700.0, 0.0, 0.0)], 600.0) == 0
            )
            assert (
                store.reset_arms([(*key, "down", 1.0, 1.0, 2.0, 0.0, 1800.0, 0.0, 0.0)], 600.0) == 1
            )
        finally:
            store.close()
