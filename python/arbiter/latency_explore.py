"""Buying latency evidence for a model whose estimate alone sets it aside (`latency.explore_z`).

The cold start it mends (bench/results/latency_slo.md, eighteenth session). A model is read
from its first few dozen calls; when those happened to run slow (seed 109: medium's 30 warm-up
calls read 65 tok/s for a true 90), its predicted total at the quantile sits just over a tight
SLO, so the router sends those requests to a dearer model, and the model set aside gets no
calls to correct the read: the early read lasts for hundreds of requests.

The rule, in two halves, both on SLO requests only (the router's latency path):
  * a doubt: a model set aside under a total SLO although it is cheaper than the pick and
    clears the quality bar, whose predicted total would fit if its latency fit's level were
    `z` standard errors faster (the standard error of its log total, sqrt(s^2 / calls): what
    its calls so far can tell), is recorded as one pending exploration (at most
    `PENDING_MAX` per model);
  * an exploration: a later SLO request whose pick fits and that a model with a pending
    doubt also fits, by the ordinary prediction at the quantile, and over the quality bar, is
    answered by that model (the cheapest such) instead: one call of evidence, bought at the
    price difference, on a request it is predicted to answer in time. An exploration never
    sends a request to a model predicted to miss its SLO.

As calls accrue the standard error shrinks, so a model read right stops being doubted: the
exploration is sized by the estimate's uncertainty, not by a count. Per replica (the evidence
it buys is shared through the latency rows like any call's).
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING

from arbiter.latency_math import lognormal_sum_log_moments

if TYPE_CHECKING:
    from arbiter.latency import Estimate

PENDING_MAX = 2  # explorations owed to one model at most (bounds a knife edge's spend)


class LatencyExplore:
    """Pending explorations per model, for the router's latency rule (see the module)."""

    def __init__(self, z: float) -> None:
        self.z = z
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()  # routers of one service share it

    def optimistic_ms(self, fit: Estimate, tokens_mu: float, total_ms: float) -> float:
        """`total_ms` (a prediction from `fit`) with the fit's level `z` standard errors faster:
        the standard error of a log total of the answer's length over the fit's calls."""
        _, s2 = lognormal_sum_log_moments(
            fit.ttft_mu, fit.ttft_var, tokens_mu - fit.speed_mu, fit.speed_var
        )
        return total_ms * math.exp(-self.z * math.sqrt(s2 / max(fit.calls, 1.0)))

    def doubt(self, model: str) -> None:
        with self._lock:
            self._pending[model] = min(self._pending.get(model, 0) + 1, PENDING_MAX)

    def pending(self, model: str) -> int:
        return self._pending.get(model, 0)

    def take(self, model: str) -> bool:
        """Spend one of `model`'s pending explorations; False when it has none."""
        with self._lock:
            left = self._pending.get(model, 0)
            if left <= 0:
                return False
            if left == 1:
                del self._pending[model]
            else:
                self._pending[model] = left - 1
            return True

    def any_pending(self) -> bool:
        return bool(self._pending)
