"""`arbiter demo`'s printed savings and the sidecar's own /arbiter/stats tell the same story: the
demo's paired baseline calls run as a tenant of their own, so the routed tenant's stats count
only the routed traffic (its calibration) the report counts; the judge calls grading both are
reported apart (`learning`), and the report adds them to routing's spend."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from arbiter.offline import demo
from arbiter.offline.workload import make_workload

pytestmark = pytest.mark.timeout(180)


def test_demo_report_and_stats_agree_on_savings(tmp_path: Path) -> None:
    items = make_workload(80, 5)
    with demo.running_stack(tmp_path) as stack:
        result = demo.run_workload(stack, items, seed=5, concurrency=6, progress=False)
        stats = httpx.get(
            stack.base_url.removesuffix("/v1") + "/arbiter/stats",
            headers={"authorization": f"Bearer {stack.api_key}"},
            timeout=10,
        ).json()
    assert result["requests"] == len(items)
    assert result["baseline_graded"] > 0  # the baseline's answers were graded and read back
    # the routed requests: no baseline call among them, and the judge calls that graded them
    # apart (stats' `learning`), never counted as the tenant's requests
    routed = stats["requests"]
    assert "judge" not in stats["by_task"]
    # (and the calibration's calls to the baseline, the routed tenant's own spend)
    assert result["calibration_requests"] == len(demo.calibration_items(len(items), 5)) > 0
    assert routed == len(items) + result["calibration_requests"]
    # the report charges the judge's calls to routing (its real spend): the same sum here
    judge = stats["learning"]["by_mode"]["judge"]
    assert judge["requests"] > 0
    assert result["judge_cost_usd"] == pytest.approx(judge["cost_usd"], abs=1e-6)
    spent = stats["cost_usd"] + judge["cost_usd"]
    with_judge = 100 * (1 - spent / stats["baseline_cost_usd"])
    assert with_judge == pytest.approx(result["savings_pct"], abs=0.05)
    assert stats["savings_pct"] > with_judge  # the tenant's own requests saved more
    assert stats["baseline_cost_usd"] == pytest.approx(result["baseline_cost_usd"], rel=1e-3)
