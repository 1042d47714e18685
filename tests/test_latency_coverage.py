"""Online calibration of the latency quantile (latency_coverage.py): the realized coverage of
the predicted total is steered to the asked quantile, whatever the prediction's own error."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from arbiter import config
from arbiter.latency import LatencyModel, LatencyPrior, z_score
from arbiter.latency_coverage import MAX_LOG_MARGIN, CoverageTracker
from arbiter.latency_setup import make_latency_model
from arbiter.latency_slo import observe_attempts
from arbiter.offline.demo import demo_settings
from arbiter.records import Attempt
from arbiter.toml_text import to_toml
from tests.conftest import ENV

Q = 0.9


def _served(latency: LatencyModel, rng: np.random.Generator, n: int, skew: float) -> float:
    """`n` requests routed on the model's p90, answered in times whose tail the log-normal
    prediction does not have (one call in five takes `skew` times longer); the share within
    the prediction."""
    z = z_score(Q)
    hits = 0
    for _ in range(n):
        _, predicted = latency.predict_ms("m", "*", z, math.log(50.0), 0.05)
        took = 1000 * (0.3 * math.exp(0.2 * rng.standard_normal()) + 50 / 100.0)
        took *= skew if rng.random() < 0.2 else 1.0
        hits += took <= predicted
        attempts = [Attempt("m", True, took)]
        observe_attempts(latency, "*", "m", attempts, tokens=50, answered=True, stream=False,
                         decode_ms=None, predicted_total_ms=predicted)  # fmt: skip
    return hits / n


def _model(step: float) -> LatencyModel:
    # a fixed prediction (the prior, never learned from: weight huge), so only the margin moves
    prior = LatencyPrior(300.0, 100.0, 0.2)
    coverage = CoverageTracker(Q, step) if step > 0 else None
    return LatencyModel(prior=prior, prior_weight=1e12, coverage=coverage)


def test_the_margin_steers_the_realized_coverage_to_the_quantile() -> None:
    """A prediction that is beaten too often (its tails are thinner than the truth's) covers far
    less than 90% of the answers; with the margin the realized share comes to ~90%, and the
    margin stays within its bound."""
    rng = np.random.default_rng(1)
    plain = _model(0.0)
    _served(plain, rng, 600, 1.6)  # (warm-up, same draws as the tracked run below)
    before = _served(plain, rng, 2000, 1.6)
    tracked = _model(0.02)
    _served(tracked, np.random.default_rng(1), 600, 1.6)
    after = _served(tracked, rng, 2000, 1.6)
    assert before < 0.83, before
    assert 0.87 < after < 0.93, after
    assert tracked.coverage is not None
    theta = tracked.coverage.snapshot()["m"]
    assert 0.0 < theta < MAX_LOG_MARGIN


def test_an_over_covering_prediction_sheds_margin() -> None:
    """Answers faster than the prediction assumes: the margin goes negative (a cheaper model can
    then fit), and the coverage comes down to ~90% from nearly all."""
    rng = np.random.default_rng(2)
    tracked = _model(0.02)
    _served(tracked, rng, 600, 0.6)
    after = _served(tracked, rng, 2000, 0.6)
    assert tracked.coverage is not None
    assert tracked.coverage.snapshot()["m"] < 0
    assert 0.87 < after < 0.93, after


def test_a_call_cut_after_its_prediction_counts_as_a_miss_and_only_the_routed_model() -> None:
    tracker = CoverageTracker(Q, 0.05)
    latency = LatencyModel(coverage=tracker)
    cut = [
        Attempt("other", False, 900.0, "upstream_timeout"),
        Attempt("m", False, 1200.0, "deadline_exceeded"),
    ]
    observe_attempts(latency, "*", "m", cut, tokens=0, answered=False, stream=False,
                     decode_ms=None, predicted_total_ms=1000.0)  # fmt: skip
    assert tracker.snapshot() == {"m": pytest.approx(0.05 * 0.9)}
    # a stream's total is its TTFT plus the decode after it: 400 + 500 > 800, a miss
    observe_attempts(latency, "*", "m", [Attempt("m", True, 400.0)], tokens=50, answered=True,
                     stream=True, decode_ms=500.0, predicted_total_ms=800.0)  # fmt: skip
    assert tracker.snapshot()["m"] == pytest.approx(2 * 0.05 * 0.9)
    # without a prediction (no SLO) nothing is learned
    observe_attempts(latency, "*", "m", [Attempt("m", True, 5000.0)], tokens=50, answered=True,
                     stream=False, decode_ms=None)  # fmt: skip
    assert tracker.snapshot()["m"] == pytest.approx(2 * 0.05 * 0.9)


def test_coverage_step_is_configured_and_checked() -> None:
    doc = demo_settings("http://127.0.0.1:9/v1", Path("unused.db"))
    off = config.loads(to_toml(doc), env=ENV)
    assert off.latency.coverage_step == 0.0 and make_latency_model(off).coverage is None
    on = config.loads(to_toml(doc) + "[latency]\ncoverage_step = 0.02\n", env=ENV)
    assert make_latency_model(on).coverage is not None
    with pytest.raises(config.ConfigError, match="coverage_step"):
        config.loads(to_toml(doc) + "[latency]\ncoverage_step = 0.5\n", env=ENV)
