"""Online calibration of the latency quantile: per model, how often the answers really took
longer than the predicted `routing.latency_quantile` of their total, and a margin that steers
that share to its target (adaptive conformal inference, Gibbs and Candes 2021).

The prediction (`LatencyModel.predict_ms`) is a model of TTFT, speed and answer length, each
with a fitted spread; whatever it misses (the sidecar's own time in every observed call, a
length spread that is wrong for the traffic, a skew the log-normal does not have) shows in how
often an answer beyond the prediction comes back. Per model a log margin theta multiplies the
predicted total by exp(theta), updated after each answered call that had a prediction:

    theta += step * (1[took > predicted] - (1 - quantile))

so a model whose predictions are beaten too often grows its margin and one that is covered
more often than asked sheds it, and the long-run share of answers within the prediction is the
quantile whatever the model's error (the ACI guarantee needs no model assumptions). theta is
bounded (|theta| <= MAX_LOG_MARGIN) so a burst cannot run it away.

Per replica, not in the store: it is a feedback loop on the predictions this replica made (each
already carrying its margin); summing replicas' steps into one shared margin would move it by
every replica's correction of the same error at once. Each replica's loop converges on its own.
Only requests with a latency SLO carry a prediction, so only they teach it.
"""

from __future__ import annotations

import math
import threading

MAX_LOG_MARGIN = 0.5  # at most a factor e^0.5 = 1.65 either way
_MAX_MODELS = 4096  # a bound on the table (models are the registry's few)


class CoverageTracker:
    """Per model: the log margin on the predicted total quantile (see the module docstring)."""

    def __init__(self, quantile: float, step: float) -> None:
        self.miss_target = 1.0 - quantile
        self.step = step
        self._theta: dict[str, float] = {}
        self._lock = threading.Lock()

    def factor(self, model: str) -> float:
        """What the predicted total of `model` is multiplied by (1.0 before any evidence)."""
        theta = self._theta.get(model)
        return 1.0 if theta is None else math.exp(theta)

    def observe(self, model: str, predicted_ms: float, took_ms: float) -> None:
        """One answer of `model` that had a prediction (its margin included) of `predicted_ms`
        and took `took_ms`."""
        if self.step <= 0 or not (predicted_ms > 0 and took_ms >= 0):
            return
        miss = 1.0 if took_ms > predicted_ms else 0.0
        with self._lock:
            theta = self._theta.get(model)
            if theta is None:
                if len(self._theta) >= _MAX_MODELS:
                    return
                theta = 0.0
            theta += self.step * (miss - self.miss_target)
            self._theta[model] = min(max(theta, -MAX_LOG_MARGIN), MAX_LOG_MARGIN)

    def snapshot(self) -> dict[str, float]:
        """Per model: the current log margin."""
        return {m: round(t, 4) for m, t in sorted(self._theta.items())}
