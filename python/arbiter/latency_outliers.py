"""Which of a model's calls are stalls, judged against a robust spread of its recent calls
(arbiter.latency).

A call's latency enters the shared, decayed sums that set the model's spread and so its predicted
quantile. A stall (the host's, the network's, the upstream's queue) is a fact about that call,
not about the next ones, yet until now it entered at the model's own p99.4 (`_CLIP_Z`), a clip
measured against a fit the stalls themselves had widened: with a tenth of one model's calls in
bursts of 2-10x (bench/latency_slo_replay.py --stalls model) every stalled call entered at
+2.5 sd, a 300-token answer's fitted p90 rose 1.5x (tests/test_latency_outliers.py) and the
router sent the model's traffic to pricier ones (seed 13: cost 1.58x the oracle's, against 1.10
without the stalls).

So each replica keeps, per model and part (TTFT, speed, total), the residuals of its last
`WINDOW` answered calls against the model's current fit, and a call beyond the window's median +
`Z` robust sds (1.4826 x the median absolute deviation: a tenth, or a burst of ten, of
outliers moves neither much) is an outlier; if it is also beyond the fit's own p99.98
(latency._STALL_Z: the window alone dropped some of the clean tail the spread is drawn from) it
does not enter the sums. Every call, kept or not, enters the window, so a lasting shift moves
the median within half a window and its calls are kept again (the change detector, which sees
every call, adopts a large shift sooner). Rejected calls are not lost to the other guards: the
change detector and the coverage margin (latency_coverage, when on) still see them, and the
margin widens the prediction if a model's real tail is heavier than the fit.

What replicas share is unchanged (the sums): each replica decides which of its own calls enter
them, as it already clipped them, so every replica reading the same rows agrees.
"""

from __future__ import annotations

import threading
from collections import deque

WINDOW = 64  # recent calls per model and part: a burst of ten is under a sixth of it
Z = 3.0  # beyond the window's median + Z robust sds: an outlier (a normal's p99.87)
MIN_CALLS = 16  # the window's median and MAD say too little before this many calls
_REFRESH = 8  # the threshold is recomputed every this many calls (two sorts of WINDOW)
_MAD_SD = 1.4826  # a normal's sd over its median absolute deviation
_MAX_KEYS = 4096  # a bound on the table (models are the registry's few, three parts each)


def _median(xs: list[float]) -> float:
    ys = sorted(xs)
    k = len(ys) // 2
    return ys[k] if len(ys) % 2 else (ys[k - 1] + ys[k]) / 2


class _Window:
    __slots__ = ("cap", "since", "xs")

    def __init__(self) -> None:
        self.xs: deque[float] = deque(maxlen=WINDOW)
        self.cap = float("inf")  # no outliers until the window has MIN_CALLS
        self.since = 0  # calls since the cap was computed


class Outliers:
    """Per (model, part): the recent residuals and the cap beyond which a call is an outlier."""

    def __init__(self, window: int = WINDOW, z: float = Z, min_calls: int = MIN_CALLS) -> None:
        self.window, self.z, self.min_calls = window, z, min_calls
        self._w: dict[tuple[str, str], _Window] = {}
        self._lock = threading.Lock()

    def outlier(self, model: str, part: str, residual: float) -> bool:
        """Record one call's log residual against its model's fit (larger = slower) and say
        whether it is beyond the cap set by the calls before it."""
        with self._lock:
            w = self._w.get((model, part))
            if w is None:
                if len(self._w) >= _MAX_KEYS:
                    return False
                w = self._w[(model, part)] = _Window()
                if self.window != WINDOW:
                    w.xs = deque(maxlen=self.window)
            out = residual > w.cap
            w.xs.append(residual)
            w.since += 1
            if len(w.xs) >= self.min_calls and (w.since >= _REFRESH or w.cap == float("inf")):
                xs = list(w.xs)
                m = _median(xs)
                sd = _MAD_SD * _median([abs(x - m) for x in xs])
                w.cap = m + self.z * sd if sd > 0 else float("inf")
                w.since = 0
            return out

    def forget(self, model: str) -> None:
        """A model's evidence restarted (a change point adopted): its window goes too."""
        with self._lock:
            for key in [k for k in self._w if k[0] == model]:
                del self._w[key]
