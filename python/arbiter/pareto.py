"""The cost/quality view per task: each model's observed cost per request against its mean grade,
the Pareto frontier of those points, and where the router's own routed traffic lands.

Input: the store's `quality_by_model` groups (one per task, model, routed or not). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _point(requests: int, cost: float, graded: int, grade_sum: float) -> dict[str, Any]:
    return {
        "requests": requests,
        "graded": graded,
        "cost_per_request": cost / requests if requests else None,
        "mean_grade": grade_sum / graded if graded else None,
    }


def frontier(points: Iterable[tuple[str, float, float]]) -> set[str]:
    """Names of the non-dominated (name, cost, grade) points: no other point is as cheap or
    cheaper and grades strictly higher, or strictly cheaper and grades as high."""
    best = -1.0
    out: set[str] = set()
    # cheapest first; at equal cost the better grade first, so it shadows the worse one
    for name, _cost, grade in sorted(points, key=lambda p: (p[1], -p[2], p[0])):
        if grade > best:
            out.add(name)
            best = grade
    return out


def by_task(groups: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per task: every model's point (routed and passed-through answers together), which of them
    lie on the frontier (graded ones only), and the router's operating point (routed only)."""
    tasks: dict[str, dict[str, list[float]]] = {}
    routed: dict[str, list[float]] = {}
    for g in groups:
        sums = [g["requests"], g["cost_usd"], g["graded"], g["grade_sum"]]
        acc = tasks.setdefault(g["task"], {}).setdefault(g["model"], [0, 0.0, 0, 0.0])
        for i, v in enumerate(sums):
            acc[i] += v
        if g["routed"]:
            mine = routed.setdefault(g["task"], [0, 0.0, 0, 0.0])
            for i, v in enumerate(sums):
                mine[i] += v
    out = []
    for task in sorted(tasks):
        models = {
            m: _point(int(a[0]), a[1], int(a[2]), a[3]) for m, a in sorted(tasks[task].items())
        }
        graded = [
            (m, p["cost_per_request"], p["mean_grade"])
            for m, p in models.items()
            if p["mean_grade"] is not None
        ]
        on = frontier(graded)
        r = routed.get(task)
        out.append(
            {
                "task": task,
                "models": [{"model": m, **p, "on_frontier": m in on} for m, p in models.items()],
                "router": _point(int(r[0]), r[1], int(r[2]), r[3]) if r else None,
            }
        )
    return out
