"""The latency model (arbiter.latency): learning from streams, non-streaming totals and failures,
forgetting in time, restarting at a new level, per-tenant estimates, replicas' rows, and the
quantile's calibration on synthetic draws."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

from arbiter.latency import (
    ALL_TENANTS,
    LatencyModel,
    LatencyPrior,
    lognormal_sum_quantile,
    z_score,
)


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def draw_call(rng: random.Random, ttft: float, speed: float) -> tuple[float, float, int]:
    """(TTFT s, total s, tokens) of one synthetic call: log-normal TTFT (sd 0.3) and speed
    (sd 0.2), answer lengths log-normal around 80 tokens (sd 0.8)."""
    n = int(math.exp(rng.gauss(math.log(80), 0.8))) + 1
    t = ttft * math.exp(0.3 * rng.gauss(0, 1))
    s = speed * math.exp(0.2 * rng.gauss(0, 1))
    return t, t + n / s, n


def coverage(
    model: LatencyModel, rng: random.Random, ttft: float, speed: float, n: int, q: float
) -> float:
    """Share of fresh draws (n tokens) within the model's q-quantile prediction."""
    _, predicted = model.predict_ms("m", "t", z_score(q), math.log(n), 1e-6)
    hits = 0
    for _ in range(20_000):
        t = ttft * math.exp(0.3 * rng.gauss(0, 1))
        total = t + n / (speed * math.exp(0.2 * rng.gauss(0, 1)))
        hits += total * 1000 <= predicted
    return hits / 20_000


def test_the_normal_quantile_matches_the_standard_library() -> None:
    from statistics import NormalDist

    for q in (0.001, 0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999):
        assert z_score(q) == pytest.approx(NormalDist().inv_cdf(q), abs=1e-8)
    with pytest.raises(ValueError):
        z_score(1.0)


def test_lognormal_sum_quantile_is_close_to_monte_carlo() -> None:
    rng = random.Random(1)
    z = z_score(0.9)
    q = lognormal_sum_quantile(math.log(0.5), 0.09, math.log(1.0), 0.25, z)
    draws = sorted(
        math.exp(math.log(0.5) + 0.3 * rng.gauss(0, 1)) + math.exp(0.5 * rng.gauss(0, 1))
        for _ in range(50_000)
    )
    assert q == pytest.approx(draws[int(0.9 * len(draws))], rel=0.03)


def test_streams_teach_ttft_and_speed_and_the_quantile_is_calibrated() -> None:
    rng = random.Random(2)
    clock = Clock()
    model = LatencyModel(clock=clock)
    for _ in range(1500):
        t, total, n = draw_call(rng, 0.4, 80.0)
        model.observe_call("m", "t", elapsed_s=total, tokens=n, ttft_s=t)
        clock.t += 0.5
    fit = model.estimate("m")
    assert math.exp(fit.ttft_mu) == pytest.approx(0.4, rel=0.05)
    assert math.exp(fit.speed_mu) == pytest.approx(80.0, rel=0.05)
    assert math.sqrt(fit.ttft_var) == pytest.approx(0.3, abs=0.03)
    for n in (10, 100, 1000):
        assert 0.87 <= coverage(model, rng, 0.4, 80.0, n, 0.9) <= 0.93


@pytest.mark.parametrize(("ttft", "speed"), [(0.6, 90.0), (0.25, 220.0), (1.2, 45.0)])
def test_non_streaming_totals_are_split_by_their_line_and_calibrated(
    ttft: float, speed: float
) -> None:
    """Only totals: the least-squares line through them finds TTFT and speed from the default
    (far-off) prior, and the p90 prediction covers about 90% at short and long answers."""
    rng = random.Random(3)
    clock = Clock()
    model = LatencyModel(clock=clock)
    for _ in range(1000):
        _, total, n = draw_call(rng, ttft, speed)
        model.observe_call("m", "t", elapsed_s=total, tokens=n)
        clock.t += 0.5
    fit = model.estimate("m")
    assert math.exp(fit.ttft_mu) == pytest.approx(ttft, rel=0.15)
    assert math.exp(fit.speed_mu) == pytest.approx(speed, rel=0.15)
    for n in (10, 80, 400):
        assert 0.86 <= coverage(model, rng, ttft, speed, n, 0.9) <= 0.95


@pytest.mark.parametrize(("ttft_sd", "speed_sd"), [(0.3, 0.2), (0.5, 0.1)])
def test_non_streaming_totals_give_ttft_and_speed_their_own_spread(
    ttft_sd: float, speed_sd: float
) -> None:
    """Only totals, yet each part's log sd is learned on its own (from how the residual grows
    with the answer's length): one shared spread made a short answer (TTFT decides it) look
    safer, and a long one riskier, than it is. The p90 then covers ~90% at either length (the
    line's own error moves it by a few points: 0.85-0.93 over six seeds)."""
    rng = random.Random(4)
    clock = Clock()
    model = LatencyModel(clock=clock)
    ttft, speed = 1.2, 45.0

    def total(n: int) -> float:
        t = ttft * math.exp(ttft_sd * rng.gauss(0, 1))
        return t + n / (speed * math.exp(speed_sd * rng.gauss(0, 1)))

    for _ in range(1500):
        n = int(math.exp(rng.gauss(math.log(40), 0.8))) + 1
        model.observe_call("m", "t", elapsed_s=total(n), tokens=n)
        clock.t += 0.5
    fit = model.estimate("m")
    assert math.sqrt(fit.ttft_var) == pytest.approx(ttft_sd, abs=0.05)
    assert math.sqrt(fit.speed_var) == pytest.approx(speed_sd, abs=0.06)
    for n in (10, 150):
        _, p90 = model.predict_ms("m", "t", z_score(0.9), math.log(n), 1e-6)
        hits = sum(total(n) * 1000 <= p90 for _ in range(10_000)) / 10_000
        assert 0.84 <= hits <= 0.96, (n, hits)


@pytest.mark.parametrize("stream", [False, True])
def test_a_stall_is_a_fact_about_its_call_not_the_spread_of_the_next_ones(stream: bool) -> None:
    """One call in a hundred stalls 2 s before its first token on a model that answers in
    ~0.3 s: counted at face value, those calls' squares made the TTFT spread ~0.5-0.6 (log sd)
    for a truth of 0.3, and the model's p90 far too slow. Beyond its own p99.98 a call counts
    as at it, once the model has 20 calls. (A prior near the truth: a far one widens a stream's
    spread by its own distance for a while, which is not what this measures.)"""
    rng = random.Random(5)
    clock = Clock()
    model = LatencyModel(clock=clock, prior=LatencyPrior(100.0, 400.0, 0.3))
    for i in range(600):
        n = int(math.exp(rng.gauss(math.log(40), 0.7))) + 1
        t = 0.1 * math.exp(0.3 * rng.gauss(0, 1)) + (2.0 if i % 100 == 50 else 0.0)
        total = t + n / (400.0 * math.exp(0.2 * rng.gauss(0, 1)))
        model.observe_call("m", "t", elapsed_s=total, tokens=n, ttft_s=t if stream else None)
        clock.t += 0.5
    fit = model.estimate("m")
    assert math.sqrt(fit.ttft_var) == pytest.approx(0.3, abs=0.07)
    assert math.exp(fit.ttft_mu) == pytest.approx(0.1, rel=0.15)


def test_a_burst_of_stalled_calls_barely_moves_the_predicted_p90() -> None:
    """A host stall slows ten consecutive calls 5x. Each counted at the model's p99.98 (until
    s10), the burst raised the predicted p90 of a 300-token answer by 24% for a half-life and
    the router avoided the model (bench/latency_slo_replay.py --stalls); at its p99.4, by 9%."""
    rng = random.Random(3)
    clock = Clock()
    model = LatencyModel(clock=clock, prior=LatencyPrior(400.0, 100.0, 0.3))

    def calls(k: int, factor: float) -> None:
        for _ in range(k):
            n = int(math.exp(rng.gauss(math.log(200), 0.6))) + 1
            total = 0.4 * math.exp(0.3 * rng.gauss(0, 1)) + n / (
                100 * math.exp(0.2 * rng.gauss(0, 1))
            )
            model.observe_call("m", "t", elapsed_s=total * factor, tokens=n)
            clock.t += 1.0

    calls(300, 1.0)
    before = model.predict_ms("m", "t", z_score(0.9), math.log(300), 0.0)[1]
    calls(10, 5.0)
    after = model.predict_ms("m", "t", z_score(0.9), math.log(300), 0.0)[1]
    assert after / before < 1.12, after / before


@pytest.mark.parametrize("at", [2, 9, 17])
def test_one_slow_call_among_a_models_first_keeps_its_spread_near_the_true_one(at: int) -> None:
    """bench/latency_slo.py seed 11: one 4.3x call on a long answer among turbo's first calls,
    before the p99.98 clip applies (20 calls), held its learned speed log sd at ~0.5 for a truth
    of 0.2 for good (a long answer's square weighs like N^4 in the TTFT/speed split), and the
    router then avoided it. The first calls are re-clipped against their own median and MAD
    once there are 20 of them. The default prior (far from this model) is part of the case."""
    rng = random.Random(7)
    clock = Clock()
    model = LatencyModel(clock=clock)
    ttft, speed = 0.025, 2200.0
    for i in range(230):
        n = 400 if i == at else int(math.exp(rng.gauss(math.log(100), 0.8))) + 1
        t = ttft * math.exp(0.3 * rng.gauss(0, 1))
        total = t + n / (speed * math.exp(0.2 * rng.gauss(0, 1)))
        if i == at:
            total = (ttft + n / speed) * 4.3
        model.observe_call("m", "t", elapsed_s=total, tokens=n)
        clock.t += 0.5
    fit = model.estimate("m")
    assert math.sqrt(fit.speed_var) == pytest.approx(0.2, abs=0.06)
    assert math.exp(-fit.speed_mu) * 100 + math.exp(fit.ttft_mu) == pytest.approx(
        ttft + 100 / speed, rel=0.15
    )


def test_one_stalled_stream_among_a_models_first_keeps_its_ttft_spread() -> None:
    """The same for streams: a 2 s stall on a 60 ms model at its 4th call counted at face value
    (log sd ~0.45 for a truth of 0.3 after 200 calls)."""
    rng = random.Random(8)
    clock = Clock()
    model = LatencyModel(clock=clock, prior=LatencyPrior(100.0, 400.0, 0.3))
    for i in range(200):
        n = int(math.exp(rng.gauss(math.log(40), 0.7))) + 1
        t = 0.06 * math.exp(0.3 * rng.gauss(0, 1)) + (2.0 if i == 3 else 0.0)
        total = t + n / (400.0 * math.exp(0.2 * rng.gauss(0, 1)))
        model.observe_call("m", "t", elapsed_s=total, tokens=n, ttft_s=t)
        clock.t += 0.5
    assert math.sqrt(model.estimate("m").ttft_var) == pytest.approx(0.3, abs=0.05)


def test_the_first_calls_re_clip_travels_to_the_other_replicas_through_the_rows() -> None:
    """The re-clip corrects the replica's own sums, so the rows it publishes carry it: a replica
    that only reads them learns the same spread, and two that each saw an early outlier agree."""
    clock = Clock()
    a = LatencyModel(replica="a", clock=clock)
    b = LatencyModel(replica="b", clock=clock)
    rng = random.Random(9)
    for i in range(60):
        for model, slow_at in ((a, 4), (b, 11)):
            n = 400 if i == slow_at else int(math.exp(rng.gauss(math.log(100), 0.8))) + 1
            total = 0.025 * math.exp(0.3 * rng.gauss(0, 1)) + n / (
                2200.0 * math.exp(0.2 * rng.gauss(0, 1))
            )
            model.observe_call("m", "t", elapsed_s=total * (4.3 if i == slow_at else 1.0), tokens=n)
        clock.t += 0.5
    rows = a.rows() + b.rows()
    a.replace_others(rows)
    b.replace_others(rows)
    reader = LatencyModel(replica="c", clock=clock)
    reader.replace_others(rows)
    fa, fb, fc = a.estimate("m"), b.estimate("m"), reader.estimate("m")
    assert fa.speed_var == pytest.approx(fb.speed_var) == pytest.approx(fc.speed_var)
    assert math.sqrt(fa.speed_var) == pytest.approx(0.2, abs=0.07)


def test_an_unknown_model_gets_the_prior_and_its_own_prior_wins() -> None:
    model = LatencyModel(
        prior=LatencyPrior(2000.0, 20.0), priors={"fast": LatencyPrior(100.0, 500.0)}
    )
    slow_ttft, slow_total = model.predict_ms("unknown", "t", z_score(0.9), math.log(100), 0.1)
    _, fast_total = model.predict_ms("fast", "t", z_score(0.9), math.log(100), 0.1)
    assert slow_ttft > 2000.0 and slow_total > 5000.0, "the default prior is conservative"
    assert fast_total < slow_total / 10


def test_forgetting_follows_a_shift_and_adopt_takes_a_new_level_at_once() -> None:
    rng = random.Random(4)
    clock = Clock()
    model = LatencyModel(clock=clock, half_life_s=60.0)
    for _ in range(300):
        t, total, n = draw_call(rng, 0.3, 100.0)
        model.observe_call("m", "t", elapsed_s=total, tokens=n, ttft_s=t)
        clock.t += 1.0
    assert math.exp(model.estimate("m").ttft_mu) == pytest.approx(0.3, rel=0.1)
    for _ in range(300):  # the model gets three times slower to its first token
        t, total, n = draw_call(rng, 0.9, 100.0)
        model.observe_call("m", "t", elapsed_s=total, tokens=n, ttft_s=t)
        clock.t += 1.0
    # 300 s = 5 half-lives: the old level weighs 1/32 of the new
    assert math.exp(model.estimate("m").ttft_mu) == pytest.approx(0.9, rel=0.15)
    model.adopt("m", ttft_ms=100.0, tokens_per_s=400.0)
    fit = model.estimate("m")
    assert math.exp(fit.ttft_mu) == pytest.approx(0.1, rel=0.01)
    assert math.exp(fit.speed_mu) == pytest.approx(400.0, rel=0.01)


def test_a_slow_failure_raises_ttft_a_quick_one_says_nothing() -> None:
    model = LatencyModel(prior=LatencyPrior(500.0, 50.0, 0.3), prior_weight=3.0)
    before = model.estimate("m").ttft_mu
    model.observe_call("m", "t", elapsed_s=0.01, tokens=0, failed=True)  # an instant 503
    assert model.estimate("m").ttft_mu == before
    for _ in range(5):  # timed out after 3 s without a token: TTFT is at least that
        model.observe_call("m", "t", elapsed_s=3.0, tokens=0, failed=True)
    assert math.exp(model.estimate("m").ttft_mu) > 1.5


def test_a_failure_far_beyond_a_steady_models_spread_is_learned_not_a_crash() -> None:
    """A model whose first tokens always came at the same time has a tiny spread; a timeout
    many of those spreads later made the censored moments divide 0 by 0 (erfc underflowed),
    and the request that revealed it failed with a 500 (seen in bench/latency_slo.py)."""
    model = LatencyModel(prior_weight=0.0)
    for _ in range(200):
        model.observe("m", "t", ttft_s=0.2, speed_tps=100.0)
    assert math.sqrt(model.estimate("m").ttft_var) < 0.02
    model.observe_call("m", "t", elapsed_s=5.0, tokens=0, failed=True)  # 25x the usual TTFT
    assert math.exp(model.estimate("m").ttft_mu) > 0.2


def test_a_tenant_gets_its_own_estimate_once_it_has_enough_calls() -> None:
    model = LatencyModel(tenant_min_calls=20)
    for _ in range(100):
        model.observe("m", "bulk", ttft_s=0.2, speed_tps=100.0)
    for _ in range(10):
        model.observe("m", "long-prompts", ttft_s=2.0, speed_tps=100.0)
    pooled = model.estimate("m")
    assert model.estimate("m", "long-prompts") is pooled, "10 calls: the pooled estimate"
    for _ in range(10):
        model.observe("m", "long-prompts", ttft_s=2.0, speed_tps=100.0)
    own = model.estimate("m", "long-prompts")
    assert math.exp(own.ttft_mu) > 1.5 > math.exp(pooled.ttft_mu)


def test_replicas_rows_add_up_and_a_restart_travels() -> None:
    clock = Clock()
    a = LatencyModel(replica="a", clock=clock)
    b = LatencyModel(replica="b", clock=clock)
    for _ in range(50):
        a.observe("m", "t", ttft_s=0.2, speed_tps=100.0)
        b.observe("m", "t", ttft_s=0.8, speed_tps=100.0)
    rows = a.rows() + b.rows()
    a.replace_others(rows)
    b.replace_others(rows)
    fa, fb = a.estimate("m"), b.estimate("m")
    assert fa.ttft_mu == pytest.approx(fb.ttft_mu) and fa.calls == fb.calls == 100
    assert math.exp(fa.ttft_mu) == pytest.approx(0.4, rel=0.06)  # the geometric mean, + prior
    clock.t += 10
    a.adopt("m", ttft_ms=1000.0, tokens_per_s=10.0)
    b.replace_others(a.rows() + b.rows())  # b sees a's newer epoch: its old evidence goes
    assert math.exp(b.estimate("m").ttft_mu) == pytest.approx(1.0, rel=0.01)
    assert b.rows() == [] or all(r.epoch >= clock.t for r in b.rows())
    assert ALL_TENANTS in {r.tenant for r in a.rows()}


def test_a_row_from_a_replica_without_the_split_sums_falls_back_to_one_shared_spread() -> None:
    """During a rolling upgrade an older replica writes rows without the five sums that split
    the spread (stored as 0): mixed with complete ones, the split's sums describe only some of
    the calls the line is fitted on, and its answer is off by how many. Until every row has
    them, both parts share the one spread that all rows define."""
    rng = random.Random(6)
    clock = Clock()
    old, new = LatencyModel(replica="old", clock=clock), LatencyModel(replica="new", clock=clock)
    for _ in range(300):
        for model in (old, new):
            _, total, n = draw_call(rng, 0.6, 90.0)
            model.observe_call("m", "t", elapsed_s=total, tokens=n)
        clock.t += 0.5
    legacy = [dataclasses.replace(r, reg_n3=0.0, reg_n4=0.0, reg_tn2=0.0, reg_tn3=0.0,
                                  reg_ttn2=0.0) for r in old.rows()]  # fmt: skip
    new.replace_others(legacy)
    fit = new.estimate("m")
    assert fit.ttft_var == pytest.approx(fit.speed_var)
    assert 0.2 < math.sqrt(fit.ttft_var) < 0.35


def test_a_fit_from_one_side_alone_reads_its_sums_uncopied_and_equals_the_copied_fit() -> None:
    """Each answered call refits its model (the change detector and the next call's clip read
    the fit), and the refit copied the key's own sums into a fresh total even when no other
    replica had any: a third of the refit. One side alone is now read as it is; the fits are
    the same to the bit as the copying path's (forced here by another replica's all-zero row,
    which adds exact zeros), for streams, totals and failures, pooled and per tenant."""
    clock = Clock()
    alone = LatencyModel(replica="a", clock=clock, tenant_min_calls=5.0)
    copied = LatencyModel(replica="a", clock=clock, tenant_min_calls=5.0)
    zero = LatencyModel(replica="z", clock=clock)
    zero.observe("m", "t", ttft_s=0.1, weight=0.0)  # a row for (t, m) and (*, m), all zeros
    copied.replace_others(zero.rows())
    rng = random.Random(4)
    for i in range(120):
        ttft, total, n = draw_call(rng, 0.3, 80.0)
        for model in (alone, copied):
            if i % 3 == 0:
                model.observe_call("m", "t", elapsed_s=total, tokens=n, ttft_s=ttft)
            elif i % 7 == 0:
                model.observe_call("m", "t", elapsed_s=ttft, tokens=0, failed=True)
            else:
                model.observe_call("m", "t", elapsed_s=total, tokens=n)
        clock.t += 1.0
        assert alone.estimate("m", "t") == copied.estimate("m", "t")
        assert alone.estimate("m") == copied.estimate("m")
    key = (ALL_TENANTS, "m")
    assert alone._combined(key) is alone._own[key]  # the guard: no copy
    assert copied._combined(key) is not copied._own[key]
    reader = LatencyModel(replica="r", clock=clock)  # only others' rows: read as they are
    reader.replace_others(alone.rows())
    assert reader._combined(key) is reader._others[key]
    got, want = reader.estimate("m"), alone.estimate("m")  # (rows re-referenced: not bitwise)
    assert dataclasses.astuple(got) == pytest.approx(dataclasses.astuple(want), rel=1e-9)
