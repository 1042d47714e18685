"""A latency prior weighs what the docs say (`latency.prior_weight` calls) for both kinds of
call, and a model without calls is read as the pool's typical model (probe21's two defects).

1. A whole (non-streamed) answer: the line through totals took the calls' level whole, so with
   a 1,500 ms TTFT prior one 2 ms answer read p90 TTFT 3.4 ms (a 1 ms TTFT SLO "fit" a model
   seen once), while the same call as a stream read 11,989 ms. Now both read the prior worth 3
   calls, in level and in spread, alike.
2. A model without calls and without `[latency.priors.M]` was read at the configured 2 s /
   20 tokens/s: p90 40-80 s for a 350-token answer, "none fits" for every SLO under a minute.
   Now, once two models have 20 calls, it is read at their median level (the configured
   spread), and replicas that synced the same rows agree on it."""

from __future__ import annotations

import math
import random

import pytest

from arbiter.latency import LatencyModel, LatencyPrior, z_score

Z90 = z_score(0.9)


def told_1500ms() -> LatencyModel:
    return LatencyModel(priors={"m": LatencyPrior(1500, 2000)})


def test_probe21_one_fast_whole_answer_no_longer_fits_a_1ms_ttft_slo() -> None:
    """probe21's in-process repro: prior 1,500 ms / 2,000 tokens/s, one 2 ms 7-token answer."""
    lat = told_1500ms()
    lat.observe_call("m", "t", elapsed_s=0.002, tokens=7)
    ttft_p90, _ = lat.predict_ms("m", "t", Z90, math.log(7), 0.0)
    assert ttft_p90 > 300.0  # was 3.4 ms
    fit = lat.estimate("m")
    # the median: 3 calls' worth at the prior's, 1 at the call's (log), as a stream's is
    want = (3 * math.log(1.5) + math.log(0.002)) / 4
    assert fit.ttft_mu == pytest.approx(want, abs=0.01)


def test_a_whole_answer_and_the_same_call_streamed_weigh_the_prior_alike() -> None:
    """The same level for both kinds (the prior worth 3 calls); the stream's spread also takes
    the prior's distance from its call (`blend`), the whole answer's only where the prior reads
    the model faster than its calls (`blend_upper`; here it reads it slower)."""
    whole, stream = told_1500ms(), told_1500ms()
    whole.observe_call("m", "t", elapsed_s=0.002, tokens=7)
    stream.observe_call("m", "t", elapsed_s=0.002, tokens=7, ttft_s=0.002)
    w, s = whole.estimate("m"), stream.estimate("m")
    assert w.ttft_mu == pytest.approx(s.ttft_mu, abs=0.01)
    assert w.ttft_var == pytest.approx(0.6**2 * 3 / 4, rel=0.01)


def test_a_prior_faster_than_the_calls_widens_a_lines_spread_by_their_distance() -> None:
    """Told 50 ms, answering in ~1 s: the level is pulled 3 calls' worth toward 50 ms, and
    the spread widened by the distance (`blend`'s term), so the p90 still covers the calls."""
    lat = LatencyModel(priors={"m": LatencyPrior(50, 2000)})
    for i in range(5):
        lat.observe_call("m", "t", elapsed_s=1.0 + 0.01 * i, tokens=10 + 40 * i)
    fit = lat.estimate("m")
    d = math.log(1.0) - math.log(0.05)
    assert fit.ttft_var > 3 * 5 / 8**2 * d * d  # the distance's part alone
    assert lat.predict_ms("m", "t", Z90, math.log(10), 0.0)[0] > 1000.0


@pytest.mark.parametrize("calls", [1, 3, 12])
def test_the_prior_is_worth_prior_weight_calls_in_a_lines_level(calls: int) -> None:
    """Calls at one level (TTFT 200 ms, lengths varied): the fitted median TTFT sits k/(k+n)
    of the way from it to the prior's in log; before, on the calls' level whatever n."""
    lat = told_1500ms()
    rng = random.Random(calls)
    for i in range(calls):
        n = 10 + 40 * (i % 4)
        lat.observe_call("m", "t", elapsed_s=0.2 + n / 2000 * math.exp(rng.gauss(0, 0.01)),
                         tokens=n)  # fmt: skip
    data = math.log(0.2)
    got = lat.estimate("m").ttft_mu
    want = (3 * math.log(1.5) + calls * data) / (3 + calls)
    assert got == pytest.approx(want, abs=0.12), (got, want, data)
    assert got > data + 0.5 * (want - data)  # (was ~data: the prior had no weight)


def teach(lat: LatencyModel, rng: random.Random, calls: int = 50) -> None:
    """Two models at 250 ms / 200 tokens/s and 400 ms / 100 tokens/s (log sd 0.3 / 0.2)."""
    for _ in range(calls):
        for name, ttft, tps in (("fast", 0.25, 200.0), ("slow", 0.4, 100.0)):
            n = rng.randint(20, 600)
            t = ttft * math.exp(rng.gauss(0, 0.3)) + n / (tps * math.exp(rng.gauss(0, 0.2)))
            lat.observe_call(name, "t", elapsed_s=t, tokens=n)


def test_a_model_without_calls_is_read_as_the_pools_typical_model() -> None:
    lat = LatencyModel(spread_pool_calls=30.0, priors={"told": LatencyPrior(3000, 10)})
    cold_before = lat.predict_ms("new", "t", Z90, math.log(350), 0.3)[1]
    assert cold_before > 40_000  # the configured 2 s / 20 tokens/s (probe21: 66.8 s)
    teach(lat, random.Random(5))
    new = lat.estimate("new")
    fast, slow = lat.estimate("fast"), lat.estimate("slow")
    assert new.calls == 0
    lo, hi = sorted((fast.ttft_mu, slow.ttft_mu))
    assert lo - 0.2 < new.ttft_mu < hi + 0.2
    lo, hi = sorted((fast.speed_mu, slow.speed_mu))
    assert lo - 0.2 < new.speed_mu < hi + 0.2
    assert new.ttft_var == pytest.approx(0.36) and new.speed_var == pytest.approx(0.36)
    cold_after = lat.predict_ms("new", "t", Z90, math.log(350), 0.3)[1]
    assert cold_after < 10_000, cold_after
    # a model with its own [latency.priors.M] keeps it
    told = lat.estimate("told")
    assert math.exp(told.ttft_mu) == pytest.approx(3.0)
    assert math.exp(told.speed_mu) == pytest.approx(10.0)


def test_one_measured_model_is_no_pool_the_configured_prior_stays() -> None:
    lat = LatencyModel()
    rng = random.Random(2)
    for _ in range(40):
        lat.observe_call("fast", "t", elapsed_s=0.25 + rng.randint(20, 600) / 200, tokens=300)
    new = lat.estimate("new")
    assert math.exp(new.ttft_mu) == pytest.approx(2.0)
    assert math.exp(new.speed_mu) == pytest.approx(20.0)


def test_replicas_that_synced_the_same_rows_read_a_cold_model_alike() -> None:
    clock = [1.0e6]
    a = LatencyModel(replica="a", clock=lambda: clock[0])
    b = LatencyModel(replica="b", clock=lambda: clock[0])
    teach(a, random.Random(9))
    b.replace_others(a.rows())
    a.replace_others(b.rows())
    ea, eb = a.estimate("new"), b.estimate("new")
    assert ea.ttft_mu == pytest.approx(eb.ttft_mu, abs=1e-9)
    assert ea.speed_mu == pytest.approx(eb.speed_mu, abs=1e-9)
    assert math.exp(ea.ttft_mu) < 1.0  # the pool's, not the configured 2 s
