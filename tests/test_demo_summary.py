"""The demo's bar (offline/demo.py summarize): routing's savings over the whole traffic mix, a
cache hit counted at what routing paid for the answer it replays, so the cache taking the cheap
repeats out of the misses does not read as routing getting worse; calibration calls are the
routed tenant's spend in the whole run, not in the second half the bar is on."""

from __future__ import annotations

from typing import Any

import pytest

from arbiter.offline import demo


def _row(i: int, mode: str, cost: float, baseline: float, **more: Any) -> dict[str, Any]:
    return {"i": i, "task": "chat", "status": 200, "mode": mode, "cost": cost,
            "baseline_cost": baseline, "decision_id": f"d{i}{mode}", "model": "m",
            "grade": 1.0, "ts": float(i), **more}  # fmt: skip


def test_hits_count_at_routings_cost_and_calibration_stays_in_the_first_half() -> None:
    rows = [
        _row(-1, "calibration", 1.0, 1.0, decision_id="cal"),
        _row(0, "routed", 0.1, 1.0),  # a cheap-routed chat prompt, repeated later
        _row(1, "routed", 1.0, 1.0),
        _row(2, "routed", 0.1, 1.0),  # second half: one cheap miss...
        _row(3, "routed", 1.0, 1.0),  # ...one that needs the baseline...
        # ...and two repeats of prompt 0, answered from the cache (cost 0, baseline 0)
        _row(4, "routed", 0.0, 0.0, cache="hit", cache_source="d0routed", cache_saved=0.1),
        _row(5, "routed", 0.0, 0.0, cache="hit", cache_source="d0routed", cache_saved=0.1),
        *[_row(i, "baseline", 1.0, 1.0) for i in range(6)],
    ]
    result = demo.summarize(rows, "base", 4)
    half = result["second_half"]
    # misses alone: the cheap repeats left the mix, so 1.1 of 2.0
    assert half["savings_pct"] == pytest.approx(45.0)
    # routing's choices over all four: 0.1 + 1.0 + 0.1 + 0.1 of 4.0
    assert half["routing_savings_pct"] == pytest.approx(67.5)
    assert demo.meets_bar(half) and half["calibration_requests"] == 0
    assert result["calibration_requests"] == 1 and result["calibration_cost_usd"] == 1.0
    # the whole run pays for its calibration: 3.2 spent against 5.0 (its 1.0 saves nothing)
    assert result["savings_pct"] == pytest.approx(36.0)
    assert "meets the bar" in demo.render({**result, "protocols": {}})
