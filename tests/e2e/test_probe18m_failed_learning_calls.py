"""An outsider's probe of who pays for Arbiter's own calls, and whether the records say so: with
the judge and a challenger failing (5xx, which budget.py settles at the call's worst case: the
upstream may have billed it), the tenant's cap (`judge_scope = "tenant"`, the default, and
`shadow.count_against_tenant`) was spent by calls that no decision recorded. Here the tenant's
cap must equal what its decisions say it spent, every mode counted, and its stats must count the
failed learning calls. Real sidecar and sim processes; SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from arbiter.offline.demo import demo_settings, sim_config
from arbiter.toml_text import to_toml
from tests.conftest import Proc, Sidecar, start_sim
from tests.pg import empty_store_url
from tests.waiting import until

REQUESTS = 4


@pytest.fixture(scope="module")
def failing_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A sim of its own whose judge and challenger (sim-medium) answer every call with a 200 of
    malformed JSON: a failure the upstream may have billed (a whole 5xx error answer costs
    nothing since money20: upstream/error_answer.py)."""
    cfg = tmp_path_factory.mktemp("sim18m") / "sim.toml"
    cfg.write_text(sim_config())
    proc: Proc
    proc, root = start_sim(cfg)
    for model in ("judge", "sim-medium"):
        httpx.post(
            f"{root}/_sim/control", json={"model": model, "malformed": 1.0}
        ).raise_for_status()
    yield root
    proc.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with empty_store_url(request.param, tmp_path / "learning.db") as url:
        yield url


def _rows(s: Sidecar, tenant: str) -> list[dict[str, Any]]:
    r = s.admin("GET", f"/arbiter/decisions?tenant={tenant}&limit=1000")
    r.raise_for_status()
    return list(r.json()["data"])


def _budget(s: Sidecar, tenant: str) -> tuple[float, float]:
    rows = s.admin("GET", f"/arbiter/budgets?tenant={tenant}").json()["data"]
    row = next(x for x in rows if x["scope"] == f"tenant:{tenant}")
    return float(row["spent_usd"]), float(row["reserved_usd"])


def test_failed_judge_and_shadow_calls_are_recorded_with_what_they_cost(
    tmp_path: Path, failing_sim: str, store_url: str
) -> None:
    doc = demo_settings(f"{failing_sim}/v1", tmp_path / "a.db")
    doc["store"]["url"] = store_url
    doc["routing"]["judge_sample_rate"] = 1.0
    doc["budgets"] = {"caps": [{"scope": "tenant", "limit_usd": 10.0, "window": "total"}]}
    doc["shadow"] = {"challengers": ["sim-medium"], "sample_rate": 1.0,
                     "count_against_tenant": True}  # fmt: skip
    # every shadow call is tried: since shadow failures count against the breaker (probe24d),
    # five in a row opened sim-medium's circuit and the rest were skipped, so a CI run never
    # saw a decision for each
    doc["breaker"] = {"failure_threshold": 1000}
    (tmp_path / "a.toml").write_text(to_toml(doc))
    s = Sidecar(tmp_path / "a.toml").start()
    try:
        key = s.create_key("t18m")["key"]
        seen = 0.0
        for i in range(REQUESTS):
            r = httpx.post(
                f"{s.base_url}/chat/completions",
                headers={"authorization": f"Bearer {key}"},
                json={"model": "auto", "max_tokens": 100,
                      "messages": [{"role": "user", "content": f"A fact about tides, {i}."}]},
                timeout=30,
            )  # fmt: skip
            assert r.status_code == 200, r.text
            seen += float(r.headers["x-arbiter-cost-usd"])

        def learning_done() -> bool:
            rows = _rows(s, "t18m")
            modes = [x["mode"] for x in rows]
            return modes.count("shadow") >= REQUESTS and modes.count("judge") >= REQUESTS

        until(learning_done, "a decision for every shadow and judge call, answered or failed")
        until(lambda: _budget(s, "t18m")[1] == 0.0, "every reservation settled")
        rows = _rows(s, "t18m")
        spent, _ = _budget(s, "t18m")
        own = sum(x["cost_usd"] for x in rows if x["mode"] in ("routed", "passthrough"))
        assert own == pytest.approx(seen, abs=1e-9)
        failed = [x for x in rows if x["mode"] in ("shadow", "judge")]
        assert all(x["status"] == "failed" and x["error"] for x in failed), failed
        # a malformed 200 may have been billed: the shadow calls' worst cases are in the cap
        assert sum(x["cost_usd"] for x in failed if x["mode"] == "shadow") > 0
        # the cap's spend is what the decisions say: the client's, the shadow's, the judge's
        assert spent == pytest.approx(sum(x["cost_usd"] for x in rows), abs=1e-9)
        assert spent > seen
        stats = s.admin("GET", "/arbiter/stats?tenant=t18m").json()["learning"]["by_mode"]
        assert stats["shadow"]["failed"] == stats["shadow"]["requests"] == REQUESTS
        assert stats["judge"]["failed"] == stats["judge"]["requests"] == REQUESTS
    finally:
        s.stop()
