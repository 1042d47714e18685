"""The sim's schedule of shifts (/_sim/schedule): patches apply after so many requests, in order,
and a bad schedule is refused whole, up front."""

from __future__ import annotations

import pytest

from arbiter.errors import ConfigError
from arbiter.offline.sim.config import default_pool
from arbiter.offline.sim.schedule import parse_steps
from arbiter.offline.sim.state import SimState


def test_shifts_apply_in_order_then_recover() -> None:
    state = SimState(default_pool())
    model = next(iter(state.profiles))
    q0 = state.profiles[model].quality["math"]
    state.set_schedule(
        parse_steps(
            {"steps": [
                {"after_requests": 5, "model": model, "reported_price_factor": 2.0},
                {"after_requests": 3, "model": model, "quality": {"math": 0.1}},
                {"after_requests": 8, "model": model, "quality": {"math": q0},
                 "reported_price_factor": 1.0},
            ]}
        )
    )  # fmt: skip
    seen = []
    for _ in range(10):
        state.advance()
        p = state.profiles[model]
        seen.append((p.quality["math"], p.reported_price_factor))
    assert seen[:2] == [(q0, 1.0)] * 2
    assert seen[2:4] == [(0.1, 1.0)] * 2
    assert seen[4:7] == [(0.1, 2.0)] * 3
    assert seen[7:] == [(q0, 1.0)] * 3


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"steps": "x"},
        {"steps": [{"model": "sim-tiny"}]},
        {"steps": [{"after_requests": -1, "model": "sim-tiny"}]},
        {"steps": [{"after_requests": True, "model": "sim-tiny"}]},
        {"steps": [{"after_requests": 1, "model": "nope"}]},
        {"steps": [{"after_requests": 1, "model": "*", "quality": 7}]},
        {"steps": [{"after_requests": 1, "model": "*", "bogus": 1}]},
    ],
)
def test_a_bad_schedule_is_refused_whole(body: dict) -> None:  # type: ignore[type-arg]
    state = SimState(default_pool())
    with pytest.raises(ConfigError):
        state.set_schedule(parse_steps(body))
    assert state.schedule.steps == []
