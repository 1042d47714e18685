"""Each model's latency spread is shrunk toward the median of the other models' own
(arbiter.latency_pool): a model whose few calls drew a wide spread is pulled back, one stalled
model does not move the others' target, a model truly unlike the others keeps its own spread
once its calls outweigh the pool, a line through totals keeps its mean, and the setting
reaches the sidecar's model."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from arbiter import config
from arbiter.latency import LatencyModel
from arbiter.latency_pool import pool_targets
from arbiter.latency_setup import make_latency_model
from arbiter.offline.demo import demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import ENV


def draws(n: int, sd: float, seed: int) -> list[float]:
    """n standard-normal draws rescaled to exactly mean 0 and sd `sd` (what the calls showed)."""
    rng = random.Random(seed)
    xs = [rng.gauss(0.0, 1.0) for _ in range(n)]
    m = sum(xs) / n
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / n)
    return [(x - m) / s * sd for x in xs]


def streams(
    lat: LatencyModel, model: str, n: int, ttft_sd: float, speed_sd: float, seed: int
) -> None:
    for zt, zs in zip(draws(n, ttft_sd, seed), draws(n, speed_sd, seed + 1), strict=True):
        lat.observe(model, "t", ttft_s=0.5 * math.exp(zt), speed_tps=80.0 * math.exp(zs))


def sds(lat: LatencyModel, model: str) -> tuple[float, float]:
    f = lat.estimate(model)
    return math.sqrt(f.ttft_var), math.sqrt(f.speed_var)


def test_a_model_whose_few_calls_drew_a_wide_spread_is_pulled_toward_the_others() -> None:
    lat = LatencyModel(prior_weight=0.0, spread_pool_calls=300.0)  # (the prior's own spread aside)
    for i, m in enumerate(("a", "b", "c", "d")):
        streams(lat, m, 300, 0.3, 0.2, 10 * i)
    streams(lat, "new", 40, 0.5, 0.35, 99)  # a truth like the others', drawn wide
    ttft, speed = sds(lat, "new")
    # 40 calls against 300: (40 x 0.25 + 300 x 0.09) / 340 -> 0.33; before, its own 0.5 / 0.35
    assert ttft == pytest.approx(0.33, abs=0.01) and speed == pytest.approx(0.22, abs=0.01)
    assert sds(lat, "a") == pytest.approx((0.3, 0.2), abs=0.005)  # the others are at theirs


def test_one_stalled_models_spread_does_not_move_the_others_target() -> None:
    lat = LatencyModel(prior_weight=0.0, spread_pool_calls=300.0)
    for i, m in enumerate(("a", "b", "c")):
        streams(lat, m, 300, 0.3, 0.2, 10 * i)
    streams(lat, "stalled", 300, 1.0, 0.8, 50)
    streams(lat, "new", 40, 0.3, 0.2, 99)
    # the median of 0.3, 0.3, 0.3, 1.0 is 0.3 (a pooled mean would pull it to 0.55)
    assert sds(lat, "new") == pytest.approx((0.3, 0.2), abs=0.005)
    big = (1.0, 0.64, 300.0)
    targets = pool_targets({"a": (0.09, 0.04, 300.0), "b": (0.09, 0.04, 300.0), "s": big})
    assert targets == {"a": (0.545, 0.34), "b": (0.545, 0.34), "s": (0.09, 0.04)}
    four = pool_targets({"a": (0.09, 0.04, 300.0), "b": (0.16, 0.09, 30.0), "s": big, "n": big})
    assert four["n"] == (0.16, 0.09) and four["a"] == (1.0, 0.64)  # leave-one-out medians
    # too few calls say nothing, and one other model is no pool
    assert pool_targets({"a": (0.09, 0.04, 300.0), "b": (1.0, 0.64, 19.0)}) == {}


def test_a_model_unlike_the_others_keeps_its_own_spread_once_its_calls_outweigh_the_pool() -> None:
    lat = LatencyModel(prior_weight=0.0, spread_pool_calls=300.0)
    for i, m in enumerate(("a", "b", "c")):
        streams(lat, m, 300, 0.3, 0.2, 10 * i)
    streams(lat, "wide", 6000, 0.6, 0.4, 77)
    ttft, speed = sds(lat, "wide")
    assert 0.58 < ttft < 0.6 and 0.39 < speed < 0.4


def test_a_line_through_totals_keeps_its_mean_total_when_its_spread_is_pooled() -> None:
    def totals(pool: float) -> LatencyModel:
        # one instant for every call: the decay between calls (wall clock under load) would
        # weigh the two models' calls apart, and the means are compared to 1e-6
        lat = LatencyModel(prior_weight=0.0, spread_pool_calls=pool, clock=lambda: 1.0e6)
        for i, m in enumerate(("a", "b", "c")):
            streams(lat, m, 300, 0.3, 0.2, 10 * i)
        rng = random.Random(5)
        for _ in range(60):
            n = rng.randint(10, 300)
            t = 0.5 * math.exp(rng.gauss(0, 0.6)) + n / (80.0 * math.exp(rng.gauss(0, 0.4)))
            lat.observe_call("totals", "t", elapsed_s=t, tokens=n)
        return lat

    own, pooled = totals(0.0).estimate("totals"), totals(300.0).estimate("totals")
    assert pooled.ttft_var < own.ttft_var  # pulled toward the others' 0.3
    for f in (own, pooled):  # the line's a and b: mean TTFT and mean seconds per token
        f.ttft_mu, f.speed_mu = (
            math.exp(f.ttft_mu + f.ttft_var / 2),
            math.exp(f.speed_var / 2 - f.speed_mu),
        )
    assert pooled.ttft_mu == pytest.approx(own.ttft_mu) and pooled.speed_mu == pytest.approx(
        own.speed_mu
    )


def test_the_setting_reaches_the_sidecars_model_and_is_checked() -> None:
    doc = to_toml(demo_settings("http://127.0.0.1:9/v1", Path("unused.db")))
    # on by default, worth 30 calls: a warm-up's ~30 calls are held halfway to the others'
    assert make_latency_model(config.loads(doc, env=ENV)).spread_pool_calls == 30.0
    on = make_latency_model(config.loads(doc + "[latency]\nspread_pool_calls = 300\n", env=ENV))
    assert on.spread_pool_calls == 300.0
    with pytest.raises(config.ConfigError, match="spread_pool_calls"):
        config.loads(doc + "[latency]\nspread_pool_calls = -1\n", env=ENV)
