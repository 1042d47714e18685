"""`latency.split_prior_calls`: a model read through its non-streaming totals has its line's split
of the level (TTFT against seconds per token) shrunk toward the pool's typical split without it,
worth that many calls, its total at its calls' mean length kept. A warm-up over few answer
lengths reads the split loosely (the replay's seed 277: medium at 430 ms / 66.7 tokens/s for a
truth of 600 / 90, totals right), and a chat answer longer than the warm-up's was then read slow.
The typical model leaves the model itself out: the pool's middle model was its own target."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from arbiter import config
from arbiter.latency import LatencyModel
from arbiter.latency_math import shrink_level_split
from arbiter.latency_setup import make_latency_model
from arbiter.offline.demo import demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import ENV

# the warm-up's misread split of the middle model: TTFT 0.3 s, 60 tokens/s (no noise: the line
# reads exactly this); the two others are streamed at 0.25 s / 220 and 1.5 s / 40 tokens/s, so
# the typical model without the middle one is their geometric mean, 0.61 s / 94 tokens/s
MID_TTFT, MID_TPS = 0.3, 60.0


def pool(split_prior_calls: float, mid_calls: int = 50) -> LatencyModel:
    return fed(LatencyModel(split_prior_calls=split_prior_calls, clock=lambda: 1e6), mid_calls)


def fed(lat: LatencyModel, mid_calls: int = 50) -> LatencyModel:
    rng = random.Random(3)
    for name, ttft, tps in (("fast", 0.25, 220.0), ("slow", 1.5, 40.0)):
        for _ in range(40):
            tokens = rng.randint(20, 300)
            t = ttft * math.exp(rng.gauss(0, 0.3))
            total = t + tokens / (tps * math.exp(rng.gauss(0, 0.2)))
            lat.observe_call(name, "t", elapsed_s=total, tokens=tokens, ttft_s=t)
    for i in range(mid_calls):
        tokens = 20 + (i * 7) % 61  # 20-80 tokens: enough spread for the line
        lat.observe_call("mid", "t", elapsed_s=MID_TTFT + tokens / MID_TPS, tokens=tokens)
    return lat


def median_total(lat: LatencyModel, tokens: float) -> float:
    f = lat.estimate("mid")
    return math.exp(f.ttft_mu) + tokens / math.exp(f.speed_mu)


def test_shrink_level_split_keeps_the_total_and_moves_the_split() -> None:
    reg = [10.0, 500.0] + [0.0] * 9  # ten calls of 50 tokens on average
    a, b = shrink_level_split(reg, 0.3, 1 / 60, 0.6, 1 / 90, calls=30.0, worth=30.0)
    assert a + 50 * b == pytest.approx(0.3 + 50 / 60)
    own, target = math.log(0.3 / (50 / 60)), math.log(0.6 / (50 / 90))
    assert math.log(a / (50 * b)) == pytest.approx((own + target) / 2)  # half way at 30 of 30
    assert shrink_level_split(reg, 0.3, 1 / 60, 0.6, 1 / 90, calls=30.0, worth=0.0) == (
        0.3,
        1 / 60,
    )


def test_a_young_line_split_moves_toward_the_others_typical_split() -> None:
    # (50 calls of the middle model: the typical model was last refreshed, every 32
    # observations, after it had 20 calls and joined the pool, so the median of three is itself)
    off, on = pool(0.0), pool(30.0)
    f_off, f_on = off.estimate("mid"), on.estimate("mid")
    # off: the line's own split (pulled a little by the typical prior worth 3 calls)
    assert math.exp(f_off.ttft_mu) < 0.34
    # on: 30 / 80 of the way in log odds toward 0.61 s / 94 tokens/s (0.405 s, 68.6 tokens/s)
    assert 0.38 < math.exp(f_on.ttft_mu) < 0.5
    assert math.exp(f_on.speed_mu) > math.exp(f_off.speed_mu) * 1.08
    # the totals it was shown are still read the same (at their mean length, 50 tokens)
    assert median_total(on, 50) == pytest.approx(median_total(off, 50), rel=0.03)
    # it fades with the model's calls: at 300 calls a tenth of the way
    old = pool(30.0, mid_calls=300).estimate("mid")
    assert math.exp(old.ttft_mu) < 0.36


def test_the_target_leaves_the_model_itself_out() -> None:
    # with itself in the pool the middle model is the median of three: its own target, no move
    lat = pool(30.0)
    assert lat._typical is not None and lat._typical.ttft_ms == pytest.approx(300, rel=0.05)
    lat.estimate("mid")
    t_log, s_log = lat._split_others["mid"]
    assert math.exp(t_log) == pytest.approx(math.sqrt(0.25 * 1.5), rel=0.15)
    assert math.exp(s_log) == pytest.approx(math.sqrt(220.0 * 40.0), rel=0.15)


def test_the_setting_reaches_the_sidecar_and_is_checked() -> None:
    doc = to_toml(demo_settings("http://127.0.0.1:9/v1", Path("unused.db")))
    assert make_latency_model(config.loads(doc, env=ENV)).split_prior_calls == 30.0
    off = make_latency_model(config.loads(doc + "[latency]\nsplit_prior_calls = 0\n", env=ENV))
    assert off.split_prior_calls == 0.0
    with pytest.raises(config.ConfigError, match="split_prior_calls"):
        config.loads(doc + "[latency]\nsplit_prior_calls = -1\n", env=ENV)


def test_the_sidecar_default_moves_a_young_line_split() -> None:
    # on by default since slo26 (30 calls: it passes the ship rule that counts seeds against
    # issue 19's goals, bench/results/latency_slo.md): a sidecar's model as configured
    doc = to_toml(demo_settings("http://127.0.0.1:9/v1", Path("unused.db")))
    lat = fed(make_latency_model(config.loads(doc, env=ENV)))
    assert 0.38 < math.exp(lat.estimate("mid").ttft_mu) < 0.5
