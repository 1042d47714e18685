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
until its own calls outweigh the pool (with 300: half way at 300 calls). Tried (s14): a guard
that drops the pool for a model whose own spread is beyond its sampling band from the target
lost most of the gain under stalls (seed 13 1.16 -> 1.23), since a stalled model looks like an
unlike one. Measured on bench/latency_slo_replay.py --stalls all (bench/results/latency_slo.md,
fourteenth session).

The others' variances are their fits from their own sums (the store's rows included), before
this shrink: every replica reading the same rows computes the same target.
"""

from __future__ import annotations

from collections.abc import Iterable

MIN_CALLS = 20.0  # a model's own spread says too little before this many calls


def _median(xs: list[float]) -> float:
    ys = sorted(xs)
    k = len(ys) // 2
    return ys[k] if len(ys) % 2 else (ys[k - 1] + ys[k]) / 2


def pool_target(others: Iterable[tuple[float, float, float]]) -> tuple[float, float] | None:
    """The median (TTFT, speed) log variance over the other models' (ttft_var, speed_var,
    calls) with MIN_CALLS calls or more; None with fewer than two such models."""
    kept = [o for o in others if o[2] >= MIN_CALLS]
    if len(kept) < 2:
        return None
    return _median([o[0] for o in kept]), _median([o[1] for o in kept])


def shrink(
    ttft_var: float, speed_var: float, calls: float, target: tuple[float, float], worth: float
) -> tuple[float, float]:
    """A model's own variances (from `calls` calls) and the target's (worth `worth` calls)."""
    n = max(calls, 0.0)
    return (n * ttft_var + worth * target[0]) / (n + worth), (n * speed_var + worth * target[1]) / (
        n + worth
    )
