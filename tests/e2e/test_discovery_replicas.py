"""Two sidecars on one PostgreSQL database see the same discovered models: one polls (it holds the
store's lease), both adopt what it found, a model that leaves the listing leaves both pools, and
when the poller stops the other one takes its lease over."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from arbiter.offline.demo import demo_config, sim_config
from tests.conftest import Sidecar, start_sim
from tests.pg import fresh_database, require_pg
from tests.test_discovery import HIDDEN

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


def _discovered(s: Sidecar) -> dict[str, bool]:
    view = s.admin("GET", "/arbiter/admin/models").json()["data"]
    return {m["name"]: m["enabled"] for m in view if m["source"] == "discovered"}


def _wait(check: object, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.2)
    assert check(), "timed out"  # type: ignore[operator]


def test_two_replicas_share_discovered_models(tmp_path: Path) -> None:
    base = require_pg()
    sim_cfg = tmp_path / "sim.toml"
    sim_cfg.write_text(sim_config() + HIDDEN)
    sim, sim_root = start_sim(sim_cfg)
    sim_url = f"{sim_root}/v1"
    try:
        with fresh_database(base) as url:
            text = demo_config(sim_url, tmp_path / "unused.db").replace(
                "[upstreams.sim]\n",
                "[upstreams.sim]\ndiscover = true\ndiscover_interval_s = 1\n",
            )
            text = text.replace('[store]\nurl = "sqlite:///' + str(tmp_path / "unused.db") + '"',
                                f'[store]\nurl = "{url}"\nsync_interval_ms = 300')  # fmt: skip
            assert url in text
            (tmp_path / "a.toml").write_text(text)
            a = Sidecar(tmp_path / "a.toml").start()
            b = Sidecar(tmp_path / "a.toml").start()
            try:
                control = f"{sim_root}/_sim/control"
                httpx.post(control, json={"model": "sim-new", "listed": True}).raise_for_status()
                _wait(lambda: _discovered(a).get("sim-new") and _discovered(b).get("sim-new"))
                key = str(b.create_key("t")["key"])
                r = httpx.post(
                    f"{b.base_url}/chat/completions",
                    headers={"authorization": f"Bearer {key}"},
                    json={"model": "sim-new", "messages": [{"role": "user", "content": "hi"}]},
                )
                assert r.status_code == 200, r.text
                polls = [
                    s.admin("GET", "/arbiter/admin/models").json()["discovery"]["sim"]["polls"]
                    for s in (a, b)
                ]
                assert sorted(p > 0 for p in polls) == [False, True], polls  # one poller
                httpx.post(control, json={"model": "sim-new", "listed": False}).raise_for_status()
                _wait(lambda: not _discovered(a)["sim-new"] and not _discovered(b)["sim-new"])
                # the poller stops (and gives its lease up): the other one takes over
                poller, other = (a, b) if polls[0] else (b, a)
                poller.stop()

                def other_polls() -> bool:
                    view = other.admin("GET", "/arbiter/admin/models").json()
                    return bool(view["discovery"]["sim"]["polls"])

                _wait(other_polls, 5.0)
                httpx.post(control, json={"model": "sim-new", "listed": True}).raise_for_status()
                _wait(lambda: _discovered(other)["sim-new"], 5.0)
            finally:
                a.stop()
                b.stop()
    finally:
        sim.stop()
