"""probe24d: a detected change is alerted once per deployment: a latency change two replicas
both detect in their own calls (oa-1's calls alternating between them, 60 ms then 180 ms) is one
latency_change in /arbiter/alerts (before: one per replica), and after an upgrade a change the
previous release alerted (it stored no price factor, so the change is learnt again) is not
alerted a second time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from arbiter.records import AlertRecord
from arbiter.store import open_store
from tests.fault_upstream import fault_upstream
from tests.pg import empty_store_url
from tests.probe24d_rig import Serve, adopt_x4, config_text, serve, until

pytestmark = pytest.mark.timeout(120)


def _delayed(s: Serve, delay: float) -> None:
    text = f"Say hello. [[fault:oa-1=delay@{delay:.3f}]]"
    s.gpt.chat.completions.create(model="oa-1", messages=[{"role": "user", "content": text}])


@pytest.mark.postgres
def test_a_latency_change_both_replicas_detect_is_alerted_once(tmp_path: Path) -> None:
    """oa-1's calls alternate between two replicas, 60 ms then 180 ms: each replica's detector
    finds the change in its own calls (each counts it in its /metrics) and the deployment's
    /arbiter/alerts holds one latency_change (before: one per replica)."""
    with fault_upstream() as up, empty_store_url("postgres", tmp_path / "unused.db") as url:
        cfg = tmp_path / "arbiter.toml"
        cfg.write_text(config_text(up.port, tmp_path, url))
        with serve(cfg) as a, serve(cfg, a.gpt.api_key) as b:
            for i in range(30):
                _delayed((a, b)[i % 2], 0.06)
            for i in range(60):
                _delayed((a, b)[i % 2], 0.18)
                if i % 2 and a.counted("latency_change") and b.counted("latency_change"):
                    break
            else:
                raise AssertionError("not detected by both replicas in 30 calls each")
            until(lambda: a.alerts("latency_change"), "the alert stored")
            time.sleep(0.5)  # the other replica's write behind (flush_interval_ms 20)
            changes = a.alerts("latency_change")
            assert len(changes) == 1, changes
            assert changes[0]["data"]["direction"] == "up", changes


def test_a_change_the_previous_release_alerted_is_not_alerted_again(tmp_path: Path) -> None:
    """The previous release stored no price factor: after an upgrade, oa-1's x4 is learned
    again (within 5 calls) and must not be alerted a second time. Its alert, written before
    the upgrade, carries no `change_key` (this release's key for quality changes): price and
    latency alerts are told apart by their `direction`, which both carry."""
    with fault_upstream() as up:
        cfg = tmp_path / "arbiter.toml"
        cfg.write_text(config_text(up.port, tmp_path))
        store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
        store.migrate()
        data = {"signal": "price", "direction": "up", "before": 1.0, "after": 4.0}
        old = AlertRecord("alr_old", time.time() - 60, "_system", "price_change", "x4", "oa-1",
                          data=data)  # fmt: skip
        store.write([old])
        store.close()
        with serve(cfg) as b:
            adopt_x4(b)  # learnt again (x1 for 8 calls, then x4)
            time.sleep(0.5)  # its alert's write behind (flush_interval_ms 20)
            changes = b.alerts("price_change")
            assert [c["id"] for c in changes] == ["alr_old"], changes
