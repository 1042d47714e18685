"""The `usage_dropped` alert is one per deployment each 10 minutes, not one per process.

Each process limits its own alerts (billing_alerts.py); with `server.workers = N` (or N replicas
on one store) each worker raised its own, N alerts a window for one broken upstream. The store
now keeps the first of the window (AlertRecord.once_every_s): here two workers' writers, each
with its own store connection, race their alerts of one model on both backends (one stored; a
second model's own; the next window's stored), and a real two-worker `arbiter serve` answers
24 calls without usage, spread over both workers (the kernel's SO_REUSEPORT: fix24), with one
alert."""

from __future__ import annotations

import re
import time
import tomllib
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from arbiter.billing_alerts import ALERT_EVERY_S
from arbiter.records import SYSTEM_TENANT, AlertRecord
from arbiter.toml_text import to_toml
from tests.alert_race import race, stored, two_stores, worker_alerts
from tests.conftest import Sidecar
from tests.fault_upstream import fault_upstream
from tests.probe19a_harness import config


def _worker_alerts(model: str) -> list[AlertRecord]:
    """The alerts one worker raises for one usage_dropped of `model`."""
    return worker_alerts(lambda billing: billing.usage_dropped(model, 0.001, 0.1, "both"))


def _stored(store: object, model: str) -> list[dict[str, object]]:
    return stored(store, "usage_dropped", model)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_workers_on_one_store_store_one_alert_a_window(backend: str, tmp_path: Path) -> None:
    with two_stores(backend, tmp_path) as stores:
        for round_ in range(5):  # the two writers at once, each round another model
            model = f"m-{round_}"
            alerts = [_worker_alerts(model), _worker_alerts(model)]
            assert [len(a) for a in alerts] == [1, 1]  # each process raised its own
            race(stores, alerts)
            assert len(_stored(stores[0], model)) == 1, _stored(stores[0], model)
        # an alert not limited is stored every time
        plain = AlertRecord("alr_p1", time.time(), SYSTEM_TENANT, "usage_dropped", "x", "m-0")
        stores[1].write([plain])
        assert len(_stored(stores[0], "m-0")) == 2
        # the next window's first is stored again
        later = _worker_alerts("m-1")[0]
        stores[1].write([replace(later, ts=later.ts + ALERT_EVERY_S + 1)])
        assert len(_stored(stores[0], "m-1")) == 2


def _dropped_counts(s: Sidecar) -> dict[str, float]:
    """arbiter_usage_dropped_total{model="oa-1"} by worker (its arbiter_start_time_seconds line,
    which under workers carries its `worker` label: metrics_worker.py), as each worker's /metrics
    tells it (fresh connections: the kernel spreads them)."""
    seen: dict[str, float] = {}
    for _ in range(40):
        lines = s.admin("GET", "/metrics").text.splitlines()
        started = next(
            x
            for x in lines
            if x.startswith(("arbiter_start_time_seconds ", "arbiter_start_time_seconds{"))
        )
        counts = [
            float(x.rsplit(" ", 1)[1])
            for x in lines
            if x.startswith("arbiter_usage_dropped_total{") and 'model="oa-1"' in x
        ]
        seen[started] = counts[0] if counts else 0.0
    return seen


def test_a_two_worker_sidecar_alerts_once(tmp_path: Path) -> None:
    calls = 24
    with fault_upstream() as up:
        up.reset(oa_1="nousage")
        cfg = tmp_path / "arbiter.toml"
        doc = tomllib.loads(config(up.port, tmp_path / "a.db"))
        doc["server"]["workers"] = 2
        cfg.write_text(to_toml(doc))
        # its own port, not an inherited socket: each worker its SO_REUSEPORT socket, so the
        # kernel spreads the fresh connections below by their addresses (all 24 to one worker:
        # 2 in 2^24); /healthz answers 200 only once both serve (worker_ready.py). On one
        # inherited socket the worker that woke first accepted: once all 24 went to one.
        s = Sidecar(cfg, reuseport=True).start()
        try:
            key = str(s.create_key("default")["key"])
            ids = []
            for _ in range(calls):  # a fresh connection each: both workers answer some
                r = httpx.post(
                    f"{s.base_url}/chat/completions",
                    headers={"authorization": f"Bearer {key}"},
                    json={"model": "oa-1", "messages": [{"role": "user", "content": "ok?"}]},
                    timeout=30,
                )
                assert r.status_code == 200, r.text
                ids.append(r.headers["x-arbiter-decision-id"])
            counts = _dropped_counts(s)
            # both workers answered some (and counted them)
            assert len(counts) == 2 and all(counts.values()), counts
            assert sum(counts.values()) == calls, counts
            # each worker's alert was submitted before its decisions: once every decision is
            # stored, so is every alert raised
            deadline = time.monotonic() + 20
            while True:
                feed = s.admin("GET", "/arbiter/decisions", params={"limit": 100}).json()
                if set(ids) <= {d["id"] for d in feed["data"]}:
                    break
                assert time.monotonic() < deadline, "the decisions were not stored"
                time.sleep(0.05)
            alerts = s.admin("GET", "/arbiter/alerts", params={"limit": 100}).json()["data"]
            mine = [a for a in alerts if a["kind"] == "usage_dropped" and a["model"] == "oa-1"]
            assert len(mine) == 1, mine
            assert re.search(r"no usage at all", mine[0]["message"]), mine
        finally:
            s.stop()
