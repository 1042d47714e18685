"""rep27: an outage's queue of policy batches written a bounded number per transaction
(store/policy_batches.py), each batch's stamping kept (rep26b: its id, its resets before its
deltas, no grade on an arm a stored reset's change began after it was taken, its log bucket).

Before, each of up to 1,000 queued batches was a transaction of its own on the sync thread
(bench/outage_backlog.py: ~3.6 s on PostgreSQL, 0.2 s now)."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arbiter.records import PolicyDelta
from arbiter.store import StoreError, arm_resets, open_store
from tests.pg import empty_store_url
from tests.test_shared_slopes import _services

pytestmark = pytest.mark.timeout(120)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_long_outage_queue_is_written_in_a_few_transactions(backend: str, tmp_path: Path) -> None:
    """1,000 failed syncs (the store's transactions refused), each after grades on two arms;
    back, one sync writes the queue: before, 1,000 transactions; now 10. Every grade once."""
    with empty_store_url(backend, tmp_path / "shared.db") as url:
        svc = _services(url, tmp_path, seed=1)
        store: Any = svc.store
        try:
            model = next(m.name for m in svc.pool if m.name != svc.settings.routing.baseline)
            keys = [("default", "math", model), ("default", "code", model)]

            def refused() -> None:
                raise StoreError("connection refused (simulated outage)")

            store._tx = refused
            for _ in range(1000):
                for key in keys:
                    svc.policy.add(key, 1.0, 0.0, 1.0)
                with pytest.raises(StoreError):
                    svc.sync_policy()
            del store._tx
            opened, txs = store._tx, []

            @contextlib.contextmanager
            def counted() -> Iterator[Any]:
                txs.append(1)
                with opened() as cur:
                    yield cur

            store._tx = counted
            svc.sync_policy()
            del store._tx
            print(f"{len(txs)} transactions for 1,000 queued batches")
            assert not svc.state_sync._unsent
            for key in keys:
                arm = next(a for a in store.load_arms("default") if a.task == key[1])
                assert (arm.alpha, arm.beta, arm.n) == (1000.0, 0.0, 1000.0)
            # the queue's transactions, and the sync's other writes (latency, fits: a few)
            assert len(txs) <= 15, len(txs)
        finally:
            svc.store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_queued_batch_keeps_its_own_stamps(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 batches 1 s apart in one write: another replica's stored reset begun between the
    15th and 16th (their grades before it left out on its arm), a reset of another arm in
    the 21st (applied before its deltas), each batch logged in the bucket of when it was taken
    (1 s buckets here); the same batches again (a retry): nothing added."""
    monkeypatch.setattr(arm_resets.ArmResetsMixin, "ARM_LOG_BUCKET_S", 1.0, raising=False)
    with empty_store_url(backend, tmp_path / "stamps.db") as url:
        store = open_store(url)
        try:
            store.migrate()
            one, two = ("default", "math", "m"), ("default", "code", "m")
            store.write([PolicyDelta(*one, 90, 10, 100), PolicyDelta(*two, 90, 10, 100)])
            t0 = math.floor(time.time()) - 100.0  # this process's clock
            offset = store.clock_offset(time.time)  # the store's, less this one's
            began = t0 + 14.5 + offset
            reset = [(*one, "down", 3.0, 7.0, 10.0, began, began + 1.0, 0.9, 0.3)]
            assert store.reset_arms(reset, 600.0, "b") == 1
            own = (*two, "down", 1.0, 1.0, 2.0, t0 + 19.5 + offset, t0 + 20 + offset, 0.9, 0.5)
            batches = [
                (
                    f"q{i}",
                    [own] if i == 20 else [],
                    [PolicyDelta(*one, 1.0, 1.0, 2.0), PolicyDelta(*two, 2.0, 0.0, 2.0)],
                    t0 + i,
                )
                for i in range(30)
            ]
            assert store.write_batches(batches, 600.0, "a") == 30
            arms = {a.task: (a.alpha, a.beta, a.n) for a in store.load_arms("default")}
            # one: the reset's 3/7/10 and the 15 batches taken after its change began
            assert arms["math"] == (3.0 + 15, 7.0 + 15, 10.0 + 30)
            # two: every delta until the 21st's reset, then its sums and the deltas since
            assert arms["code"] == (1.0 + 2 * 10, 1.0, 2.0 + 2 * 10)
            with store._ro() as cur:
                cur.execute(
                    "SELECT task, bucket, alpha, beta, n FROM arm_log WHERE replica = 'a' "
                    "ORDER BY task, bucket"
                )
                logged = [tuple(r) for r in cur.fetchall()]
            code = [r[1] for r in logged if r[0] == "code"]
            # one bucket a batch, 1 s apart; the first arm's from the 16th on
            assert [b - code[0] for b in code] == list(range(30)), code
            assert [r[1] for r in logged if r[0] == "math"] == code[15:], logged
            assert store.write_batches(batches, 600.0, "a") == 0  # a retry: all applied
            assert _sums(store) == arms
        finally:
            store.close()


def _sums(store: Any) -> dict[str, tuple[float, float, float]]:
    return {a.task: (a.alpha, a.beta, a.n) for a in store.load_arms("default")}
