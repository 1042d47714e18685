"""The latency model's shared rows carried each replica's own clock (probe24d, rep24): a
replica 5 minutes ahead stamped its latency epoch (a detected change's new level) 5 minutes
later than it was, so a change another replica adopted after it, on time, was older by the
stamps: every replica went back to the first level, the later one lost. Rows are now written
and read on the store's clock (`store.clock_offset`, state_sync.py): the later change wins on
both replicas, whichever's clock is off."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from arbiter.services import Services
from tests.pg import empty_store_url
from tests.test_shared_slopes import _services

pytestmark = pytest.mark.postgres


def _skew(svc: Services, by_s: float) -> None:
    """`svc`'s clock `by_s` off (as a replica's whose host clock is)."""

    def clock() -> float:
        return time.time() + by_s

    svc.latency._clock = clock  # type: ignore[attr-defined]
    if hasattr(svc, "state_sync"):  # (base: no such thing; the test fails there as it should)
        svc.state_sync.clock = clock
        svc.state_sync._offset_at = -math.inf  # read at start on the clock before the skew


def _ttft_ms(svc: Services, model: str) -> float:
    return math.exp(svc.latency.estimate(model).ttft_mu) * 1000


@pytest.mark.parametrize("skew_s", [300.0, -300.0])
def test_the_later_latency_change_wins_on_both_replicas(tmp_path: Path, skew_s: float) -> None:
    with empty_store_url("postgres", tmp_path / "unused.db") as url:
        a = _services(url, tmp_path, seed=1)
        b = _services(url, tmp_path, seed=2)
        try:
            # the replica whose clock is off adopts first when it is ahead, second when behind:
            # either way the one off stamps the earlier change later than the other
            first, second = (b, a) if skew_s > 0 else (a, b)
            _skew(b, skew_s)
            model = next(m.name for m in a.pool)
            first.latency.adopt(model, ttft_ms=2000.0, tokens_per_s=50.0)
            first.sync_policy()
            second.sync_policy()
            assert _ttft_ms(second, model) == pytest.approx(2000.0, rel=0.2)
            time.sleep(0.05)  # then the model changes again, seen by the other replica
            second.latency.adopt(model, ttft_ms=100.0, tokens_per_s=50.0)
            second.sync_policy()
            first.sync_policy()
            second.sync_policy()
            for who, svc in (("first", first), ("second", second)):
                assert _ttft_ms(svc, model) == pytest.approx(100.0, rel=0.2), who
        finally:
            a.store.close()
            b.store.close()
