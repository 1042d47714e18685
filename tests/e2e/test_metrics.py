"""Durable metrics against a live sidecar: Prometheus text at /metrics, the per-minute time series
at /arbiter/timeseries (tenant-scoped), `arbiter export`, and retention pruning."""

from __future__ import annotations

import csv
import gzip
import io
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from arbiter import config
from arbiter.offline.demo import demo_settings
from arbiter.services import Services
from arbiter.toml_text import to_toml
from tests.conftest import ENV, Sidecar
from tests.store.conftest import decision, grade


@pytest.fixture
def sidecar_config(tmp_path: Path, sim_url: str) -> Path:
    """The demo config without the LLM judge, so every decision is one a client asked for."""
    path = tmp_path / "arbiter.toml"
    doc = demo_settings(sim_url, tmp_path / "arbiter.db")
    del doc["routing"]["judge_model"]
    path.write_text(to_toml(doc))
    return path


BODY = {"model": "auto", "messages": [{"role": "user", "content": "Write a haiku about rain."}]}


def chat(sidecar: Sidecar, key: str, body: object = BODY) -> httpx.Response:
    r = httpx.post(
        f"{sidecar.base_url}/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )
    r.raise_for_status()
    return r


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of the exposition, by sample name (validates the format as it parses)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def total(found: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    return sum(v for _, v in found.get(name, []))


def test_metrics_count_what_was_served_and_need_the_admin_key(sidecar: Sidecar) -> None:
    key = str(sidecar.create_key("m1")["key"])
    replies = [chat(sidecar, key) for _ in range(5)]
    replies.append(chat(sidecar, key, {**BODY, "model": "sim-small"}))
    assert httpx.get(f"{sidecar.root_url}/metrics").status_code == 401
    denied = httpx.get(f"{sidecar.root_url}/metrics", headers={"authorization": f"Bearer {key}"})
    assert denied.status_code == 403, "a tenant key must not read every tenant's totals"
    r = sidecar.admin("GET", "/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(r.text)
    assert total(found, "arbiter_requests_total") == 6
    by_model: dict[str, float] = {}
    for labels, v in found["arbiter_requests_total"]:
        assert set(labels) == {"model", "task", "status"}
        assert labels["status"] in ("ok", "failed")
        by_model[labels["model"]] = by_model.get(labels["model"], 0) + v
    for rep in replies:
        assert by_model.get(rep.headers["x-arbiter-model"], 0) >= 1
    cost = sum(float(rep.headers["x-arbiter-cost-usd"]) for rep in replies)
    baseline = sum(float(rep.headers["x-arbiter-baseline-cost-usd"]) for rep in replies)
    assert total(found, "arbiter_cost_usd_total") == pytest.approx(cost, rel=1e-6)
    assert total(found, "arbiter_baseline_cost_usd_total") == pytest.approx(baseline, rel=1e-6)
    assert total(found, "arbiter_request_latency_seconds_count") == 6
    infs = [v for lab, v in found["arbiter_request_latency_seconds_bucket"] if lab["le"] == "+Inf"]
    assert sum(infs) == 6
    assert found["arbiter_store_backlog"][0][1] >= 0
    assert found["arbiter_store_up"][0][1] == 1
    # the live server's lifespan runs the event-loop lag monitor (arbiter.loop_lag)
    assert total(found, "arbiter_event_loop_lag_seconds_count") >= 1
    assert "arbiter_event_loop_lag_max_seconds" in found
    assert "tenant" not in r.text, "tenants are never a label (unbounded cardinality)"


def test_grade_mean_and_circuit_gauges(sidecar: Sidecar) -> None:
    key = str(sidecar.create_key("m2")["key"])
    rep = chat(sidecar, key)
    fb = httpx.post(
        f"{sidecar.base_url}/feedback",
        json={"decision_id": rep.headers["x-arbiter-decision-id"], "score": 0.25},
        headers={"authorization": f"Bearer {key}"},
    )
    assert fb.status_code == 200
    found = samples(sidecar.admin("GET", "/metrics").text)
    model, task = rep.headers["x-arbiter-model"], rep.headers["x-arbiter-task"]
    means = {(lab["model"], lab["task"]): v for lab, v in found["arbiter_grade_mean"]}
    assert (model, task) in means and 0.0 <= means[(model, task)] <= 1.0
    assert total(found, "arbiter_grades_total") >= 1


def test_timeseries_is_tenant_scoped_and_filters(sidecar: Sidecar) -> None:
    a = str(sidecar.create_key("ts-a")["key"])
    b = str(sidecar.create_key("ts-b")["key"])
    models = [chat(sidecar, a).headers["x-arbiter-model"] for _ in range(3)]
    for _ in range(2):
        chat(sidecar, b)

    def series(key: str | None, **params: str | float) -> list[dict[str, object]]:
        headers = {"authorization": f"Bearer {key}"} if key else None
        if key is None:
            r = sidecar.admin("GET", "/arbiter/timeseries", params=params)
        else:
            r = httpx.get(f"{sidecar.root_url}/arbiter/timeseries", params=params, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()["data"]  # type: ignore[no-any-return]

    def requests(points: list[dict[str, object]]) -> int:
        return sum(int(p["requests"]) for p in points)  # type: ignore[call-overload]

    assert requests(series(a)) == 3
    assert requests(series(b)) == 2
    other = httpx.get(  # a tenant cannot ask for another tenant: a 403, not its own data
        f"{sidecar.root_url}/arbiter/timeseries",
        params={"tenant": "ts-a"},
        headers={"authorization": f"Bearer {b}"},
    )
    assert other.status_code == 403 and other.json()["error"]["param"] == "tenant", other.text
    assert requests(series(b, tenant="ts-b")) == 2
    assert requests(series(None)) >= 5
    assert requests(series(None, tenant="ts-a")) == 3
    model = models[0]
    assert requests(series(a, model=model)) == models.count(model)
    assert requests(series(a, task="creative")) + requests(series(a, task="chat")) <= 3
    point = series(a)[0]
    for k in ("ts", "cost_usd", "baseline_cost_usd", "savings_usd", "p50_ms", "p99_ms"):
        assert k in point
    assert int(point["ts"]) % 60 == 0  # type: ignore[call-overload]
    # a window in the future is empty; one whose since is after its until is a 400 naming both
    # (it was a 200 with nothing, read as "no traffic")
    assert series(a, since=time.time() + 600, until=time.time() + 1200) == []
    inverted = sidecar.admin("GET", "/arbiter/timeseries", params={"since": time.time() + 600})
    assert inverted.status_code == 400 and inverted.json()["error"]["param"] == "since"
    assert "'until'" in inverted.json()["error"]["message"], inverted.text
    assert series(a, since="2020-01-01", until="2020-01-02") == []
    assert requests(series(a, since="1h")) == 3
    bad = httpx.get(
        f"{sidecar.root_url}/arbiter/timeseries",
        params={"since": "yesterday-ish"},
        headers={"authorization": f"Bearer {a}"},
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "since"


def test_export_cli_writes_every_decision(sidecar: Sidecar, sidecar_config: Path) -> None:
    key = str(sidecar.create_key("exp")["key"])
    ids = {chat(sidecar, key).headers["x-arbiter-decision-id"] for _ in range(4)}
    sidecar.admin("GET", "/arbiter/decisions")  # flushes the recorder
    out = sidecar_config.parent / "export.csv"
    base = [sys.executable, "-m", "arbiter", "export", "--config", str(sidecar_config)]
    args = ["--since", "2026-01-01", "--tenant", "exp"]
    done = subprocess.run([*base, *args, "--format", "csv", "--out", str(out)],
                          env=ENV, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["id"] for r in rows} == ids
    assert all(r["tenant"] == "exp" and float(r["cost_usd"]) > 0 for r in rows)
    done = subprocess.run([*base, *args, "--format", "jsonl"],
                          env=ENV, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert {d["id"] for d in lines} == ids
    assert [d["ts"] for d in lines] == sorted(d["ts"] for d in lines)
    future = subprocess.run([*base, "--since", "2999-01-01", "--format", "jsonl"],
                            env=ENV, capture_output=True, text=True, timeout=60)  # fmt: skip
    # a time past now is refused as the API refuses it (rest22: was 0 rows, silently)
    assert future.returncode == 2 and future.stdout == "" and "in the future" in future.stderr
    bad = subprocess.run([*base, "--since", "soonish"], env=ENV, capture_output=True, timeout=60)
    assert bad.returncode == 2


def test_retention_prunes_old_records_and_minutes(tmp_path: Path) -> None:
    doc = demo_settings("http://127.0.0.1:9/v1", tmp_path / "r.db")
    doc["routing"]["difficulty"] = False
    doc["store"].update(retention_days=7, timeseries_retention_days=30)
    settings = config.loads(to_toml(doc), env=ENV)
    services = Services(settings, seed=1)
    services.load_state()
    now = time.time()
    store = services.store
    store.write([decision("old", ts=now - 10 * 86400), grade("old", 0.5, ts=now - 10 * 86400)])
    store.write([decision("ancient", ts=now - 40 * 86400), decision("new", ts=now - 60)])
    deleted = services.prune_once(now)
    assert deleted == {
        "rollups": 1,
        "rollups_hour": 1,
        "rollups_global": 2,  # the ancient minute and its hour
        "rollups_learning": 0,  # no learning call
        "decisions": 2,
        "grades": 1,
        "alerts": 0,
    }
    assert store.decision("new") is not None and store.decision("old") is None
    points = store.timeseries(tenant="t1", since=now - 50 * 86400, until=now + 60)
    assert sum(p["requests"] for p in points) == 2, "10-day-old minutes outlive their records"
    assert store.stats(tenant=None)["requests"] == 3, "stats keep all history (the totals)"
    services.store.close()


def test_retention_settings_are_validated(tmp_path: Path) -> None:
    from arbiter.errors import ConfigError

    def with_store(**extra: int) -> str:
        doc = demo_settings("http://127.0.0.1:9/v1", tmp_path / "r.db")
        doc["store"].update(extra)
        return to_toml(doc)

    for bad in ({"retention_days": -1}, {"prune_interval_s": 0}):
        with pytest.raises(ConfigError, match="store"):
            config.loads(with_store(**bad), env=ENV)
    s = config.loads(with_store(retention_days=0), env=ENV)
    assert s.store.retention_days == 0 and s.store.timeseries_retention_days == 400


def test_retention_archives_before_it_deletes(tmp_path: Path) -> None:
    doc = demo_settings("http://127.0.0.1:9/v1", tmp_path / "r.db")
    doc["store"].update(retention_days=7, archive_dir=str(tmp_path / "archive"))
    services = Services(config.loads(to_toml(doc), env=ENV), seed=1)
    services.load_state()
    now = time.time()
    services.store.write([decision("old", ts=now - 10 * 86400), decision("new", ts=now - 60)])
    assert services.prune_once(now)["decisions"] == 1
    [path] = (tmp_path / "archive").iterdir()
    assert [orjson.loads(x)["id"] for x in gzip.decompress(path.read_bytes()).splitlines()] == [
        "old"
    ]
    services.store.close()
