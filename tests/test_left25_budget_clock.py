"""Budget cap windows were cut on each replica's own clock (probe24d): two replicas on one
PostgreSQL store whose clocks differ by 5 minutes disagree on which day's (or month's) window a
call opens in for 5 minutes around each midnight, so one call is reserved in today's window and
the next in tomorrow's. Windows are now cut on the store's clock as each replica last read it:
both replicas' `Budgets.now()` agree, whichever clock is off."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from arbiter import config
from arbiter.offline.demo import demo_settings
from arbiter.services import Services
from arbiter.toml_text import to_toml
from tests.conftest import ENV
from tests.pg import empty_store_url

pytestmark = pytest.mark.postgres


def _replica(url: str, tmp_path: Path, skew_s: float) -> Services:
    """A replica on `url` whose host clock is `skew_s` off."""

    def clock() -> float:
        return time.time() + skew_s

    doc = demo_settings("http://127.0.0.1:9/v1", tmp_path / "unused.db")
    doc["store"]["url"] = url
    svc = Services(config.loads(to_toml(doc), env=ENV), seed=1, budget_clock=clock)
    if hasattr(svc, "state_sync"):  # (base: no such thing; the test fails there as it should)
        svc.state_sync.clock = clock
        svc.state_sync._offset_at = -math.inf
    svc.load_state()
    return svc


@pytest.mark.parametrize("skew_s", [300.0, -300.0])
def test_two_replicas_minutes_apart_cut_cap_windows_on_one_clock(
    tmp_path: Path, skew_s: float
) -> None:
    with empty_store_url("postgres", tmp_path / "unused.db") as url:
        a = _replica(url, tmp_path, 0.0)
        b = _replica(url, tmp_path, skew_s)
        try:
            gap = b.budgets.now() - a.budgets.now()
            assert abs(gap) < 2.0, gap  # the store's clock, read by each (base: 300 s apart)
        finally:
            a.store.close()
            b.store.close()
