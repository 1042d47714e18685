"""probe24d: a price change the detector adopted is learned state, and kept as such. oa-1's
upstream reports usage.cost at 4x its configured price; within 5 calls a price_change alert is
raised and the registry prices oa-1 at x4 (routing, reservations, /arbiter/admin/models).

- Restart: the sidecar stopped (SIGTERM) and started again on its store still prices oa-1 at
  x4, and its next x4 calls raise no second price_change (before: the factor lived in memory
  only: the restarted sidecar priced oa-1 at x1 and alerted the same change again).
- Replicas: on one PostgreSQL database, replica B, which made no call of oa-1, prices it at x4
  within a few sync intervals of A's adoption, and B's own x4 calls raise no alert of their
  own (before: B kept x1 until its own detector found the change, and alerted it again).
- The stored factor is the last adopted in commit order, whatever the adopting replicas' clocks
  say (one 5 minutes ahead does not outrank a later adoption)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from arbiter.config import ModelSettings
from arbiter.price_factor_sync import SharedPriceFactors
from arbiter.registry import Registry
from arbiter.store import open_store
from tests.fault_upstream import fault_upstream
from tests.pg import empty_store_url
from tests.probe24d_rig import adopt_x4, config_text, serve, until
from tests.probe_rig import recorded_decision

pytestmark = pytest.mark.timeout(120)


def test_an_adopted_price_is_kept_across_a_restart_and_not_alerted_again(tmp_path: Path) -> None:
    with fault_upstream() as up:
        cfg = tmp_path / "arbiter.toml"
        cfg.write_text(config_text(up.port, tmp_path))
        with serve(cfg) as a:
            adopt_x4(a)
            assert a.price_in() == pytest.approx(4000.0)
            until(lambda: a.alerts("price_change"), "the price_change alert stored")
            key = a.gpt.api_key
        with serve(cfg, key) as b:
            assert b.price_in() == pytest.approx(4000.0), "the adopted price lost by a restart"
            for _ in range(6):  # past the detector's warm-up (5 calls)
                b.priced(4.0)
            assert b.counted("price_change") == 0
            changes = b.alerts("price_change")
            assert len(changes) == 1, changes


@pytest.mark.postgres
def test_a_replicas_adopted_price_reaches_the_others_and_is_alerted_once(tmp_path: Path) -> None:
    with fault_upstream() as up, empty_store_url("postgres", tmp_path / "unused.db") as url:
        cfg = tmp_path / "arbiter.toml"
        cfg.write_text(config_text(up.port, tmp_path, url))
        with serve(cfg) as a, serve(cfg, a.gpt.api_key) as b:
            b.priced(1.0, "oa-2")  # B is warm, and has priced no call of oa-1
            adopt_x4(a)
            until(lambda: b.price_in() == pytest.approx(4000.0), "B prices oa-1 at x4", 3.0)
            routed = b.priced(4.0, "auto")  # dearer than oa-2 now: B routes there, saying why
            assert routed.headers["x-arbiter-model"] == "oa-2"
            reason = recorded_decision(b.sidecar, routed.headers["x-arbiter-decision-id"])["reason"]
            assert "change: oa-1: price now x4.00" in reason, reason
            for _ in range(6):
                b.priced(4.0)
            assert b.counted("price_change") == 0
            changes = until(lambda: a.alerts("price_change"), "A's alert stored")
            assert len(changes) == 1, changes


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_the_newest_adoption_wins_whatever_a_replicas_clock_says(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replica A (its clock 5 minutes ahead) adopts x4; then B (on time) adopts x1 again: C,
    reading the store after both, prices the model at x1. A reads B's too."""
    with empty_store_url(backend, tmp_path / "a.db") as url:
        store = open_store(url)
        store.migrate()
        models = {"m": ModelSettings("m", "u", 1.0, 2.0)}
        regs = [Registry(models) for _ in range(3)]
        shared = [SharedPriceFactors() for _ in range(3)]
        forgot: list[str] = []
        now = time.time()
        monkeypatch.setattr(time, "time", lambda: now + 300.0)
        regs[0].adopt_price_factor("m", 4.0)
        shared[0].adopted(regs[0], "m", 4.0)
        assert shared[0].sync(store, regs[0], forgot.append) == []  # its own: no change
        assert shared[1].sync(store, regs[1], forgot.append) == [("m", 4.0)]
        assert regs[1].price_factor("m") == 4.0 and forgot == ["m"]
        monkeypatch.setattr(time, "time", lambda: now)
        regs[1].adopt_price_factor("m", 1.0)
        shared[1].adopted(regs[1], "m", 1.0)
        shared[1].sync(store, regs[1], forgot.append)
        for i in (2, 0):
            shared[i].sync(store, regs[i], forgot.append)
            assert regs[i].price_factor("m") == 1.0, i
        store.close()
