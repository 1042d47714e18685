"""How a model seen only through non-streaming totals splits its spread between TTFT and
output speed, borrowed in part from the other models (arbiter.latency).

A non-streaming call shows only its total T = TTFT + N x (seconds per token). The model's own
totals fix well how wide T is for the answer lengths it served (the residual's sum of squares),
but not how much of that is TTFT's and how much speed's: `latency._log_vars` reads the split from
how the squared residual grows with N, and a few hundred calls leave it loose along a ridge
where more TTFT spread and less speed spread fit the same totals. On bench/latency_slo.py's
medium (TTFT log sd 0.30, speed 0.20, ~130 calls of 17-100 tokens) it came out at 0.30-0.38 /
0.15-0.23 over the dev seeds; even the maximum-likelihood fit of the same calls (numerical, on
the exact log-normal sum) gave 0.25-0.38: the calls do not hold the split, so no estimator on
them alone does better. What is left is the other models' evidence.

So the split is shrunk (worth `latency._SPLIT_PSEUDO` calls) toward a target on the model's own
ridge: the variances (A', B') = (ratio x B', B') that explain the model's own residual sum of
squares, where `ratio` = e^vTTFT - 1 over e^vspeed - 1 of the *other* models (their split, or
their streams' direct spreads), weighted by their calls. Only that ratio is borrowed: a model
twice as variable as the fleet keeps its own width. With no other model (or none with a split)
the ratio is 1, the shared spread of before. Each model's ratio leaves its own calls out (its
prior must not be its data).

The ratios are recomputed from the shared sums every `REFRESH` observations and at each sync,
not on every fit (a pass over every model): replicas reading the same rows agree up to the
calls each saw since its last refresh.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

REFRESH = 32  # observations between recomputations of the fleet's ratios
MIN_CALLS = 50.0  # the other models' calls below which their ratio says too little
# each part's e^v - 1 counts as at least that of a log sd of 0.01 (a constant part's variance
# is round-off, ~1e-15, whose ratio would be anything), and a ratio stays within a 100 either way
_FLOOR, _MAX_RATIO = math.expm1(1e-4), 100.0


def ridge_target(excess: float, ttft_share: float, ratio: float) -> tuple[float, float]:
    """(TTFT's, speed's) log variance that keep the model's own residual spread and split it
    at `ratio` (e^vTTFT - 1 over e^vspeed - 1). `excess`: the residual sum of squares over
    sum(a^2 + (bN)^2), i.e. e^v - 1 of one shared spread; `ttft_share`: a^2 w over that sum
    (how much of the scale TTFT's part is), so excess = share x A + (1 - share) x B."""
    b = max(excess, 0.0) / (ttft_share * ratio + 1.0 - ttft_share)
    return math.log1p(ratio * b), math.log1p(b)


class FleetRatios:
    """The fleet's split at one refresh: each model's (A, B, calls), A and B its e^v - 1 of
    TTFT and speed, and their calls-weighted sums."""

    __slots__ = ("a", "b", "n", "parts")

    def __init__(self, parts: Mapping[str, tuple[float, float, float]]) -> None:
        self.parts = {m: (max(a, _FLOOR), max(b, _FLOOR), n) for m, (a, b, n) in parts.items()}
        self.a = sum(n * a for a, _, n in self.parts.values())
        self.b = sum(n * b for _, b, n in self.parts.values())
        self.n = sum(n for _, _, n in self.parts.values())

    def own(self, model: str) -> float:
        """The model's own A over B (floored and bounded like the fleet's)."""
        a, b, _ = self.parts.get(model, (1.0, 1.0, 0.0))
        return min(max(a / b, 1.0 / _MAX_RATIO), _MAX_RATIO)

    def ratio(self, model: str) -> float:
        """The other models' A over B (1.0 when they have under MIN_CALLS calls)."""
        a, b, n = self.parts.get(model, (0.0, 0.0, 0.0))
        oa, ob, on = self.a - n * a, self.b - n * b, self.n - n
        if on < MIN_CALLS or oa <= 0 or ob <= 0:
            return 1.0
        return min(max(oa / ob, 1.0 / _MAX_RATIO), _MAX_RATIO)
