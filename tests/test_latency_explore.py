"""latency_explore: a model whose few calls read it too slow for a tight SLO is owed a call on
a later request that it fits, so its estimate can be corrected (`latency.explore_z`)."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from arbiter import config
from arbiter.latency import LatencyModel
from arbiter.latency_explore import PENDING_MAX, LatencyExplore
from arbiter.offline.demo import demo_settings
from arbiter.routing import PoolModel, Router, RouteRequest, RouterParams
from arbiter.services import Services
from arbiter.toml_text import to_toml
from tests.conftest import ENV

POOL = [  # cheap and slow, mid, dear and fast; all equally good
    PoolModel("slow", 0.1, 0.2, 100_000, frozenset(), {"chat": 0.9}),
    PoolModel("mid", 1.0, 2.0, 100_000, frozenset(), {"chat": 0.9}),
    PoolModel("fast", 10.0, 20.0, 100_000, frozenset(), {"chat": 0.9}),
]
LEVELS = {"slow": (2.0, 20.0), "mid": (0.5, 80.0), "fast": (0.1, 400.0)}  # (TTFT s, tokens/s)


def _latency(mid_calls: int, z: float | None) -> LatencyModel:
    """Each model's streams at its level with log sds 0.3 / 0.2; `mid` seen `mid_calls` times."""
    latency = LatencyModel(explore=LatencyExplore(z) if z else None)
    rng = random.Random(7)
    for name, (ttft, speed) in LEVELS.items():
        for _ in range(mid_calls if name == "mid" else 200):
            t, s = ttft * math.exp(rng.gauss(0, 0.3)), speed * math.exp(rng.gauss(0, 0.2))
            latency.observe(name, "t", ttft_s=t, speed_tps=s)
    return latency


def _router(latency: LatencyModel) -> Router:
    params = RouterParams(baseline="fast", quality_target=0.9, explore=0.0, prior_strength=100)
    return Router(POOL, params, latency=latency)


def _ask(router: Router, slo_ms: float, reference: bool) -> tuple[str, str]:
    req = RouteRequest("t", "chat", 100, 100, max_latency_ms=slo_ms)
    d = router.decide_reference(req) if reference else router.decide(req)
    return d.chosen, d.reason


def _mids_p90(latency: LatencyModel) -> float:
    d = _router(latency).decide(RouteRequest("t", "chat", 100, 100, max_latency_ms=60_000.0))
    assert d.latency_ms is not None
    return d.latency_ms["mid"][1]


@pytest.mark.parametrize("reference", [False, True])
def test_a_model_set_aside_by_a_few_calls_gets_a_call_on_a_request_it_fits(
    reference: bool,
) -> None:
    latency = _latency(mid_calls=10, z=2.0)
    tight = _mids_p90(latency) * 0.97  # mid's p90 just over it: within its fit's uncertainty
    router = _router(latency)
    assert _ask(router, tight, reference)[0] == "fast"  # set aside: mid doubted
    chosen, reason = _ask(router, 60_000.0, reference)  # slow would do; mid fits too
    assert chosen == "mid", reason
    assert "latency exploration: mid" in reason
    # one doubt, one call: the next loose request is the cheapest's again
    assert _ask(router, 60_000.0, reference)[0] == "slow"


@pytest.mark.parametrize("reference", [False, True])
def test_without_the_setting_the_model_set_aside_gets_no_call(reference: bool) -> None:
    latency = _latency(mid_calls=10, z=None)
    tight = _mids_p90(latency) * 0.97
    router = _router(latency)
    assert _ask(router, tight, reference)[0] == "fast"
    chosen, reason = _ask(router, 60_000.0, reference)
    assert chosen == "slow" and "exploration" not in reason, reason


def test_a_model_read_from_many_calls_is_not_doubted() -> None:
    """The doubt is sized by the estimate's standard error: 400 calls hold mid's level to ~1%,
    so a p90 3% over the SLO is a fact, not a doubt."""
    latency = _latency(mid_calls=400, z=2.0)
    tight = _mids_p90(latency) * 0.97
    router = _router(latency)
    for _ in range(3):
        assert _ask(router, tight, False)[0] == "fast"
    assert _ask(router, 60_000.0, False)[0] == "slow"


def test_an_exploration_never_sends_a_request_to_a_model_predicted_late() -> None:
    latency = _latency(mid_calls=10, z=2.0)
    tight = _mids_p90(latency) * 0.97
    router = _router(latency)
    for _ in range(5):  # every request tight: mid is doubted each time, never sent one
        chosen, reason = _ask(router, tight, False)
        assert chosen == "fast" and "exploration" not in reason, reason
    assert latency.explore is not None and latency.explore.pending("mid") == PENDING_MAX
    picks = [_ask(router, 60_000.0, False)[0] for _ in range(PENDING_MAX + 1)]
    assert picks == ["mid"] * PENDING_MAX + ["slow"], "owed calls are bounded"


def test_the_setting_reaches_the_sidecars_latency_model_and_is_checked() -> None:
    doc = to_toml(demo_settings("http://127.0.0.1:9/v1", Path("unused.db")))
    on = Services(config.loads(doc + "[latency]\nexplore_z = 2.5\n", env=ENV), seed=1)
    assert on.latency.explore is not None and on.latency.explore.z == 2.5
    assert Services(config.loads(doc, env=ENV), seed=1).latency.explore is None
    with pytest.raises(config.ConfigError, match="explore_z"):
        config.loads(doc + "[latency]\nexplore_z = -1\n", env=ENV)
