"""rep26b: a replica's backlog from a store outage, in another replica's reset (arm_log).

The policy sync took one batch at the outage's first failed sync and held it (the grades after
waited in the policy), then wrote both when the store came back, logged as of then: grades from
before a change begun meanwhile counted as grades since it in another replica's reset. Now a
batch is taken each sync through the outage and logged as of when it was taken.

Two `Services` on one store (PostgreSQL and SQLite), grades through the learner; A's store
calls fail while it is down (`_down`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from arbiter import state_sync
from arbiter.services import Services
from arbiter.store import StoreError, arm_resets
from tests.pg import empty_store_url
from tests.test_rep24_change_reset import TASK, _grade, _stored
from tests.test_shared_slopes import _services

pytestmark = pytest.mark.timeout(90)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _down(svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """The replica's store writes fail as on a dead connection (the sync's first call)."""

    def refused(*args: Any, **kwargs: Any) -> None:
        raise StoreError("connection refused (simulated outage)")

    monkeypatch.setattr(svc.store, "write", refused)
    monkeypatch.setattr(svc.store, "reset_arms", refused)
    monkeypatch.setattr(svc.store, "write_batches", refused)  # (rep27: the queue's writes)


def _sync_fails(svc: Services) -> None:
    with pytest.raises(StoreError):
        svc.sync_policy()


def _both_at_0_9(a: Services, b: Services) -> str:
    """The model both replicas grade at 0.9 (200 grades each), synced twice each: the level
    before the change."""
    model = next(m.name for m in a.pool if m.name != a.settings.routing.baseline)
    _grade(a, model, range(0, 200), 9)
    _grade(b, model, range(10_000, 10_200), 9)
    for svc in (a, b, a, b):
        svc.sync_policy()
    return model


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_outage_backlog_from_before_a_change_is_not_counted_since_it(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A grades at 0.9 through an outage (two failed syncs), the change begins, B grades at 0.6,
    A's store comes back after B's first round, B detects: before, A's 110 good-mostly grades
    from before the change were added to B's reset (stored n = B's grades + ~110); now the
    reset holds B's grades since the change alone."""
    monkeypatch.setattr(arm_resets.ArmResetsMixin, "ARM_LOG_BUCKET_S", 0.05, raising=False)
    with empty_store_url(backend, tmp_path / "shared.db") as url:
        a = _services(url, tmp_path, seed=1)
        b = _services(url, tmp_path, seed=2)
        try:
            model = _both_at_0_9(a, b)
            with monkeypatch.context() as outage:
                _down(a, outage)
                _grade(a, model, range(200, 210), 9)
                _sync_fails(a)  # the outage's first sync: a batch taken and held
                _grade(a, model, range(210, 310), 9)
                _sync_fails(a)  # the grades since: waited in the policy (before)
                time.sleep(0.3)  # the change begins here (6 log buckets later)
                good = bad = 0
                g, b_ = _grade(b, model, range(11_000, 11_010), 6)
                good, bad = good + g, bad + b_
                b.sync_policy()
                time.sleep(0.1)
            a.sync_policy()  # back: the backlog written, after the change began
            for r in range(1, 60):
                first = 11_000 + 10 * r
                g, b_ = _grade(b, model, range(first, first + 10), 6)
                good, bad = good + g, bad + b_
                b.sync_policy()
                if b.alerts.changes.get("quality", 0):
                    break
            assert b.alerts.changes.get("quality", 0), "the drop was not detected"
            assert not a.alerts.changes.get("quality", 0)
            for svc in (a, b, a, b):
                svc.sync_policy()
            alpha, beta, n = _stored(a, model)
            print(f"stored {alpha:g}/{beta:g}/{n:g} of B's {good} good, {bad} bad since the change")
            # B's grades since the change (its detector dates the start a few grades late);
            # before: A's 110 grades at 0.9 from before the change on top
            assert n <= good + bad + 0.5, (alpha, beta, n, good, bad)
            assert n >= 0.6 * (good + bad), (alpha, beta, n, good, bad)
            assert alpha / n < 0.75, (alpha, beta, n)
            for svc in (a, b):
                assert svc.policy.evidence(("default", TASK, model)) == (alpha, beta, n)
        finally:
            a.store.close()
            b.store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_outage_backlog_written_after_another_replicas_reset_is_not_added(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, but A's store comes back only after B's reset: before, A's 100 grades at 0.9
    from before the change were added to the arm the reset had just set to the grades since
    it (an ordinary delta); now a batch taken before a stored reset's change began adds no
    grade (migration 0072: the reset's `started`)."""
    monkeypatch.setattr(arm_resets.ArmResetsMixin, "ARM_LOG_BUCKET_S", 0.05, raising=False)
    with empty_store_url(backend, tmp_path / "shared.db") as url:
        a = _services(url, tmp_path, seed=1)
        b = _services(url, tmp_path, seed=2)
        try:
            model = _both_at_0_9(a, b)
            good = bad = 0
            with monkeypatch.context() as outage:
                _down(a, outage)
                _grade(a, model, range(200, 300), 9)
                _sync_fails(a)
                time.sleep(0.3)  # the change begins here
                for r in range(60):
                    first = 11_000 + 10 * r
                    g, b_ = _grade(b, model, range(first, first + 10), 6)
                    good, bad = good + g, bad + b_
                    b.sync_policy()
                    if b.alerts.changes.get("quality", 0):
                        break
                assert b.alerts.changes.get("quality", 0), "the drop was not detected"
                b.sync_policy()  # the reset is stored
            for svc in (a, b, a, b):
                svc.sync_policy()
            alpha, beta, n = _stored(a, model)
            print(f"stored {alpha:g}/{beta:g}/{n:g} of B's {good} good, {bad} bad since the change")
            assert n <= good + bad + 0.5, (alpha, beta, n, good, bad)
            assert n >= 0.6 * (good + bad), (alpha, beta, n, good, bad)
            for svc in (a, b):
                assert svc.policy.evidence(("default", TASK, model)) == (alpha, beta, n)
        finally:
            a.store.close()
            b.store.close()


def test_the_outage_queue_is_bounded_and_loses_no_grade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past UNSENT_MAX batches the grades wait in the policy (one batch once the queue is
    written): the held batches stay bounded, and every grade reaches the store once."""
    monkeypatch.setattr(state_sync, "UNSENT_MAX", 3)
    with empty_store_url("sqlite", tmp_path / "shared.db") as url:
        a = _services(url, tmp_path, seed=1)
        try:
            model = next(m.name for m in a.pool if m.name != a.settings.routing.baseline)
            with monkeypatch.context() as outage:
                _down(a, outage)
                for k in range(10):
                    _grade(a, model, range(10 * k, 10 * k + 10), 9)
                    _sync_fails(a)
                    assert len(a.state_sync._unsent) == min(k + 1, 3)
            a.sync_policy()
            a.sync_policy()
            assert not a.state_sync._unsent
            assert _stored(a, model) == (90.0, 10.0, 100.0)
        finally:
            a.store.close()
