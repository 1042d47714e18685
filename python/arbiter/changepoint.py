"""Change-point detection for a model's grades, price and latency: one family, two-sided CUSUM.

Why CUSUM (bench/drift.py measures it against the fixed thresholds it replaced and against a
windowed mean test): for a shift of a known minimum size it is the fastest detector at a given
false-alarm rate (Lorden/Moustakides optimality), it costs a few float operations per observation
and three floats of state, and its statistic also dates the change (the last time it was zero).

Each signal is turned into a log-likelihood ratio per observation, "the level moved by at least
`shift`" against "it stayed at the reference level", accumulated in both directions:

- grades in [0, 1]: a Bernoulli likelihood of the grade as a fractional success, scaled by how
  much less a grade varies than a pass/fail one would (`richness`: a judge score with a quarter of
  the pass/fail variance counts as about four pass/fail grades), so richer grades detect sooner;
- price: the log of reported cost / registry cost, which is 0 while the registry is right;
- latency: the log of the observed seconds, against the recent level and spread.

The reference level is learned from the stream itself (self-starting) after `warmup` observations,
and re-learned from the post-change observations after each detection. Every per-observation
contribution is clipped (`max_step`) so that one outlier (a stall, a refund) can never alarm on
its own: a shift must persist for a few observations. Thresholds come from the accepted
false-alarm rate (`false_alarms_per_100k`) through Wald's bound ARL0 >= e^h, checked by simulation
in bench/drift.py.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Signal = Literal["quality", "price", "latency"]
Direction = Literal["up", "down"]


def threshold_for(false_alarms_per_100k: float, directions: int = 2) -> float:
    """CUSUM threshold h with average run length to a false alarm >= 100000 / rate, per
    stream, both directions together (Wald: ARL0 >= e^h per one-sided test)."""
    arl0 = 100_000.0 / max(false_alarms_per_100k, 1e-9)
    return math.log(arl0 * directions)


@dataclass(frozen=True, slots=True)
class Change:
    """A detected change: what moved, when it started (index of the first changed observation
    in the stream) and the new level."""

    signal: Signal
    direction: Direction
    at: int  # first observation after the change, counted from the stream's start
    detected_at: int  # observation that raised it
    before: float  # reference level before (mean grade, price ratio, median seconds)
    after: float  # level since `at`
    statistic: float
    started: float = 0.0  # estimated time the change began (the caller's clock; 0 = unknown)

    @property
    def delay(self) -> int:
        return self.detected_at - self.at + 1

    @property
    def magnitude(self) -> float:
        """Signed change in the signal's own units (grade points, or a ratio for price and
        latency: 2.0 = doubled)."""
        if self.signal == "quality":
            return self.after - self.before
        return self.after / self.before if self.before > 0 else math.inf

    def describe(self, model: str) -> str:
        ago = self.detected_at - self.at + 1
        if self.signal == "quality":
            what = f"mean grade {self.before:.2f} -> {self.after:.2f}"
        elif self.signal == "price":
            what = (
                f"cost per call x{self.after:.2f} of the registry's price (was x{self.before:.2f})"
            )
        else:  # a ratio: observed time over what the latency model expected
            what = f"calls take x{self.magnitude:.2f} the time they took before"
        return f"{model}: {self.signal} changed {ago} observations ago: {what}"


@dataclass(slots=True)
class _Side:
    """One one-sided CUSUM statistic, with what it saw since it was last zero: the change
    estimate starts there."""

    stat: float = 0.0
    zero: int = 0  # index of the first observation after the last zero
    zero_t: float = 0.0  # the time of the observation that zeroed it
    n: int = 0  # observations since then, and their sum and sum of squares
    total: float = 0.0
    squares: float = 0.0

    def step(self, i: int, llr: float, x: float, t: float) -> None:
        self.stat = max(0.0, self.stat + llr)
        if self.stat == 0.0:
            self.zero, self.zero_t, self.n, self.total, self.squares = i + 1, t, 0, 0.0, 0.0
        else:
            self.n += 1
            self.total += x
            self.squares += x * x


@dataclass(slots=True)
class GradeDetector:
    """Shifts in a model's mean grade (per tenant, task); `shift` is the smallest drop or rise
    (in grade points) worth finding fast."""

    h: float
    shift: float = 0.2
    # grades before the first test: a reference learned from few grades false-alarms (200:
    # a third fewer false alarms than 30 at the same threshold in bench/drift.py)
    warmup: int = 200
    # the reference learns each grade only this many observations later, so a change that is
    # still being accumulated does not pull the reference towards itself
    lag: int = 100
    max_step: float = 3.0
    n: int = 0  # observations seen
    _ref_n: int = 0
    _ref_sum: float = 0.0
    _ref_sq: float = 0.0
    _lagged: deque[float] = field(default_factory=deque)
    _up: _Side = field(default_factory=_Side)
    _down: _Side = field(default_factory=_Side)

    def observe(self, grade: float, t: float = 0.0) -> Change | None:
        g = min(max(grade, 0.0), 1.0)
        i = self.n
        self.n += 1
        if self._ref_n < self.warmup:
            self._learn(g)
            self._up.zero = self._down.zero = i + 1
            return None
        p0 = min(max(self._ref_sum / self._ref_n, 0.02), 0.98)
        var = max(self._ref_sq / self._ref_n - (self._ref_sum / self._ref_n) ** 2, 1e-4)
        # a grade that varies less than pass/fail at the same mean carries more information
        richness = min(max(p0 * (1.0 - p0) / var, 1.0), 8.0)
        self._up.step(i, self._llr(g, p0, min(p0 + self.shift, 0.99), richness), g, t)
        self._down.step(i, self._llr(g, p0, max(p0 - self.shift, 0.01), richness), g, t)
        for direction, side in (("down", self._down), ("up", self._up)):
            if side.stat >= self.h:
                return self._alarm(i, direction, side, p0)  # type: ignore[arg-type]
        self._lagged.append(g)
        if len(self._lagged) > self.lag:
            self._learn(self._lagged.popleft())  # the reference keeps learning, behind the test
        return None

    @property
    def since_change(self) -> tuple[int, float]:
        """(grades, their sum) since the last detected change (or the start)."""
        return self._ref_n + len(self._lagged), self._ref_sum + sum(self._lagged)

    def _llr(self, g: float, p0: float, p1: float, richness: float) -> float:
        step = richness * (g * math.log(p1 / p0) + (1.0 - g) * math.log((1.0 - p1) / (1.0 - p0)))
        return min(step, self.max_step)

    def _learn(self, g: float) -> None:
        self._ref_n += 1
        self._ref_sum += g
        self._ref_sq += g * g

    def _alarm(self, i: int, direction: Direction, side: _Side, p0: float) -> Change:
        after = side.total / side.n if side.n else p0
        change = Change("quality", direction, side.zero, i, p0, after, side.stat, side.zero_t)
        # re-learn the reference from the post-change observations alone
        self._ref_n, self._ref_sum, self._ref_sq = side.n, side.total, side.squares
        self._lagged.clear()
        self._up, self._down = _Side(zero=i + 1), _Side(zero=i + 1)
        return change


@dataclass(slots=True)
class LogLevelDetector:
    """Shifts in the level of a positive quantity on a log scale: a model's price ratio
    (reported / registry cost) or its latency in seconds. `shift` is the smallest ratio worth
    finding fast (1.2 = +20%); `min_sigma` floors the spread learned from the stream (a price
    ratio that is exactly 1.0 every call would otherwise make any rounding an alarm)."""

    h: float
    signal: Signal
    shift: float = 1.2
    warmup: int = 5
    min_sigma: float = 0.02
    max_step: float = 2.0
    window: int = 64
    # the level it should have (price: 1.0 = as configured): a stream that is off by `shift`
    # from its first `warmup` observations is a change too (a wrong price from day one)
    expected: float | None = None
    n: int = 0
    _recent: deque[float] = field(default_factory=deque)  # log values: the reference window
    _up: _Side = field(default_factory=_Side)
    _down: _Side = field(default_factory=_Side)
    _tail: deque[float] = field(default_factory=deque)  # the latest log values (<= window)

    def observe(self, value: float, t: float = 0.0) -> Change | None:
        if not value > 0 or math.isinf(value):
            return None  # nothing to learn from a zero, negative or missing measurement
        x = math.log(value)
        i = self.n
        self.n += 1
        self._tail.append(x)
        if len(self._tail) > self.window:
            self._tail.popleft()
        if len(self._recent) < self.warmup:
            self._recent.append(x)
            self._up.zero = self._down.zero = i + 1
            if len(self._recent) == self.warmup and self.expected is not None:
                mu = self._level()[0]
                if abs(mu - math.log(self.expected)) >= math.log(self.shift):
                    direction: Direction = "up" if mu > math.log(self.expected) else "down"
                    return Change(self.signal, direction, 0, i, self.expected, math.exp(mu), 0.0, t)
            return None
        mu, sigma = self._level()
        d = math.log(self.shift)
        k = d / (sigma * sigma)
        self._up.step(i, min(k * (x - mu - d / 2.0), self.max_step), x, t)
        self._down.step(i, min(k * (mu - x - d / 2.0), self.max_step), x, t)
        for direction, side in (("up", self._up), ("down", self._down)):
            if side.stat >= self.h:
                return self._alarm(i, direction, side, mu)
        self._recent.append(x)
        if len(self._recent) > self.window:
            self._recent.popleft()
        return None

    @property
    def level(self) -> float | None:
        """The current reference level (ratio or seconds), or None during warm-up."""
        if len(self._recent) < self.warmup:
            return None
        return math.exp(self._level()[0])

    def _level(self) -> tuple[float, float]:
        """Median and a robust spread (1.4826 x MAD) of the reference window."""
        mu = _median(self._recent)
        return mu, max(1.4826 * _median([abs(v - mu) for v in self._recent]), self.min_sigma)

    def _alarm(self, i: int, direction: Direction, side: _Side, mu: float) -> Change:
        tail = list(self._tail)[-max(side.n, 1) :]
        after = _median(tail)
        change = Change(
            self.signal, direction, side.zero, i, math.exp(mu), math.exp(after), side.stat,
            side.zero_t,
        )  # fmt: skip
        self._recent = deque(tail)
        self._up, self._down = _Side(zero=i + 1), _Side(zero=i + 1)
        return change


def _median(xs: Iterable[float]) -> float:
    s = sorted(xs)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2.0


# -- the detectors the sidecar runs, with the settings bench/drift.py measured ------------------
def grade_detector(h: float) -> GradeDetector:
    return GradeDetector(h)


def price_detector(h: float) -> LogLevelDetector:
    """+-20% or more within 5 priced calls: each call may add at most h/4.5, so five agreeing
    calls are needed and no single odd bill (a prompt-cache discount) is enough."""
    return LogLevelDetector(
        h, "price", shift=1.2, warmup=5, min_sigma=0.02, max_step=h / 4.5, expected=1.0
    )


def latency_detector(h: float) -> LogLevelDetector:
    """A tripled latency within about 10 calls; stalls are single outliers (capped step)."""
    return LogLevelDetector(h, "latency", shift=1.5, warmup=10, min_sigma=0.05, max_step=h / 8.0)
