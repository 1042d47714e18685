"""rep27: a replica that missed a first quality change finds a second one (store/arm_resets.py).

Three `Services` on one store (PostgreSQL and SQLite), grades through the learner. A and B
grade at 0.9, then 0.5 (A detects: the store resets); C was idle all along, its detector still
on 0.9. Then 0.1: C alone grades, and detects a drop measured from 0.9. Before, the store took
it for the first change (same level before) and kept the 0.5 grades; the second change was
reset only once A and B found it themselves, each measured from 0.5, as a change after the
store's (the store reset again, dropping C's grades). Now C's reset applies (its level after is
past the stored one's), stored from the level the store held (0.5), and A's and B's later
detections are the same change: adopted, not repeated."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from arbiter.services import Services
from arbiter.store import arm_resets
from tests.pg import empty_store_url
from tests.test_rep24_change_reset import TASK, _grade, _stored
from tests.test_shared_slopes import _services

pytestmark = pytest.mark.timeout(90)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _detected(svc: Services) -> int:
    return svc.alerts.changes.get("quality", 0)


def _until_detected(svc: Services, model: str, first: int, good_in_10: int) -> tuple[int, int]:
    """Rounds of 10 grades, a sync after each, until `svc` detects; returns (good, bad)."""
    good = bad = 0
    seen = _detected(svc)
    for start in range(first, first + 600, 10):
        g, b = _grade(svc, model, range(start, start + 10), good_in_10)
        good, bad = good + g, bad + b
        svc.sync_policy()
        if _detected(svc) > seen:
            return good, bad
    raise AssertionError("the drop was not detected in 600 grades")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_replica_that_missed_a_change_resets_the_next_and_others_adopt_it(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arm_resets.ArmResetsMixin, "ARM_LOG_BUCKET_S", 0.01, raising=False)
    with empty_store_url(backend, tmp_path / "shared.db") as url:
        a, b, c = (_services(url, tmp_path, seed=s) for s in (1, 2, 3))
        try:
            model = next(m.name for m in a.pool if m.name != a.settings.routing.baseline)
            for k, svc in enumerate((a, b, c)):
                _grade(svc, model, range(10_000 * k, 10_000 * k + 200), 9)
            for svc in (a, b, c, a, b, c):
                svc.sync_policy()
            time.sleep(0.05)  # the first change (C idle from here)
            _until_detected(a, model, 300, 5)
            # A and B at 0.5, their detectors' reference re-learned there
            _grade(a, model, range(1000, 1300), 5)
            _grade(b, model, range(11_000, 11_300), 5)
            for svc in (a, b, c, a, b, c):
                svc.sync_policy()
            assert _detected(a) == 1 and not _detected(c)
            time.sleep(0.05)  # the second change: C alone grades, at 0.1
            good, bad = _until_detected(c, model, 20_300, 1)
            for svc in (a, b, c):
                svc.sync_policy()
            alpha, beta, n = _stored(a, model)
            print(f"after C's reset {alpha:g}/{beta:g}/{n:g} of C's {good} good, {bad} bad")
            # C's grades since the change (before: A's and B's 600 grades at 0.5 kept)
            assert n <= good + bad + 0.5 and alpha / n <= 0.25, (alpha, beta, n)
            # A and B find it too (their reference at 0.5): the store's reset is adopted
            for svc, first in ((a, 2000), (b, 12_000)):
                g, b_ = _until_detected(svc, model, first, 1)
                good, bad = good + g, bad + b_
            for svc in (a, b, c, a, b, c):
                svc.sync_policy()
            alpha, beta, n = _stored(a, model)
            print(f"after all three {alpha:g}/{beta:g}/{n:g} of {good} good, {bad} bad")
            # every grade since the change but the first one or two (a detector dates a change
            # at its first grade that moved the statistic: a good one among the first is not)
            assert n >= good + bad - 2.5 and alpha / n <= 0.25, (alpha, beta, n, good, bad)
            with c.store._ro() as cur:
                cur.execute("SELECT level_before, level_after FROM arm_resets")
                (before, after), *more = cur.fetchall()
            assert not more and 0.4 <= before <= 0.6 and after <= 0.2, (before, after, more)
            for svc in (a, b, c):
                assert svc.policy.evidence(("default", TASK, model)) == (alpha, beta, n)
        finally:
            for svc in (a, b, c):
                svc.store.close()


@pytest.mark.parametrize(
    ("stored", "new", "expected"),
    [
        # the first change found late (began after the stored detection, from 0.9): the same
        ((100.0, 0.9, 0.5, 100.0), (150.0, 0.9, 0.45), (True, 150.0, 0.9)),
        # from 0.9 to past 0.5 by over half the stored jump: a replica that missed the first
        # change found a second; stored from 0.5, the level the store held
        ((100.0, 0.9, 0.5, 100.0), (150.0, 0.9, 0.1), (False, 150.0, 0.5)),
        # its run began before the stored detection: the second began after it at the earliest
        ((100.0, 0.9, 0.5, 100.0), (50.0, 0.9, 0.1), (False, 100.0, 0.5)),
        # a replica that saw the first measures the second from 0.5: a new change (rep26)
        ((100.0, 0.9, 0.5, 100.0), (150.0, 0.5, 0.1), (False, 150.0, 0.5)),
        # that second change as stored from 0.5, found by a replica whose run began before
        ((200.0, 0.5, 0.1, 200.0), (180.0, 0.5, 0.12), (True, 180.0, 0.5)),
        # a rise: past the stored level after upwards
        ((100.0, 0.2, 0.5, 100.0), (150.0, 0.2, 0.9), (False, 150.0, 0.5)),
        # an older replica's row (its levels not written with its `ts`): by time alone
        ((100.0, 0.9, 0.5, 90.0), (150.0, 0.9, 0.1), (False, 150.0, 0.9)),
        ((100.0, 0.9, 0.5, 90.0), (50.0, 0.9, 0.1), (True, 50.0, 0.9)),
    ],
)
def test_same_change(
    stored: arm_resets.StoredReset,
    new: tuple[float, float, float],
    expected: tuple[bool, float, float],
) -> None:
    started, before, after = new
    got = arm_resets.same_change(stored, started, started + 5.0, (before, after), 600.0)
    assert got == pytest.approx(expected)
