"""`arbiter demo`'s printed savings and the sidecar's own /arbiter/stats tell the same story: the
demo's paired baseline calls run as a tenant of their own, so the routed tenant's stats count
only the routed traffic (its calibration, and the judge calls grading both) that the report
counts."""

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
    # the routed requests plus the judge calls that graded them: no baseline call among them
    routed = stats["requests"] - stats["by_task"].get("judge", {}).get("requests", 0)
    # (and the calibration's calls to the baseline, the routed tenant's own spend)
    assert result["calibration_requests"] == len(demo.calibration_items(len(items), 5)) > 0
    assert routed == len(items) + result["calibration_requests"]
    assert stats["savings_pct"] == pytest.approx(result["savings_pct"], abs=0.05)
    assert stats["baseline_cost_usd"] == pytest.approx(result["baseline_cost_usd"], rel=1e-3)
