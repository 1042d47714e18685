"""`routing.latency_late_good_ratio`: when models fit a latency SLO but none of them clears the
quality bar, the fastest model over the bar (issue 19's rule, the benches' oracle) instead of
the best-scoring that fits, within ratio x the SLO; its strict parse and its way to the router."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter import config
from arbiter.latency import LatencyModel
from arbiter.offline.demo import demo_settings
from arbiter.principal import Principal
from arbiter.routing import PoolModel, Router, RouteRequest, RouterParams
from arbiter.services import Services
from arbiter.toml_text import to_toml
from tests.conftest import ENV

# a fast poor model and a slower good one (TTFT s, tokens/s): 100 answer tokens take sloppy
# ~0.18 s, fast ~0.35 s, mid ~1.75 s
LEVELS = {"sloppy": (0.05, 800.0), "mid": (0.5, 80.0), "fast": (0.1, 400.0)}
POOL = [
    PoolModel("sloppy", 0.05, 0.1, 100_000, frozenset(), {"chat": 0.3}),
    PoolModel("mid", 1.0, 2.0, 100_000, frozenset(), {"chat": 0.9}),
    PoolModel("fast", 10.0, 20.0, 100_000, frozenset(), {"chat": 0.9}),
]


def _decide(ratio: float, total_ms: float) -> tuple[str, str]:
    latency = LatencyModel()
    for name, (ttft, speed) in LEVELS.items():
        for i in range(60):
            jitter = 1.0 + 0.05 * ((i % 5) - 2)
            latency.observe(name, "t", ttft_s=ttft * jitter, speed_tps=speed / jitter)
    params = RouterParams(
        baseline="fast", quality_target=0.9, explore=0.0, prior_strength=100,
        latency_late_good_ratio=ratio,
    )  # fmt: skip
    d = Router(POOL, params, latency=latency).decide(
        RouteRequest("t", "chat", 100, 100, max_latency_ms=total_ms)
    )
    return d.chosen, d.reason


def test_only_a_poor_model_fits_the_fastest_good_one_answers_late() -> None:
    chosen, reason = _decide(0.0, 250.0)  # the default: the best-scoring that fits
    assert chosen == "sloppy", reason
    assert "the best-scoring that fits" in reason
    chosen, reason = _decide(1e6, 250.0)  # the oracle's rule: late but good
    assert chosen == "fast", reason
    assert "none that fits clears the bar: the fastest that clears it" in reason


def test_the_ratio_bounds_how_late_the_good_answer_may_be() -> None:
    assert _decide(2.0, 250.0)[0] == "fast"  # fast's ~0.4 s p90 is within 2 x 250 ms
    assert _decide(1.2, 250.0)[0] == "sloppy"  # not within 1.2 x


def test_the_ratio_parses_strictly_and_reaches_the_sidecars_routers(tmp_path: Path) -> None:
    doc = demo_settings("http://127.0.0.1:9/v1", tmp_path / "unused.db")
    doc["store"]["url"] = f"sqlite:///{tmp_path / 's.db'}"
    doc["routing"]["latency_late_good_ratio"] = -1.0
    with pytest.raises(config.ConfigError, match="latency_late_good_ratio"):
        config.loads(to_toml(doc), env=ENV)
    doc["routing"]["latency_late_good_ratio"] = "always"
    with pytest.raises(config.ConfigError, match="latency_late_good_ratio"):
        config.loads(to_toml(doc), env=ENV)
    assert config.RoutingSettings().latency_late_good_ratio == 0.0
    doc["routing"]["latency_late_good_ratio"] = 3.0
    svc = Services(config.loads(to_toml(doc), env=ENV), seed=1)
    try:
        assert svc.router_for(Principal()).params.latency_late_good_ratio == 3.0
    finally:
        svc.store.close()
