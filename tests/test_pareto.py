"""The cost/quality view: the frontier of (cost, grade) points and the per-task aggregation."""

from __future__ import annotations

import pytest

from arbiter.pareto import by_task, frontier


def test_frontier_keeps_only_points_nothing_beats_on_both() -> None:
    pts = [("a", 1.0, 0.5), ("b", 2.0, 0.8), ("c", 3.0, 0.7), ("d", 4.0, 0.9), ("e", 2.0, 0.6)]
    # c: b is cheaper and better; e: b costs the same and grades higher
    assert frontier(pts) == {"a", "b", "d"}


def test_frontier_drops_a_dearer_point_that_grades_the_same() -> None:
    assert frontier([("cheap", 1.0, 0.9), ("dear", 5.0, 0.9)]) == {"cheap"}
    assert frontier([]) == set()


def test_by_task_sums_routed_and_named_answers_per_model_and_the_router_apart() -> None:
    groups = [
        {"task": "code", "model": "big", "routed": False, "requests": 4, "cost_usd": 0.4,
         "graded": 4, "grade_sum": 3.6},
        {"task": "code", "model": "big", "routed": True, "requests": 1, "cost_usd": 0.1,
         "graded": 1, "grade_sum": 1.0},
        {"task": "code", "model": "small", "routed": True, "requests": 5, "cost_usd": 0.05,
         "graded": 0, "grade_sum": 0.0},
        {"task": "chat", "model": "small", "routed": False, "requests": 2, "cost_usd": 0.02,
         "graded": 2, "grade_sum": 1.0},
    ]  # fmt: skip
    chat, code = by_task(groups)
    assert chat["task"] == "chat" and chat["router"] is None
    big, small = code["models"]
    assert big == {"model": "big", "requests": 5, "graded": 5, "cost_per_request": 0.1,
                   "mean_grade": pytest.approx(0.92), "on_frontier": True}  # fmt: skip
    # an ungraded model is shown but cannot be on the frontier
    assert small["mean_grade"] is None and small["on_frontier"] is False
    router = code["router"]
    assert router["requests"] == 6 and router["graded"] == 1
    assert router["cost_per_request"] == pytest.approx(0.15 / 6) and router["mean_grade"] == 1.0
