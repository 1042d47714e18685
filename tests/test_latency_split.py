"""How a model seen through non-streaming totals splits its spread between TTFT and speed
when it also has streams (arbiter.latency_math.log_vars, arbiter.latency_split): synthetic
calls with known spreads."""

from __future__ import annotations

import math
import random

from arbiter.latency import LatencyModel, z_score


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def total_call(
    rng: random.Random, n: int, ttft: float, speed: float, sa: float, sb: float
) -> tuple[float, float]:
    """(TTFT s, total s) of one call: log-normal TTFT (log sd sa) and speed (sb)."""
    t = ttft * math.exp(sa * rng.gauss(0, 1))
    return t, t + n / (speed * math.exp(sb * rng.gauss(0, 1)))


def true_p90(n: int, ttft: float, speed: float, sa: float, sb: float) -> float:
    rng = random.Random(99)
    xs = sorted(total_call(rng, n, ttft, speed, sa, sb)[1] for _ in range(20_000))
    return xs[18_000]


def one_length(rng: random.Random) -> int:
    """100 tokens +- 10%: lengths that cannot split a spread (nor fix the line)."""
    return int(100 * math.exp(0.1 * rng.gauss(0, 1)))


def test_a_models_own_streams_split_the_spread_of_its_totals() -> None:
    """A model answering about one length, a tenth of its calls streamed: TTFT's log sd 0.45,
    speed's 0.10. Its streams show each part; before, the totals' one shared spread (0.24 for
    both, and a line shaped by the prior) put a 10-token answer's p90 ~15% under the truth."""
    for seed in range(3):
        rng = random.Random(seed)
        clock = Clock()
        model = LatencyModel(clock=clock)
        for _ in range(300):
            n = one_length(rng)
            ttft, total = total_call(rng, n, 0.6, 90.0, 0.45, 0.10)
            stream = rng.random() < 0.1
            model.observe_call("m", "t", elapsed_s=total, tokens=n, ttft_s=ttft if stream else None)
            clock.t += 1.0
        fit = model.estimate("m")
        assert abs(math.sqrt(fit.ttft_var) - 0.45) < 0.07, (seed, fit)
        assert abs(math.sqrt(fit.speed_var) - 0.10) < 0.06, (seed, fit)
        p90 = model.predict_ms("m", "t", z_score(0.9), math.log(10), 0.0)[1] / 1000
        # (0.10, not 0.08, since the line's level weighs the prior's, 3 of 303 calls, as a
        # stream's did: the 2 s / 20 tokens/s prior, 1.2-1.5 in log away, adds 1.4-1.9 points)
        assert abs(p90 / true_p90(10, 0.6, 90.0, 0.45, 0.10) - 1) < 0.10, seed


def test_without_streams_the_totals_keep_one_shared_spread() -> None:
    """The same model with no streams: nothing tells the parts apart, so both share the
    totals' spread, as before (a guard: the streams' ratio is used only when there are some)."""
    rng = random.Random(0)
    clock = Clock()
    model = LatencyModel(clock=clock)
    for _ in range(300):
        n = one_length(rng)
        model.observe_call("m", "t", elapsed_s=total_call(rng, n, 0.6, 90.0, 0.45, 0.10)[1],
                           tokens=n)  # fmt: skip
        clock.t += 1.0
    fit = model.estimate("m")
    assert fit.ttft_var == fit.speed_var


def test_one_replicas_streams_split_the_totals_another_replica_saw() -> None:
    """Replica a sees a model's streams, replica b its totals: after a sync b splits the
    totals' spread by a's streams, as one replica that saw both does."""
    rng = random.Random(5)
    clock = Clock()
    a, b, both = (LatencyModel(replica=r, clock=clock) for r in ("a", "b", "both"))
    for i in range(300):
        n = one_length(rng)
        ttft, total = total_call(rng, n, 0.6, 90.0, 0.45, 0.10)
        if i % 10 == 0:
            for model in (a, both):
                model.observe_call("m", "t", elapsed_s=total, tokens=n, ttft_s=ttft)
        else:
            for model in (b, both):
                model.observe_call("m", "t", elapsed_s=total, tokens=n)
        clock.t += 1.0
    alone = b.estimate("m")
    b.replace_others(a.rows())
    synced, single = b.estimate("m"), both.estimate("m")
    # (each replica re-clips its own first calls, latency_early: agreement within a hair)
    assert abs(math.sqrt(synced.ttft_var) - math.sqrt(single.ttft_var)) < 0.01
    assert abs(math.sqrt(synced.speed_var) - math.sqrt(single.speed_var)) < 0.01
    assert alone.ttft_var == alone.speed_var  # b alone: one shared spread
    assert abs(math.sqrt(synced.ttft_var) - 0.45) < 0.07, synced
    assert abs(math.sqrt(synced.speed_var) - 0.10) < 0.06, synced
