"""A model fitted from its streams, with `latency.stream_prior_distance` off, is read at its
calls' level with the prior's spread alone worth `prior_weight` calls (latency_math.blend_spread,
as a model fitted from non-streaming totals is read): the default prior's distance from a fast
model's level (2 s vs 0.25 s to the first token) no longer widens its spread for hundreds of
calls. A model fitted from totals, and one never seen, read the same either way; the setting
reaches the sidecar's model and is checked."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from arbiter import config
from arbiter.latency import LatencyModel
from arbiter.latency_setup import make_latency_model
from arbiter.offline.demo import demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import ENV

TTFT_S, TPS, TTFT_SD, SPEED_SD = 0.25, 220.0, 0.3, 0.2  # bench/latency_slo.py's turbo
P90 = 1.2816


def model(distance: bool) -> LatencyModel:
    # one instant for every call (no decay); no spread pool: the prior's part alone
    return LatencyModel(stream_prior_distance=distance, spread_pool_calls=0.0, clock=lambda: 1e6)


def streams(lat: LatencyModel, n: int, seed: int = 5) -> None:
    rng = random.Random(seed)
    for _ in range(n):
        ttft = TTFT_S * math.exp(rng.gauss(0, TTFT_SD))
        tokens = rng.randint(20, 300)
        total = ttft + tokens / (TPS * math.exp(rng.gauss(0, SPEED_SD)))
        lat.observe_call("turbo", "t", elapsed_s=total, tokens=tokens, ttft_s=ttft)


def test_a_stream_fitted_models_spread_is_not_widened_by_the_priors_distance() -> None:
    before, after = model(True), model(False)
    for lat in (before, after):
        streams(lat, 30)
    b, a = before.estimate("turbo"), after.estimate("turbo")
    # with the distance (the default): a median ~20% slow (the 2 s prior's 3 calls' worth,
    # 2.1 in log away); its spread no longer widened by that distance (~0.7 in log sd before
    # lat21): the prior reads the model slower than its calls, which a p90 can afford
    # (latency_math.blend_upper; a prior faster than the calls still widens it)
    assert math.sqrt(b.ttft_var) < 0.45 and math.exp(b.ttft_mu) > 1.15 * TTFT_S
    assert math.sqrt(b.speed_var) < 0.45
    # after: the calls' own level, the spread theirs plus the prior's 0.36 worth 3 of 33 calls
    assert math.exp(a.ttft_mu) == pytest.approx(TTFT_S, rel=0.15)
    assert math.exp(a.speed_mu) == pytest.approx(TPS, rel=0.12)
    assert 0.25 < math.sqrt(a.ttft_var) < 0.42
    assert 0.15 < math.sqrt(a.speed_var) < 0.32
    # so a first-token SLO at the true p90 (367 ms) is read as met, where before it was not
    true_p90_ms = 1000 * TTFT_S * math.exp(P90 * TTFT_SD)
    assert after.predict_ms("turbo", "t", P90, math.log(80), 0.0)[0] < 1.2 * true_p90_ms
    assert before.predict_ms("turbo", "t", P90, math.log(80), 0.0)[0] > 1.1 * true_p90_ms


def test_it_converges_to_the_same_fit_as_calls_come() -> None:
    before, after = model(True), model(False)
    for lat in (before, after):
        streams(lat, 3000)
    b, a = before.estimate("turbo"), after.estimate("turbo")
    assert math.sqrt(a.ttft_var) == pytest.approx(TTFT_SD, abs=0.02)
    assert abs(math.sqrt(b.ttft_var) - math.sqrt(a.ttft_var)) < 0.05


def test_totals_and_unseen_models_read_the_same_either_way() -> None:
    before, after = model(True), model(False)
    rng = random.Random(9)
    calls = []
    for _ in range(40):
        n = rng.randint(20, 300)
        calls.append(
            (0.6 * math.exp(rng.gauss(0, 0.3)) + n / (90 * math.exp(rng.gauss(0, 0.2))), n)
        )
    for lat in (before, after):
        for t, n in calls:
            lat.observe_call("medium", "t", elapsed_s=t, tokens=n)
    assert before.estimate("medium") == after.estimate("medium")
    assert before.estimate("never") == after.estimate("never")


def test_the_setting_reaches_the_sidecars_model_and_is_checked() -> None:
    doc = to_toml(demo_settings("http://127.0.0.1:9/v1", Path("unused.db")))
    assert make_latency_model(config.loads(doc, env=ENV)).stream_prior_distance is True
    off = make_latency_model(
        config.loads(doc + "[latency]\nstream_prior_distance = false\n", env=ENV)
    )
    assert off.stream_prior_distance is False
    with pytest.raises(config.ConfigError, match="stream_prior_distance"):
        config.loads(doc + "[latency]\nstream_prior_distance = 0\n", env=ENV)
