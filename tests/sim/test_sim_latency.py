"""The simulated pool's latency profiles (sim/latency_profile.py): parsing, the per-call draw
(scale, load, stalls), reproducible draws for an oracle, and streams that pace by the profile."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from random import Random
from typing import Any

import httpx
import pytest

from arbiter.errors import ConfigError
from arbiter.offline.demo import sim_settings
from arbiter.offline.sim import SimServer, default_pool
from arbiter.offline.sim.failures import messages_digest
from arbiter.offline.sim.latency_profile import LatencyProfile, draw, parse_latency
from arbiter.offline.sim.simulate import Completion, _call_latency, offline_call, simulate
from arbiter.offline.sim.state import SimState

from .helpers import AUTH, fast_config, fast_model

PROFILE = {"ttft_ms": 150.0, "ttft_sigma": 0.2, "tokens_per_s": 400.0, "speed_sigma": 0.1}
BODY: dict[str, Any] = {
    "model": "paced",
    "messages": [{"role": "user", "content": "Write a short story about a lighthouse."}],
}


def _config(**top: Any) -> Any:
    return fast_config({"paced": fast_model(latency=PROFILE)}, **top)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"ttft": 1}, "unknown key"),
        ({"ttft_ms": -1}, "non-negative"),
        ({"ttft_ms": 0}, "must be > 0"),
        ({"stall_p": 1.5}, "stall_p"),
        ({"tokens_per_s": True}, "non-negative"),
    ],
)
def test_a_bad_latency_table_is_refused(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_latency(raw, "models.m.latency")


def test_the_draw_scales_slows_with_load_and_stalls() -> None:
    p = LatencyProfile(200.0, 0.3, 100.0, 0.2, load_slowdown=0.5, stall_p=0.0)
    base = draw(p, Random(1), 0, 1.0)
    assert draw(p, Random(1), 0, 0.0).total_s(500) == 0.0
    loaded = draw(p, Random(1), 2, 1.0)  # two other calls in flight: twice as slow
    assert loaded.ttft_s == pytest.approx(2 * base.ttft_s)
    assert loaded.per_token_s == pytest.approx(2 * base.per_token_s)
    stalled = draw(replace(p, stall_p=1.0, stall_ms=3000.0), Random(1), 0, 1.0)
    assert stalled.stalled and stalled.ttft_s == pytest.approx(base.ttft_s + 3.0)
    assert draw(p, Random(1), 0, 0.1).ttft_s == pytest.approx(0.1 * base.ttft_s)


def test_the_built_in_and_demo_pools_have_profiles_at_a_small_scale() -> None:
    pool = default_pool()
    assert pool.latency_scale == pytest.approx(0.05)
    assert all(m.latency is not None for m in pool.models.values() if not m.judge)
    demo = fast_config(sim_settings()["models"], latency_scale=sim_settings()["latency_scale"])
    assert demo.models["sim-premium"].latency is not None
    ranked = sorted((m.latency.ttft_ms, n) for n, m in demo.models.items() if m.latency is not None)
    assert ranked[0][1] == "sim-tiny" and ranked[-1][1] == "sim-premium"


def test_a_call_waits_ttft_plus_tokens_over_speed_and_an_oracle_can_recompute_it() -> None:
    config = _config(same_draws_per_prompt=True)
    live, scratch = SimState(config), SimState(config)
    profile = live.profiles["paced"]

    async def go() -> Any:
        return await simulate(live, profile, BODY, True)

    outcome = asyncio.run(go())
    assert isinstance(outcome, Completion)
    call = _call_latency(live, profile, messages_digest(BODY["messages"]), 0, 0)
    assert call is not None
    tokens = outcome.usage[1]
    assert outcome.first_s == pytest.approx(call.ttft_s)
    # the stream's chunks are paced so that the whole answer takes TTFT + tokens / speed
    assert outcome.first_s + outcome.gap_s * len(outcome.pieces) == pytest.approx(
        call.total_s(tokens)
    )
    expected_tokens, seconds, good = offline_call(scratch, profile, BODY)
    assert (expected_tokens, seconds) == (tokens, pytest.approx(call.total_s(tokens)))
    assert good is not None


def test_repeated_prompts_draw_anew_unless_asked_for_the_same_draws() -> None:
    async def two(config: Any) -> tuple[float, float]:
        state = SimState(config)
        p = state.profiles["paced"]
        a, b = await simulate(state, p, BODY, False), await simulate(state, p, BODY, False)
        assert isinstance(a, Completion) and isinstance(b, Completion)
        return a.first_s, b.first_s

    first, second = asyncio.run(two(_config()))
    assert first != second
    first, second = asyncio.run(two(_config(same_draws_per_prompt=True)))
    assert first == second


def test_in_flight_calls_slow_the_next_one() -> None:
    # a first call that runs for a minute (drawn, not slept): it is still running when the second
    # is drawn however long a loaded machine pauses this thread in between
    slow = {**PROFILE, "ttft_ms": 60_000.0, "load_slowdown": 1.0}
    config = fast_config({"paced": fast_model(latency=slow)}, same_draws_per_prompt=True)
    state = SimState(config)
    p = state.profiles["paced"]

    async def go() -> tuple[Any, Any]:
        return await simulate(state, p, BODY, False), await simulate(state, p, BODY, False)

    a, b = asyncio.run(go())  # the first is still "running" (its end is in the future)
    assert b.first_s == pytest.approx(2 * a.first_s)


def test_a_stream_paces_its_tokens_by_the_profile() -> None:
    """Lower bounds only (a busy machine may be slower, never faster): the first content
    arrives no sooner than the drawn TTFT, the end no sooner than TTFT + tokens / speed."""
    config = _config(same_draws_per_prompt=True, latency_scale=1.0)
    scratch = SimState(config)
    profile = scratch.profiles["paced"]
    call = _call_latency(scratch, profile, messages_digest(BODY["messages"]), 0, 0)
    assert call is not None
    with SimServer(config) as sim:
        started = time.monotonic()
        first = None
        with httpx.stream(
            "POST", f"{sim.base_url}/chat/completions", json={**BODY, "stream": True},
            headers=AUTH, timeout=10,
        ) as r:  # fmt: skip
            for line in r.iter_lines():
                if first is None and '"content":"' in line.replace(" ", "") and '""' not in line:
                    first = time.monotonic() - started
        total = time.monotonic() - started
    tokens, seconds, _ = offline_call(SimState(config), profile, BODY)
    assert tokens > 20
    assert first is not None and first >= 0.95 * call.ttft_s
    # the last paced chunk goes out one gap before the end: at least TTFT + all but one gap
    assert total >= 0.95 * (seconds - seconds / tokens * 8)
