"""Shifts on a schedule: run-time control patches (state.control's keys) that apply once the pool
has served a given number of requests, so a run can see a model's quality drop for a task, its
price double or its latency triple, and then recover (bench/drift.py, tests/test_change_e2e.py).

    POST /_sim/schedule {"steps": [
        {"after_requests": 200, "model": "sim-small", "quality": {"math": 0.3}},
        {"after_requests": 400, "model": "sim-small", "quality": {"math": 0.9}}]}

A step applies once `after_requests` requests have been counted (from when the schedule was set;
the request that reaches the count is still served as before). A new schedule replaces the old
one; `[[schedule]]` tables in the sim's config set the schedule it starts (and resets) with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from arbiter.errors import ConfigError

MAX_STEPS = 1000


@dataclass(slots=True)
class Schedule:
    steps: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (at request, patch)
    served: int = 0  # requests since the schedule was set

    def due(self) -> list[dict[str, Any]]:
        """Count one request; the patches whose time has come, in order."""
        self.served += 1
        out = []
        while self.steps and self.steps[0][0] <= self.served:
            out.append(self.steps.pop(0)[1])
        return out


def parse_steps(body: Any) -> Schedule:
    """{"steps": [{"after_requests": N, "model": ..., <patch keys>}, ...]} -> Schedule (the
    patches themselves are checked by state.control when they apply, and up front by the caller)."""
    if not isinstance(body, Mapping) or not isinstance(body.get("steps"), list):
        raise ConfigError('expected {"steps": [...]}')
    steps = body["steps"]
    if len(steps) > MAX_STEPS:
        raise ConfigError(f"steps: at most {MAX_STEPS}")
    out: list[tuple[int, dict[str, Any]]] = []
    for i, step in enumerate(steps):
        if not isinstance(step, Mapping):
            raise ConfigError(f"steps[{i}]: expected an object")
        after = step.get("after_requests")
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise ConfigError(f"steps[{i}].after_requests: expected a whole number >= 0")
        out.append((after, {k: v for k, v in step.items() if k != "after_requests"}))
    out.sort(key=lambda s: s[0])
    return Schedule(out)
