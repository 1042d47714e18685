"""How a model seen through non-streaming totals splits its spread between TTFT and output
speed when its own streams show each part (arbiter.latency).

A non-streaming call shows only its total T = TTFT + N x (seconds per token). The model's own
totals fix how wide T is for the answer lengths it served (the residual's sum of squares), but
loosely how much of that is TTFT's and how much speed's: `latency_math.log_vars` reads the split
from how the squared residual grows with N, and a few hundred calls leave it loose along a ridge
of splits that fit the same totals (bench/latency_slo.py's medium, TTFT log sd 0.30, speed 0.20,
~130 calls of 17-100 tokens: 0.30-0.38 / 0.15-0.23 over the dev seeds; the maximum-likelihood
fit of the same calls, on the exact log-normal sum, 0.25-0.38: the calls do not hold the split).
When the answers all have about one length, they hold no split at all.

So the split is shrunk toward a target on the model's own ridge: the variances (A', B') =
(ratio x B', B') that explain its own residual sum of squares. `ratio` (e^vTTFT - 1 over
e^vspeed - 1) is 1 (one shared spread) unless the model also has streams, which show each part
directly: then theirs, worth their count. Only the ratio is taken from the streams; the width
stays the totals'.

Tried and not kept (s13): the other models' ratio as the target (leave-one-out, weighted by
calls). Without stalls it moved bench/latency_slo_replay.py's dev mean by 0.001; with one
model's calls stalled (`--stalls model`) seed 13 went 1.26 -> 1.51: the stalled model's target
followed the others' raw splits (ratio ~3.5 for a truth of 2.3) and its prediction widened.
"""

from __future__ import annotations

import math

# each part's e^v - 1 counts as at least that of a log sd of 0.01 (a constant part's variance is
# round-off, ~1e-15, whose ratio would be anything), and a ratio stays within 100 either way
_FLOOR, _MAX_RATIO = math.expm1(1e-4), 100.0


def stream_ratio(ttft_var: float, speed_var: float) -> float:
    """e^vTTFT - 1 over e^vspeed - 1 of the streams' log variances, floored and bounded."""
    a, b = max(math.expm1(ttft_var), _FLOOR), max(math.expm1(speed_var), _FLOOR)
    return min(max(a / b, 1.0 / _MAX_RATIO), _MAX_RATIO)


def ridge_target(excess: float, ttft_share: float, ratio: float) -> tuple[float, float]:
    """(TTFT's, speed's) log variance that keep the model's own residual spread and split it
    at `ratio`. `excess`: the residual sum of squares over sum(a^2 + (bN)^2), i.e. e^v - 1 of
    one shared spread; `ttft_share`: a^2 w over that sum (how much of the scale TTFT's part
    is), so excess = share x A + (1 - share) x B."""
    b = max(excess, 0.0) / (ttft_share * ratio + 1.0 - ttft_share)
    return math.log1p(ratio * b), math.log1p(b)
