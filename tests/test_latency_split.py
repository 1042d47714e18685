"""How a model seen through non-streaming totals splits its spread between TTFT and speed
(arbiter.latency._log_vars, arbiter.latency_fleet): from its own streams when it has some, else
leaning on the other models' split; synthetic calls with known spreads."""

from __future__ import annotations

import math
import random

from arbiter.latency import LatencyModel, z_score


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def total_call(rng: random.Random, n: int, ttft: float, speed: float, sa: float, sb: float):
    """(TTFT s, total s) of one call: log-normal TTFT (log sd sa) and speed (sb)."""
    t = ttft * math.exp(sa * rng.gauss(0, 1))
    return t, t + n / (speed * math.exp(sb * rng.gauss(0, 1)))


def true_p90(n: int, ttft: float, speed: float, sa: float, sb: float) -> float:
    rng = random.Random(99)
    xs = sorted(total_call(rng, n, ttft, speed, sa, sb)[1] for _ in range(20_000))
    return xs[18_000]


def test_a_models_own_streams_split_the_spread_of_its_totals() -> None:
    """A model answering 100 +- 10% tokens (the lengths cannot split the spread) with a tenth
    of its calls streamed: TTFT's log sd 0.45, speed's 0.10. Its streams show each part; before,
    the totals' one shared spread (0.24 for both) put a short answer's p90 ~15% under the truth."""
    for seed in range(3):
        rng = random.Random(seed)
        clock = Clock()
        model = LatencyModel(clock=clock)
        for _ in range(300):
            n = int(100 * math.exp(0.1 * rng.gauss(0, 1)))
            ttft, total = total_call(rng, n, 0.6, 90.0, 0.45, 0.10)
            stream = rng.random() < 0.1
            model.observe_call("m", "t", elapsed_s=total, tokens=n, ttft_s=ttft if stream else None)
            clock.t += 1.0
        fit = model.estimate("m")
        assert abs(math.sqrt(fit.ttft_var) - 0.45) < 0.07, (seed, fit)
        assert abs(math.sqrt(fit.speed_var) - 0.10) < 0.06, (seed, fit)
        p90 = model.predict_ms("m", "t", z_score(0.9), math.log(10), 0.0)[1] / 1000
        assert abs(p90 / true_p90(10, 0.6, 90.0, 0.45, 0.10) - 1) < 0.08, seed


def run_fleet(seed: int, calls: int, sa: float, sb: float, fleet_x: float) -> tuple[float, float]:
    """`calls` totals of model m (TTFT 0.6 s, 90 tokens/s; log sds sa, sb) beside 300 streams of
    model s whose log sds are fleet_x times m's; m's learned (TTFT, speed) log sds."""
    rng = random.Random(seed)
    clock = Clock()
    model = LatencyModel(clock=clock)
    for i in range(300):
        if i < calls:
            n = int(math.exp(rng.gauss(math.log(60), 0.8))) + 2
            _, total = total_call(rng, n, 0.6, 90.0, sa, sb)
            model.observe_call("m", "t", elapsed_s=total, tokens=n)
        n = int(math.exp(rng.gauss(math.log(150), 0.6))) + 2
        ttft, total = total_call(rng, n, 0.3, 150.0, fleet_x * sa, fleet_x * sb)
        model.observe_call("s", "t", elapsed_s=total, tokens=n, ttft_s=ttft)
        clock.t += 1.0
    fit = model.estimate("m")
    return math.sqrt(fit.ttft_var), math.sqrt(fit.speed_var)


def test_a_model_with_few_totals_leans_on_the_other_models_split() -> None:
    """60 totals split their spread loosely (the squared residual's line on N^2 is noisy), and
    it was shrunk toward one shared spread (ratio 1) however unlike that the parts are: TTFT
    0.45 and speed 0.10 came out at 0.36 and 0.19 on average over 20 seeds (errors 0.09, 0.09).
    With the other model's split as the target, the errors roughly halve."""
    fits = [run_fleet(seed, 60, 0.45, 0.10, 1.0) for seed in range(20)]
    ttft_err = sum(abs(a - 0.45) for a, _ in fits) / len(fits)
    speed_err = sum(abs(b - 0.10) for _, b in fits) / len(fits)
    assert ttft_err < 0.065, ttft_err
    assert speed_err < 0.08, speed_err


def test_only_the_ratio_is_borrowed_so_a_model_keeps_its_own_width() -> None:
    """Beside a fleet twice as variable, a model's own spread is not pulled toward the fleet's:
    only how it splits is borrowed (a guard: it held before the fleet existed too)."""
    same = [run_fleet(seed, 150, 0.3, 0.2, 1.0) for seed in range(10)]
    wider = [run_fleet(seed, 150, 0.3, 0.2, 2.0) for seed in range(10)]
    for k in (0, 1):
        mean_same = sum(f[k] for f in same) / len(same)
        mean_wider = sum(f[k] for f in wider) / len(wider)
        assert abs(mean_wider - mean_same) < 0.02, (k, mean_same, mean_wider)
    assert abs(sum(f[0] for f in wider) / len(wider) - 0.3) < 0.04


def test_the_fleets_split_travels_between_replicas_through_the_rows() -> None:
    """Replica a sees only model s's streams, replica b only model m's totals: after a sync, b
    splits m's spread by s's streams as one replica that saw both does."""
    rng = random.Random(5)
    clock = Clock()
    a, b, both = (LatencyModel(replica=r, clock=clock) for r in ("a", "b", "both"))
    for _ in range(300):
        n = int(math.exp(rng.gauss(math.log(60), 0.8))) + 2
        _, total = total_call(rng, n, 0.6, 90.0, 0.45, 0.10)
        for model in (b, both):
            model.observe_call("m", "t", elapsed_s=total, tokens=n)
        n = int(math.exp(rng.gauss(math.log(150), 0.6))) + 2
        ttft, total = total_call(rng, n, 0.3, 150.0, 0.45, 0.10)
        for model in (a, both):
            model.observe_call("s", "t", elapsed_s=total, tokens=n, ttft_s=ttft)
        clock.t += 1.0
    alone = b.estimate("m")
    b.replace_others(a.rows())
    synced, single = b.estimate("m"), both.estimate("m")
    # (up to the calls each saw since its last refresh of the fleet: latency_fleet.REFRESH)
    assert abs(math.sqrt(synced.ttft_var) - math.sqrt(single.ttft_var)) < 0.01
    assert abs(math.sqrt(synced.speed_var) - math.sqrt(single.speed_var)) < 0.01
    # and the other replica's streams changed b's split (b alone had no fleet)
    assert abs(math.sqrt(synced.speed_var) - math.sqrt(alone.speed_var)) > 0.005
