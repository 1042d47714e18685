"""The prior's speed spread is the other models' (`latency.spread_prior_pool`,
arbiter.latency_pool): a model's first calls are not widened by the 0.6 log sd assumed of a
model never seen (the TTFT part keeps it), the difference fades as its own calls come, a
restarted model (adopted level) has no prior to replace, and the setting reaches the sidecar's
model."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from arbiter import config
from arbiter.latency import LatencyModel, LatencyPrior
from arbiter.latency_setup import make_latency_model
from arbiter.offline.demo import demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import ENV


def teach(lat: LatencyModel, new_calls: int) -> None:
    """Three models seen at length (streams, log sds 0.3 / 0.2) and a new one, non-streaming,
    with `new_calls` totals from the same truth (TTFT 0.6 s, 90 tok/s: medium's in the bench)."""
    rng = random.Random(3)
    for m in ("a", "b", "c"):
        for _ in range(300):
            lat.observe(m, "t", ttft_s=0.5 * math.exp(rng.gauss(0, 0.3)),
                        speed_tps=80.0 * math.exp(rng.gauss(0, 0.2)))  # fmt: skip
    rng = random.Random(7)
    for _ in range(new_calls):
        n = rng.randint(20, 300)
        t = 0.6 * math.exp(rng.gauss(0, 0.3)) + n / (90.0 * math.exp(rng.gauss(0, 0.2)))
        lat.observe_call("new", "t", elapsed_s=t, tokens=n)


def model(pooled: bool, weight: float = 3.0) -> LatencyModel:
    # one instant for every call: the fits are compared to 1e-9, decay would weigh them apart;
    # "new" told the default prior (else the pool's typical model, faster than its calls, is
    # its prior, and their distance widens its spread: latency_math.blend_upper)
    return LatencyModel(prior_weight=weight, spread_prior_pool=pooled, clock=lambda: 1.0e6,
                        priors={"new": LatencyPrior()})  # fmt: skip


def test_a_models_first_calls_take_the_others_speed_spread_as_their_prior_not_the_unseen_ones() -> (
    None
):
    off, on, bare = model(False), model(True), model(False, weight=0.0)
    for lat in (off, on, bare):
        teach(lat, 30)
    f_off, f_on, own = off.estimate("new"), on.estimate("new"), bare.estimate("new")
    target = on._pool_targets()["new"]  # the median over a, b, c: about 0.3^2 and 0.2^2
    assert target == pytest.approx((0.09, 0.04), abs=0.01)
    k, n, pv = 3.0, 30.0, 0.6**2
    # off: the calls' own variance with the unseen model's 0.36 worth 3 calls
    assert f_off.ttft_var == pytest.approx((n * own.ttft_var + k * pv) / (n + k))
    assert f_off.speed_var == pytest.approx((n * own.speed_var + k * pv) / (n + k))
    # on: the speed part's 3 calls' worth at the others' spread; TTFT's at the configured one
    assert f_on.ttft_var == pytest.approx((n * own.ttft_var + k * pv) / (n + k))
    assert f_on.speed_var == pytest.approx((n * own.speed_var + k * target[1]) / (n + k))
    # the 30 calls' speed spread read wider by the unseen prior by ~0.03 in variance, not now
    assert f_off.speed_var - f_on.speed_var == pytest.approx(k * (pv - target[1]) / (n + k))
    assert f_off.speed_var - f_on.speed_var > 0.025
    # a line's fit keeps its mean TTFT and mean seconds per token whatever its spread
    for a, b in ((f_off, f_on),):
        assert math.exp(a.ttft_mu + a.ttft_var / 2) == pytest.approx(
            math.exp(b.ttft_mu + b.ttft_var / 2)
        )
        assert math.exp(a.speed_var / 2 - a.speed_mu) == pytest.approx(
            math.exp(b.speed_var / 2 - b.speed_mu)
        )
    # so its p90 of an 80-token answer is lower (the router's cold-start swaps: medium's)
    assert (
        on.predict_ms("new", "t", 1.2816, math.log(80), 0.0)[1]
        < off.predict_ms("new", "t", 1.2816, math.log(80), 0.0)[1]
    )


def test_the_difference_fades_as_the_models_own_calls_come() -> None:
    off, on = model(False), model(True)
    for lat in (off, on):
        teach(lat, 3000)
    a, b = off.estimate("new"), on.estimate("new")
    assert 0 < math.sqrt(a.speed_var) - math.sqrt(b.speed_var) < 0.003


def test_a_restarted_model_has_no_prior_to_replace() -> None:
    off, on = model(False), model(True)
    for lat in (off, on):
        teach(lat, 30)
        lat.adopt("new", ttft_ms=600.0, tokens_per_s=90.0)  # a change point's new level
        rng = random.Random(11)
        for _ in range(10):
            n = rng.randint(20, 300)
            lat.observe_call("new", "t", elapsed_s=0.6 + n / 90.0, tokens=n)
    a, b = off.estimate("new"), on.estimate("new")
    assert (a.ttft_var, a.speed_var) == (b.ttft_var, b.speed_var)


def test_the_setting_reaches_the_sidecars_model_and_is_checked() -> None:
    doc = to_toml(demo_settings("http://127.0.0.1:9/v1", Path("unused.db")))
    # on by default since slo26 (with `split_prior_calls`: bench/results/latency_slo.md)
    assert make_latency_model(config.loads(doc, env=ENV)).spread_prior_pool is True
    off = make_latency_model(config.loads(doc + "[latency]\nspread_prior_pool = false\n", env=ENV))
    assert off.spread_prior_pool is False
    with pytest.raises(config.ConfigError, match="spread_prior_pool"):
        config.loads(doc + "[latency]\nspread_prior_pool = 1\n", env=ENV)
