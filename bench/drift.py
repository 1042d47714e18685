"""Change-point detection: delay, false alarms and regret against the fixed thresholds.

Simulates many streams of one model's grades, price ratios (upstream-reported cost / registry
cost) and latencies, with and without a shift of several sizes, through
`arbiter.changepoint` (what the sidecar runs) and through the rules it replaced (a 50-grade window
mean that must drop by 0.15; a 10% price tolerance; latency had no rule), all in the same run.

Regret: a router that still believes the old state pays for it. Each stream stands for one
(model, task) arm that carried all of its traffic before the change:
- quality drop: until the router stops believing the old grade it keeps sending traffic that
  is answered worse; regret = grade points lost on those requests;
- price rise: until it adopts the new price it keeps choosing a model that is now dearer than the
  alternative; regret = the fraction overpaid on those requests;
- false alarms: a detection without a change makes the router re-learn from scratch; regret =
  the requests spent re-learning, at the same loss per request as a missed change of the
  smallest size (so an over-eager detector is not free).
"today" is the shipped behaviour: the window rule and the price tolerance only raise alerts, the
learner's capped evidence (policy evidence_cap 400) forgets the old grade slowly and the registry
price never changes; "fixed+adopt" gives the fixed rules the same power to reset as the detector,
to compare the detectors alone.

Last line: {"streams": N, "detection_delay_p50": d50, "detection_delay_p90": d90,
"false_alarms_per_100k": f, "missed": m, "regret_vs_fixed_threshold": r}
(delays for the issue's headline case: pass rate 0.8 -> 0.6 with pass/fail grades).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from arbiter.changepoint import (
    GradeDetector,
    grade_detector,
    latency_detector,
    price_detector,
    threshold_for,
)

FALSE_ALARMS_PER_100K = 1.0  # the default the sidecar ships (changepoint.false_alarms_per_100k)
H = threshold_for(FALSE_ALARMS_PER_100K)
PRE = 400  # observations before the change
POST = 600  # after it (a stream not detected by then counts as missed)
EVIDENCE_CAP = 400.0
HORIZON = 1000  # requests after a change over which regret is counted
HEADLINE_NULL = "quality pass/fail p=0.8"
RELEARN = 30  # requests a false alarm costs (the arm re-learns from its prior)


class WindowDropDetector:
    """The rule the sidecar shipped before change-point detection (alerts.py until this bench):
    the mean of the last `window` grades against the long-run mean before them."""

    def __init__(self, window: int, threshold: float) -> None:
        self.window, self.threshold = window, threshold
        self.recent: deque[float] = deque()
        self.long_sum, self.long_n, self.armed = 0.0, 0, True

    def observe(self, value: float) -> str | None:
        self.recent.append(value)
        if len(self.recent) <= self.window:
            return None
        self.long_sum += self.recent.popleft()
        self.long_n += 1
        if self.long_n < self.window:
            return None
        long_mean = self.long_sum / self.long_n
        recent_mean = sum(self.recent) / len(self.recent)
        if recent_mean < long_mean - self.threshold:
            if self.armed:
                self.armed = False
                return "drop"
        elif recent_mean >= long_mean - self.threshold / 2:
            self.armed = True
        return None


# -- signal generators --------------------------------------------------------------------------
def binary(p: float) -> Callable[[random.Random], float]:
    return lambda r: 1.0 if r.random() < p else 0.0


def rich(p: float, concentration: float = 10.0) -> Callable[[random.Random], float]:
    """A judge-like grade in [0, 1] with mean p and a quarter-ish of pass/fail's variance."""
    return lambda r: r.betavariate(p * concentration, (1.0 - p) * concentration)


def price_ratio(level: float) -> Callable[[random.Random], float]:
    """Reported / registry cost: rounding noise, and now and then a prompt-cache discount."""

    def draw(r: random.Random) -> float:
        if r.random() < 0.02:
            return level * r.uniform(0.3, 0.9)  # a cached prompt billed at the cache price
        return level * math.exp(r.gauss(0.0, 0.01))

    return draw


def latency(median_s: float) -> Callable[[random.Random], float]:
    """Log-normal seconds with occasional stalls (10x)."""

    def draw(r: random.Random) -> float:
        x = median_s * math.exp(r.gauss(0.0, 0.35))
        return x * 10.0 if r.random() < 0.01 else x

    return draw


# -- detectors under test -----------------------------------------------------------------------
def cusum_for(signal: str) -> Callable[[float], object | None]:
    if signal == "quality":
        return grade_detector(FALSE_ALARMS_PER_100K).observe
    return (price_detector(H) if signal == "price" else latency_detector(H)).observe


def fixed_for(signal: str) -> Callable[[float], object | None]:
    if signal == "quality":
        return WindowDropDetector(50, 0.15).observe
    if signal == "price":
        return lambda v: "alert" if abs(v - 1.0) > 0.10 else None  # the old 10% tolerance
    return lambda v: None  # there was no latency rule


BURST_EVERY = 400  # calls between host-stall bursts, on average


def burst_rate(confirm: int | None, k: int, n_obs: int, seed: int) -> tuple[float, int, int]:
    """Latency alarms per 100k observations on stable streams with bursts of `k` stalled calls
    (each burst one factor in 2-10x), and (alarms, bursts); `confirm`: the detector's
    confirmation length (None: as shipped, 0: none, as before it)."""
    rng = random.Random(seed)
    alarms = count = seen = 0
    while seen < n_obs:
        observe = latency_detector(H, confirm).observe
        left, factor = 0, 1.0
        for _ in range(20_000):
            if left == 0 and rng.random() < 1.0 / BURST_EVERY:
                left, factor, count = k, rng.uniform(2.0, 10.0), count + 1
            x = latency(1.2)(rng)
            if left:
                x, left = x * factor, left - 1
            alarms += observe(x) is not None
        seen += 20_000
    return alarms * 100_000 / seen, alarms, count


def run_stream(
    observe: Callable[[float], object | None],
    before: Callable[[random.Random], float],
    after: Callable[[random.Random], float] | None,
    rng: random.Random,
    pre: int = PRE,
    post: int = POST,
) -> tuple[list[int], int | None]:
    """Feed one stream; return (false alarm indexes before the change, delay or None)."""
    false_at: list[int] = []
    for i in range(pre):
        if observe(before(rng)):
            false_at.append(i)
    if after is None:
        return false_at, None
    for j in range(post):
        if observe(after(rng)):
            return false_at, j + 1
    return false_at, None


def null_rate(make: Callable[[], Callable[[float], object | None]], gen, n_obs: int, seed: int):
    """False alarms per 100k observations over streams with no change at all."""
    rng = random.Random(seed)
    alarms = seen = 0
    per_stream = 20_000
    while seen < n_obs:
        observe = make()
        for _ in range(per_stream):
            if observe(gen(rng)):
                alarms += 1
        seen += per_stream
    return alarms * 100_000 / seen, alarms, seen


def poisson_upper(k: int, level: float = 0.975) -> float:
    """The exact one-sided upper bound on a Poisson mean after seeing k events (95% two-sided:
    P(X <= k | bound) = 0.025), by bisection."""

    def cdf(lam: float) -> float:
        term = total = math.exp(-lam)
        for i in range(1, k + 1):
            term *= lam / i
            total += term
        return total

    lo, hi = 0.0, k + 10.0 + 10.0 * math.sqrt(k + 1)
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) > 1 - level else (lo, mid)
    return hi


def pct(xs: list[int], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return float(s[min(len(s) - 1, int(q * len(s)))])


# -- regret -------------------------------------------------------------------------------------
def quality_learning_today(p_before: float, p_after: float, rng: random.Random) -> int:
    """Requests the shipped learner keeps on the degraded arm: its capped Beta evidence must fall
    below the target halfway between the two levels before traffic moves away. (After a
    detection the pre-change evidence is dropped and the post-change grades alone already put
    the arm below target, so a detector's stale period is its delay.)"""
    target = (p_before + p_after) / 2.0
    a, b = p_before * EVIDENCE_CAP, (1 - p_before) * EVIDENCE_CAP
    for n in range(HORIZON):
        if a / (a + b) < target:
            return n
        g = 1.0 if rng.random() < p_after else 0.0
        a, b = a + g, b + 1 - g
        if a + b > EVIDENCE_CAP:  # the cap scales evidence down so the arm keeps adapting
            scale = EVIDENCE_CAP / (a + b)
            a, b = a * scale, b * scale
    return HORIZON


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--streams", type=int, default=300, help="streams per shift size")
    ap.add_argument("--null-obs", type=int, default=2_000_000, help="observations per null run")
    ap.add_argument("--quick", action="store_true", help="fewer streams (about 30 s)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.quick:
        args.streams, args.null_obs = 100, 400_000
    t0 = time.perf_counter()
    print(
        f"CUSUM threshold h = {H:.2f} for {FALSE_ALARMS_PER_100K} false alarm per 100k "
        f"(grades: CUSUM h = {grade_detector(FALSE_ALARMS_PER_100K).h:.2f} and the window "
        "test of 140, each spending 0.35 for a known pass rate)"
    )

    # 1. false alarms on streams without a change
    print("\nfalse alarms per 100k observations (no change):")
    nulls = {
        "quality pass/fail p=0.95": (lambda: cusum_for("quality"), binary(0.95)),
        "quality pass/fail p=0.8": (lambda: cusum_for("quality"), binary(0.8)),
        "quality pass/fail p=0.5": (lambda: cusum_for("quality"), binary(0.5)),
        "quality pass/fail p=0.3": (lambda: cusum_for("quality"), binary(0.3)),
        "quality rich p=0.8": (lambda: cusum_for("quality"), rich(0.8)),
        "price x1.0": (lambda: cusum_for("price"), price_ratio(1.0)),
        "latency 1.2 s": (lambda: cusum_for("latency"), latency(1.2)),
    }
    fixed_nulls = {
        "quality pass/fail p=0.8": (lambda: fixed_for("quality"), binary(0.8)),
        "price x1.0": (lambda: fixed_for("price"), price_ratio(1.0)),
    }
    worst_fa = worst_upper = 0.0
    total_null = 0
    fa: dict[str, float] = {}
    for i, (name, (make, gen)) in enumerate(nulls.items()):
        # the headline kind gets 5x the observations: a tight bound where it matters most
        n_obs = args.null_obs * (5 if name == HEADLINE_NULL else 1)
        rate, alarms, seen = null_rate(make, gen, n_obs, args.seed + i)
        total_null += seen
        worst_fa = max(worst_fa, rate)
        signal = name.split()[0]
        fa[f"cusum {signal}"] = max(fa.get(f"cusum {signal}", 0.0), rate)
        fixed = ""
        if name in fixed_nulls:
            fr, _, _ = null_rate(*fixed_nulls[name], args.null_obs // 4, args.seed + 100 + i)
            fa[f"fixed {signal}"] = fr
            fixed = f"   fixed threshold: {fr:,.1f}"
        upper = poisson_upper(alarms) * 100_000 / seen
        worst_upper = max(worst_upper, upper)
        print(f"  {name:<26} cusum {rate:6.2f} ({alarms} in {seen:,}; 95% <= {upper:.2f}){fixed}")

    # 2. delays on streams with a change
    print("\ndetection delay (observations after the change), missed within", POST)
    cases = [
        ("quality", "0.8->0.6 pass/fail", binary(0.8), binary(0.6), 0.8, 0.6),
        ("quality", "0.8->0.6 rich", rich(0.8), rich(0.6), 0.8, 0.6),
        ("quality", "0.8->0.7 pass/fail", binary(0.8), binary(0.7), 0.8, 0.7),
        ("quality", "0.8->0.5 pass/fail", binary(0.8), binary(0.5), 0.8, 0.5),
        ("price", "x1.2", price_ratio(1.0), price_ratio(1.2), 1.0, 1.2),
        ("price", "x2", price_ratio(1.0), price_ratio(2.0), 1.0, 2.0),
        ("price", "x0.8", price_ratio(1.0), price_ratio(0.8), 1.0, 0.8),
        ("latency", "x3", latency(1.2), latency(3.6), 1.2, 3.6),
        ("latency", "x1.5", latency(1.2), latency(1.8), 1.2, 1.8),
    ]
    headline: dict[str, float | int | None] = {}
    regret_rows = []
    rng = random.Random(args.seed)
    for signal, name, before, after, v0, v1 in cases:
        delays: list[int] = []
        fixed_delays: list[int] = []
        missed = fixed_missed = 0
        for _ in range(args.streams):
            _, d = run_stream(cusum_for(signal), before, after, rng)
            _, fd = run_stream(fixed_for(signal), before, after, rng)
            if d is None:
                missed += 1
            else:
                delays.append(d)
            if fd is None:
                fixed_missed += 1
            else:
                fixed_delays.append(fd)
        print(
            f"  {signal:<8}{name:<20} cusum p50 {pct(delays, 0.5)} p90 {pct(delays, 0.9)} "
            f"missed {missed}/{args.streams}   fixed p50 {pct(fixed_delays, 0.5)} "
            f"p90 {pct(fixed_delays, 0.9)} missed {fixed_missed}/{args.streams}"
        )
        if signal == "quality" and name == "0.8->0.6 pass/fail":
            headline = {"d50": pct(delays, 0.5), "d90": pct(delays, 0.9), "missed": missed}
        if signal == "quality" and "pass/fail" in name:
            regret_rows.append((name, v0, v1, delays, missed, fixed_delays, fixed_missed))
        if signal == "price":
            regret_rows.append(
                (f"price {name}", v0, v1, delays, missed, fixed_delays, fixed_missed)
            )

    # the same headline streams through CUSUM alone at its Wald threshold (the shipped detector
    # before the window test and the calibrated threshold)
    before: list[int] = []
    for _ in range(args.streams):
        _, d = run_stream(GradeDetector(H).observe, binary(0.8), binary(0.6), rng)
        before.append(d if d is not None else POST + 1)
    print(
        f"  quality 0.8->0.6 pass/fail, CUSUM alone at Wald's h {H:.2f}: "
        f"p50 {pct(before, 0.5)} p90 {pct(before, 0.9)}"
    )

    # 3. regret: the cost of believing the old state
    print(f"\nregret over {HORIZON} requests after the change (lower is better):")
    total = {"cusum": 0.0, "today": 0.0, "fixed+adopt": 0.0}
    fa_per_stream = {
        "cusum": {"quality": fa["cusum quality"], "price": fa["cusum price"]},
        "fixed+adopt": {"quality": fa["fixed quality"], "price": fa["fixed price"]},
    }
    for name, v0, v1, delays, missed, fixed_delays, fixed_missed in regret_rows:
        signal = "price" if name.startswith("price") else "quality"
        if signal == "price":
            loss = abs(v1 - v0) / max(v0, v1)  # fraction overpaid (or saving missed) per request
            learn = [HORIZON] * (len(delays) + missed)  # the registry price never changes
        else:
            loss = v0 - v1
            learn = [quality_learning_today(v0, v1, rng) for _ in range(len(delays) + missed)]
        # a detector that misses leaves the shipped learner to find out on its own
        cusum = statistics.fmean(
            min(d, t) * loss for d, t in zip(delays + [HORIZON] * missed, learn, strict=True)
        )
        adopt = statistics.fmean(
            min(d, t) * loss
            for d, t in zip(fixed_delays + [HORIZON] * fixed_missed, learn, strict=True)
        )
        today = statistics.fmean(learn) * loss
        # every false alarm makes the router re-learn that arm: RELEARN requests at 0.1 loss
        stream_obs = PRE + POST
        cusum += fa_per_stream["cusum"][signal] / 100_000 * stream_obs * RELEARN * 0.1
        adopt += fa_per_stream["fixed+adopt"][signal] / 100_000 * stream_obs * RELEARN * 0.1
        total["cusum"] += cusum
        total["today"] += today
        total["fixed+adopt"] += adopt
        print(f"  {name:<24} cusum {cusum:8.1f}   today {today:8.1f}   fixed+adopt {adopt:8.1f}")
    ratio_today = total["cusum"] / total["today"]
    ratio_fixed = total["cusum"] / total["fixed+adopt"]
    print(
        f"  total: cusum {total['cusum']:.1f}, today {total['today']:.1f}, "
        f"fixed+adopt {total['fixed+adopt']:.1f}"
    )
    print(
        f"  regret vs today's fixed thresholds: {ratio_today:.3f}; "
        f"vs the fixed rules given the same reset/adopt reaction: {ratio_fixed:.3f}"
    )
    # 4. host-stall bursts: k consecutive calls slowed 2-10x, then normal again (a stalled
    # host, a network blip) in otherwise stable latency streams: not a change to adopt
    print(f"\nlatency bursts (k calls at 2-10x, one burst per ~{BURST_EVERY} calls), "
          "alarms per 100k observations / per burst:")  # fmt: skip
    bursts: dict[str, float] = {}
    for k in (3, 5, 10):
        row = []
        for label, confirm in (("before", 0), ("now", None)):
            rate, alarms, count = burst_rate(confirm, k, args.null_obs // 4, args.seed + k)
            bursts[f"{label} {k}"] = rate
            row.append(f"{label} {rate:7.2f} ({alarms}/{count} bursts)")
        print(f"  k={k:<3}" + "   ".join(row))
    n_streams = args.streams * len(cases) + total_null // 20_000
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    print(
        json.dumps(
            {
                "streams": n_streams,
                "detection_delay_p50": headline["d50"],
                "detection_delay_p90": headline["d90"],
                "false_alarms_per_100k": round(worst_fa, 3),
                "false_alarms_per_100k_upper95": round(worst_upper, 3),
                "missed": headline["missed"],
                "regret_vs_fixed_threshold": round(ratio_today, 4),
                "regret_vs_fixed_with_adoption": round(ratio_fixed, 4),
                "latency_burst_alarms_per_100k": round(
                    max(bursts[f"now {k}"] for k in (3, 5, 10)), 3
                ),
                "latency_burst_alarms_per_100k_before": round(
                    max(bursts[f"before {k}"] for k in (3, 5, 10)), 3
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
