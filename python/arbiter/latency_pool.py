"""Each model's latency spread shrunk toward the spread the other models show (arbiter.latency).

A model's TTFT and speed log variances come from its own calls. On a few hundred calls they
are loose (bench/latency_slo.py's medium, profile 0.30 / 0.20 in log sd: learned 0.30-0.38 /
0.15-0.23 over the dev seeds, and the maximum-likelihood fit of the same calls is as far off:
the calls do not hold it, s13), and a stalled model's is widened by whatever stalls the stall
gate (latency_outliers) lets in. Both move its predicted quantile and so the router's picks.

So each model's variances are shrunk toward a target worth `latency.spread_pool_calls` calls
against its own calls (undecayed, as the prior is): the **median** over the *other* models'
own variances (each part separately; models with at least MIN_CALLS calls; at least two of
them). A median, not a pooled mean: one model whose spread was widened by stalls moves it by
one rank, not by its width; leave-one-out, so a model is not pulled toward itself.

What it assumes: that models spread alike more than their few hundred calls show. On the sim
they do (every profile has 0.3 / 0.2); a model truly unlike the others is pulled toward them
until its own calls outweigh the pool (worth W calls: half way at W calls; the default 30 holds
a model's warm-up halfway and leaves one with hundreds of calls nearly its own, where 300 held
small's well-measured spread too and cost SLO attainment, s20). Tried (s14): a guard
that drops the pool for a model whose own spread is beyond its sampling band from the target
lost most of the gain under stalls (seed 13 1.16 -> 1.23), since a stalled model looks like an
unlike one. Measured on bench/latency_slo_replay.py --stalls all (bench/results/latency_slo.md,
fourteenth session).

The others' variances are their fits from their own sums (the store's rows included), before
this shrink, as they stood at the last refresh (REFRESH_CALLS observations, or a sync): every
replica that just synced the same rows computes the same targets.
"""

from __future__ import annotations

from collections.abc import Mapping

MIN_CALLS = 20.0  # a model's own spread says too little before this many calls
# the targets are recomputed (every model's, at once) after this many observations, and at each
# sync with the other replicas: computing them per refit cost 30 us per call with 5 models and
# 90 us with 50 (an observation refits two keys, each reading every other model)
REFRESH_CALLS = 32


def _median_without(ys: list[float], i: int | None) -> float:
    """The median of sorted `ys` without its element at index `i` (None: all of them)."""
    n = len(ys) - (i is not None)

    def at(j: int) -> float:
        return ys[j + 1] if i is not None and j >= i else ys[j]

    k = n // 2
    return at(k) if n % 2 else (at(k - 1) + at(k)) / 2


def pool_targets(own: Mapping[str, tuple[float, float, float]]) -> dict[str, tuple[float, float]]:
    """Per model, the median (TTFT, speed) log variance over the *other* models' (ttft_var,
    speed_var, calls) with MIN_CALLS calls or more; a model with fewer than two such others has
    none. O(M log M) for M models (leave-one-out by index into one sorted list per part)."""
    kept = sorted((m, o) for m, o in own.items() if o[2] >= MIN_CALLS)
    ta = sorted((o[0], m) for m, o in kept)
    tb = sorted((o[1], m) for m, o in kept)
    ia = {m: j for j, (_, m) in enumerate(ta)}
    ib = {m: j for j, (_, m) in enumerate(tb)}
    xa, xb = [v for v, _ in ta], [v for v, _ in tb]
    out: dict[str, tuple[float, float]] = {}
    for m in own:
        if len(kept) - (m in ia) >= 2:
            out[m] = (_median_without(xa, ia.get(m)), _median_without(xb, ib.get(m)))
    return out


def medians_without_each(
    levels: Mapping[str, tuple[float, float]], min_others: int
) -> dict[str, tuple[float, float]]:
    """Per model, the median of the *other* models' (a, b) pairs, each part separately (the
    typical split without the model itself, latency.split_prior_calls); none when fewer than
    `min_others` others. O(M log M), as `pool_targets`."""
    if len(levels) - 1 < min_others:
        return {}
    ta = sorted((v[0], m) for m, v in levels.items())
    tb = sorted((v[1], m) for m, v in levels.items())
    ia = {m: j for j, (_, m) in enumerate(ta)}
    ib = {m: j for j, (_, m) in enumerate(tb)}
    xa, xb = [v for v, _ in ta], [v for v, _ in tb]
    return {m: (_median_without(xa, ia[m]), _median_without(xb, ib[m])) for m in levels}


def shrink(
    ttft_var: float, speed_var: float, calls: float, target: tuple[float, float], worth: float
) -> tuple[float, float]:
    """A model's own variances (from `calls` calls) and the target's (worth `worth` calls)."""
    n = max(calls, 0.0)
    return (n * ttft_var + worth * target[0]) / (n + worth), (n * speed_var + worth * target[1]) / (
        n + worth
    )
