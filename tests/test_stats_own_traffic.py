"""A tenant's /arbiter/stats, /arbiter/timeseries and /metrics count its own requests only.

probes16a found Arbiter's learning calls (shadow calls of a challenger, latency probes, LLM
judge calls) counted as the tenant's requests, at their cost and a baseline of 0: a tenant whose
routed requests saved 83-97% was shown `savings_pct -5.2%`. Now they are reported on their own
lines (`learning`), with whether each mode was charged to the tenant's budget, and never folded
into the tenant's request count, cost or savings. The time series has the learning calls as
a series of their own (`learning`, per mode), and /metrics counts their answers' grades apart
(`arbiter_learning_grades_total{mode}`): the grades of answers served to clients
(`arbiter_grades_total`, `arbiter_grade_mean`) are those alone. Both stores, through the
official SDK.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.inproc import InProcess, sidecar_in_process
from tests.pg import empty_store_url
from tests.sdk_clients import sdks

LEARNING = (
    '\n[shadow]\nchallengers = ["sim-premium"]\nsample_rate = 1.0\n'
    "\n[latency]\nprior_ttft_ms = 2000\nprior_tokens_per_s = 20\n"
    "\n[latency.max_latency_ms]\nchat = 4000\nsummarization = 4000\n"
)
N = 12


async def _settle(sc: InProcess) -> None:
    for _ in range(3):  # a shadow call's answer is graded (a judge call), and so on
        await sc.services.learner.drain()
        await sc.services.shadow.drain()
    await asyncio.to_thread(sc.services.recorder.flush, 5.0)


async def _decisions(sc: InProcess) -> list[dict[str, Any]]:
    r = await sc.client.get("/arbiter/decisions?limit=1000", headers=sc.admin)
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


async def _grade_count(sc: InProcess, decision_id: str) -> int:
    r = await sc.client.get(f"/arbiter/decisions/{decision_id}", headers=sc.admin)
    assert r.status_code == 200, r.text
    return len(r.json()["grades"])


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of the exposition by name (Prometheus' own parser: the format holds)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_tenants_stats_leave_learning_calls_out(backend: str, tmp_path: Path) -> None:
    async def main(url: str) -> None:
        def edit(text: str) -> str:
            return text + LEARNING

        async with (
            sidecar_in_process(tmp_path, edit_config=edit, store_url=url) as sc,
            sdks(sc) as (_, gpt),
        ):
            for i in range(N):
                await gpt.chat.completions.create(
                    model="auto",
                    messages=[{"role": "user", "content": f"Say hello to team {i}."}],
                )
            await _settle(sc)
            rows = await _decisions(sc)
            modes = {d["mode"] for d in rows}
            assert {"routed", "shadow", "probe", "judge"} <= modes, modes  # all three happened
            own = [d for d in rows if d["mode"] == "routed"]
            assert len(own) == N
            r = await sc.client.get("/arbiter/stats", headers=sc.auth)  # the tenant's own key
            st = r.json()
            assert st["requests"] == N
            assert math.isclose(st["cost_usd"], sum(d["cost_usd"] for d in own), rel_tol=1e-9)
            base = sum(d["baseline_cost_usd"] for d in own)
            assert math.isclose(st["baseline_cost_usd"], base, rel_tol=1e-9)
            assert math.isclose(st["savings_pct"], 100 * (base - st["cost_usd"]) / base)
            assert st["savings_pct"] > 0
            assert st["savings"]["routing_usd"] == st["savings_usd"]
            assert sum(g["requests"] for g in st["by_model"].values()) == N
            # what learning cost, each mode on its own line, and who paid
            lines = st["learning"]["by_mode"]
            for mode in ("shadow", "probe", "judge"):
                mine = [d for d in rows if d["mode"] == mode]
                assert lines[mode]["requests"] == len(mine), mode
                assert math.isclose(lines[mode]["cost_usd"], sum(d["cost_usd"] for d in mine))
                assert lines[mode]["charged_to_tenant_budget"] is False  # no caps configured
            assert st["learning"]["requests"] == len(rows) - N
            # the time series tells the same story
            r = await sc.client.get("/arbiter/timeseries", headers=sc.auth)
            points = r.json()["data"]
            assert sum(p["requests"] for p in points) == N
            assert math.isclose(sum(p["cost_usd"] for p in points), st["cost_usd"])
            # with the learning calls on their own series, per mode, on the same grid
            learning = r.json()["learning"]
            assert {p["ts"] for p in learning} <= {p["ts"] for p in points}  # same minutes here
            for mode in ("shadow", "probe", "judge"):
                mine = [d for d in rows if d["mode"] == mode]
                series = [p["by_mode"][mode] for p in learning]
                assert sum(x["requests"] for x in series) == len(mine), mode
                assert math.isclose(
                    sum(x["cost_usd"] for x in series), sum(d["cost_usd"] for d in mine)
                )
                graded = [d for d in mine if d["grade"] is not None]
                assert sum(x["graded"] for x in series) == len(graded), mode
            assert sum(p["requests"] for p in learning) == st["learning"]["requests"]
            # and so does /metrics (this process's counters)
            text = (await sc.client.get("/metrics", headers=sc.admin)).text
            served = sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("arbiter_requests_total{")
            )
            assert served == N
            assert 'arbiter_learning_calls_total{mode="probe"' in text
            # grades too: the answers served to clients apart from the learning calls' answers
            # (a shadow call's answer graded by the judge was counted as a client's, before)
            found = _samples(text)
            graders = {d["id"]: await _grade_count(sc, d["id"]) for d in rows}
            own_grades = sum(graders[d["id"]] for d in own)
            assert own_grades > 0
            assert sum(v for _, v in found["arbiter_grades_total"]) == own_grades
            for mode in ("shadow", "probe"):
                n = sum(graders[d["id"]] for d in rows if d["mode"] == mode)
                got = [v for labels, v in found.get("arbiter_learning_grades_total", [])
                       if labels["mode"] == mode]  # fmt: skip
                assert sum(got) == n, mode
            assert sum(graders[d["id"]] for d in rows if d["mode"] == "shadow") > 0

    with empty_store_url(backend, tmp_path / "arbiter.db") as url:
        asyncio.run(main(url))
