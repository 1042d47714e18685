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
its own: a shift must persist for a few observations; a latency alarm must moreover hold for
`LATENCY_CONFIRM` more calls, so that a burst of stalled calls is not a new level. Thresholds
come from the accepted false-alarm rate (`false_alarms_per_100k`) through Wald's bound
ARL0 >= e^h, checked by simulation in bench/drift.py (for grades less a measured slack: the
bound is ~5x conservative there).

Grades also run a window-limited test next to CUSUM (`WindowDropTest`: failures among the last
140 grades against the exact binomial tail of the reference's failure rate), each test given
half the false-alarm budget. CUSUM minimises the mean delay, but its delay's spread is wide
(pass/fail 0.8 -> 0.6: mean ~110, sd ~48); the window's delay is bounded by its length once the
window is full of changed grades, which cuts CUSUM's right tail (p90 200 -> 137).
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
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
    detected: float = 0.0  # the time of the observation that raised it (grades; 0 = unknown)

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
    # the time of the first observation since (`zero`'s: the change's estimated start); a
    # replica idle for hours dated a change from its last grade before the gap, and a reset
    # then counted the other replicas' grades of the gap, from before the change, as since it
    first_t: float = 0.0
    n: int = 0  # observations since then, and their sum and sum of squares
    total: float = 0.0
    squares: float = 0.0

    def step(self, i: int, llr: float, x: float, t: float) -> None:
        self.stat = max(0.0, self.stat + llr)
        if self.stat == 0.0:
            self.zero, self.zero_t, self.n, self.total, self.squares = i + 1, t, 0, 0.0, 0.0
        else:
            if self.n == 0:
                self.first_t = t
            self.n += 1
            self.total += x
            self.squares += x * x


def window_threshold(size: int, fail: float, false_alarms_per_100k: float) -> int:
    """The fewest failures among the last `size` grades that alarm at most
    `false_alarms_per_100k` times per 100,000 grades when each fails with probability `fail`.

    Exact for independent pass/fail grades: the count enters {>= k} at a step only when the
    `size - 1` grades it shares with the step before hold k - 1 failures, the new grade fails
    and the one leaving passed, so the entry rate is C(size-1, k-1) fail^k (1-fail)^(size-k+1).
    Fractional (richer) grades vary less than that, so the same k alarms them less often."""
    key = (size, round(fail, 3), false_alarms_per_100k)
    k = _WINDOW_K.get(key)
    if k is not None:
        return k
    q = min(max(key[1], 1e-3), 1.0 - 1e-3)
    budget = math.log(false_alarms_per_100k / 100_000.0)
    lq, lp = math.log(q), math.log1p(-q)
    k = max(1, math.ceil(size * q))
    while k <= size:
        log_rate = (
            math.lgamma(size) - math.lgamma(k) - math.lgamma(size - k + 1)
            + k * lq + (size - k + 1) * lp
        )  # fmt: skip
        if log_rate <= budget:
            break
        k += 1
    if len(_WINDOW_K) > 10_000:
        _WINDOW_K.clear()
    _WINDOW_K[key] = k
    return k


_WINDOW_K: dict[tuple[int, float, float], int] = {}


@dataclass(slots=True)
class WindowDropTest:
    """Failures (1 - grade) among the last `size` grades against the binomial tail of the
    reference's failure rate. CUSUM's delay has a long right tail (its p90 is near twice its
    p50 for a 0.8 -> 0.6 drop); this test's delay is bounded by `size` once its window holds
    only post-change grades, so alarming on either cuts that tail (bench/drift.py)."""

    size: int
    false_alarms_per_100k: float
    _recent: deque[tuple[float, float]] = field(default_factory=deque)  # (grade, time)
    _fails: float = 0.0

    def observe(self, g: float, fail: float, t: float) -> bool:
        self._recent.append((g, t))
        self._fails += 1.0 - g
        if len(self._recent) > self.size:
            self._fails -= 1.0 - self._recent.popleft()[0]
        if len(self._recent) < self.size:
            return False
        return self._fails >= window_threshold(self.size, fail, self.false_alarms_per_100k)

    def as_side(self, i: int) -> _Side:
        """The window as a change estimate: it starts at the window's first grade."""
        t0 = self._recent[0][1]
        side = _Side(zero=i + 1 - len(self._recent), zero_t=t0, first_t=t0)
        for g, _ in self._recent:
            side.n, side.total, side.squares = side.n + 1, side.total + g, side.squares + g * g
        return side

    def reset(self) -> None:
        self._recent.clear()
        self._fails = 0.0


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
    # the window-limited companion test for drops (None: CUSUM alone)
    window: WindowDropTest | None = None

    def observe(self, grade: float, t: float = 0.0) -> Change | None:
        g = min(max(grade, 0.0), 1.0)
        i = self.n
        self.n += 1
        if self._ref_n < self.warmup:
            self._learn(g)
            self._up.zero = self._down.zero = i + 1
            self._up.zero_t = self._down.zero_t = t  # a change after this began after t
            return None
        p0 = min(max(self._ref_sum / self._ref_n, 0.02), 0.98)
        var = max(self._ref_sq / self._ref_n - (self._ref_sum / self._ref_n) ** 2, 1e-4)
        # a grade that varies less than pass/fail at the same mean carries more information
        richness = min(max(p0 * (1.0 - p0) / var, 1.0), 8.0)
        self._up.step(i, self._llr(g, p0, min(p0 + self.shift, 0.99), richness), g, t)
        self._down.step(i, self._llr(g, p0, max(p0 - self.shift, 0.01), richness), g, t)
        for direction, side in (("down", self._down), ("up", self._up)):
            if side.stat >= self.h:
                return self._alarm(i, direction, side, p0, t)  # type: ignore[arg-type]
        if self.window is not None and self.window.observe(g, 1.0 - p0, t):
            # date it like CUSUM does when its down side has a start, else at the window's
            side = self._down
            if side.n == 0 or side.n > self.window.size:
                side = self.window.as_side(i)
            return self._alarm(i, "down", side, p0, t)
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

    def _alarm(self, i: int, direction: Direction, side: _Side, p0: float, t: float) -> Change:
        after = side.total / side.n if side.n else p0
        started = side.first_t if side.n else side.zero_t
        change = Change(
            "quality", direction, side.zero, i, p0, after, side.stat, started, detected=t
        )
        # re-learn the reference from the post-change observations alone
        self._ref_n, self._ref_sum, self._ref_sq = side.n, side.total, side.squares
        self._lagged.clear()
        # dated from now: a next change's start is never placed before this detection (the
        # store tells a second change from this one by it: store/arm_resets.py)
        self._up, self._down = _Side(zero=i + 1, zero_t=t), _Side(zero=i + 1, zero_t=t)
        if self.window is not None:
            self.window.reset()
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
    # the most one observation can take back (-inf: none); a price's odd cheap bill (a cached
    # prompt) must not wipe out the evidence of a rise the other calls agree on
    min_step: float = -math.inf
    window: int = 64
    # the level it should have (price: 1.0 = as configured): a stream that is off by `shift`
    # from its first `warmup` observations is a change too (a wrong price from day one)
    expected: float | None = None
    # observations after the CUSUM crosses h that must still sit nearer the new level than the
    # old before the change is reported (0: report at once). A burst of slow calls (a host
    # stall, a network blip) crosses h like a shift does, and is over by then.
    confirm: int = 0
    # after an alarm the reference is the few observations since the change: until it holds
    # this many, an observation that moves a CUSUM side off it does not join it (0: all join).
    # Joined, a price back at its old level within a few calls put the reference's median and
    # spread between the two levels, the CUSUM's steps shrank to nothing and the return was
    # never reported: the adopted factor stayed for good (probe21: 35 calls, none)
    guard: int = 0
    n: int = 0
    _guarded: bool = False
    _recent: deque[float] = field(default_factory=deque)  # log values: the reference window
    _sorted: list[float] = field(default_factory=list)  # the same values, sorted (for _level)
    _pending: _Pending | None = None  # a crossing waiting for its confirmation
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
            insort(self._sorted, x)
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
        lo, hi = self.min_step, self.max_step
        self._up.step(i, min(max(k * (x - mu - d / 2.0), lo), hi), x, t)
        self._down.step(i, min(max(k * (mu - x - d / 2.0), lo), hi), x, t)
        change = self._confirmed(i) if self._pending is not None else self._test(i, mu)
        if change is not None:
            return change
        if self._guarded:
            if len(self._recent) >= self.guard:
                self._guarded = False
            elif self._up.stat > 0.0 or self._down.stat > 0.0:
                return None
        self._recent.append(x)
        insort(self._sorted, x)
        if len(self._recent) > self.window:
            old = self._recent.popleft()
            del self._sorted[bisect_left(self._sorted, old)]
        return None

    @property
    def level(self) -> float | None:
        """The current reference level (ratio or seconds), or None during warm-up."""
        if len(self._recent) < self.warmup:
            return None
        return math.exp(self._level()[0])

    def _level(self) -> tuple[float, float]:
        """Median and a robust spread (1.4826 x MAD) of the reference window, read from the
        window kept sorted (the same figures as sorting it twice a call: `_sorted_mad`)."""
        s = self._sorted
        mu = _sorted_median(s)
        return mu, max(1.4826 * _sorted_mad(s, mu), self.min_sigma)

    def _test(self, i: int, mu: float) -> Change | None:
        """Whether a side crossed h with the level moved: a change, or one to confirm."""
        sides: tuple[tuple[Direction, _Side], ...] = (("up", self._up), ("down", self._down))
        for direction, side in sides:
            if side.stat >= self.h:
                if self._shifted(direction, side, mu):
                    if self.confirm <= 0:
                        return self._alarm(i, direction, side, mu)
                    after = _median(list(self._tail)[-max(side.n, 1) :])
                    self._pending = _Pending(direction, i, mu, after, replace(side))
                    return None
                # the capped steps added up (more frequent stalls, say) while the level stayed:
                # nothing to adopt, so no alarm; the test restarts from here
                self._up, self._down = _Side(zero=i + 1), _Side(zero=i + 1)
                break
        return None

    def _confirmed(self, i: int) -> Change | None:
        """After `confirm` more observations: a change if most of them are still nearer the
        level the crossing named than the old one (the CUSUM's start dates it); else it was a
        burst, and the test restarts from here without it."""
        p = self._pending
        assert p is not None
        if i - p.at < self.confirm:
            return None
        self._pending = None
        since = list(self._tail)[-self.confirm :]
        needed = max(abs(p.after - p.mu) / 2.0, math.log(self.shift) / 2.0)
        sign = 1.0 if p.direction == "up" else -1.0
        nearer = sum(1 for x in since if sign * (x - p.mu) >= needed)
        if 2 * nearer > self.confirm:  # most of them
            # the new level: the calls from the crossing on (the CUSUM's start may lie a few
            # calls before the change, and those would pull the level back towards the old one)
            return self._alarm(i, p.direction, replace(p.side, n=self.confirm + 1), p.mu)
        self._up, self._down = _Side(zero=i + 1), _Side(zero=i + 1)
        return None

    def _shifted(self, direction: Direction, side: _Side, mu: float) -> bool:
        """Whether the level since the side's zero is at least sqrt(shift) away from `mu`, in
        the side's direction: a change this detector reports must name a level to adopt."""
        after = _median(list(self._tail)[-max(side.n, 1) :])
        half = math.log(self.shift) / 2.0
        return after - mu >= half if direction == "up" else mu - after >= half

    def _alarm(self, i: int, direction: Direction, side: _Side, mu: float) -> Change:
        tail = list(self._tail)[-max(side.n, 1) :]
        after = _median(tail)
        change = Change(
            self.signal, direction, side.zero, i, math.exp(mu), math.exp(after), side.stat,
            side.zero_t,
        )  # fmt: skip
        self._recent = deque(tail)
        self._sorted = sorted(tail)
        self._up, self._down = _Side(zero=i + 1), _Side(zero=i + 1)
        self.expected = None  # judged: the level is now what the stream shows, not the config
        self._guarded = self.guard > 0
        return change


@dataclass(frozen=True, slots=True)
class _Pending:
    """A CUSUM crossing awaiting confirmation: its direction, the observation that crossed,
    the reference level then (log), the level it named (log) and the side as it crossed."""

    direction: Direction
    at: int
    mu: float
    after: float
    side: _Side


def _median(xs: Iterable[float]) -> float:
    return _sorted_median(sorted(xs))


def _sorted_median(s: list[float]) -> float:
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2.0


def _sorted_mad(s: list[float], mu: float) -> float:
    """The median of |v - mu| over the sorted `s` (mu its median) without building and sorting
    the deviations: the latency detector read its window's spread once per answered call, two
    sorts of 64 values and a list each time (8-15 us of CPU a call, this host, 2026-12-06)."""
    n = len(s)
    mid = n // 2
    if n % 2:
        lo = _nearest_run(s, mu, mid + 1)
        return max(abs(s[lo] - mu), abs(s[lo + mid] - mu))
    lo = _nearest_run(s, mu, mid)
    kth = max(abs(s[lo] - mu), abs(s[lo + mid - 1] - mu))
    # the (k+1)-th: the nearer of the run's two neighbours (the k nearest values are in the
    # run, so the next nearest is next to it): one bisection a call, not two (the detector
    # reads its 64-value window's spread once per answered call)
    left = mu - s[lo - 1] if lo > 0 else math.inf
    right = s[lo + mid] - mu if lo + mid < n else math.inf
    return (kth + min(abs(left), abs(right))) / 2.0


def _nearest_run(s: list[float], mu: float, k: int) -> int:
    """Where the k values nearest mu begin in the sorted `s`: they are a run s[lo:lo+k], found
    by bisecting on lo; the k-th smallest |v - mu| is the farther of its two ends."""
    lo, hi = 0, len(s) - k
    while lo < hi:
        m = (lo + hi) // 2
        if mu - s[m] > s[m + k] - mu:
            lo = m + 1
        else:
            hi = m
    return lo


# -- the detectors the sidecar runs, with the settings bench/drift.py measured ------------------
def grade_detector(false_alarms_per_100k: float) -> GradeDetector:
    """CUSUM and the window test on one grade stream, each given half of 70% of the
    false-alarm budget (alarm if either); both thresholds are exact for a known pass rate, and
    the rest is left for the error of the pass rate learned from the stream. A 0.8 -> 0.6 drop
    of pass/fail grades: p50 91, p90 143 together against p50 102, p90 181-200 for CUSUM alone
    at its Wald threshold (bench/results/drift.md)."""
    each = false_alarms_per_100k * _GRADE_SPEND / 2.0
    test = WindowDropTest(GRADE_WINDOW, each)
    # the reference learns a grade only once it has left the window (no self-contamination)
    return GradeDetector(grade_threshold(each), lag=GRADE_WINDOW, window=test)


# the share of the budget the thresholds spend for a known pass rate: learning it from the
# stream (warm-up, re-learning after a change) adds alarms; spending all of it measured
# 0.75-0.95 per 100k, too close to 1 to bound below it (bench/drift.py's null streams)
_GRADE_SPEND = 0.7
# 140 graded observations: the 0.8 -> 0.6 delay's p90 was 135-145 for windows of 120-160 in
# runs of 600 streams, 140 among the best; a longer window waits longer to be full
GRADE_WINDOW = 140
# Wald's e^h bound ignores the overshoot of a pass/fail CUSUM's large steps: the grade detector
# (learned reference, both directions) alarmed ~5x less often than the bound allows, for pass
# rates 0.3-0.95 (bench/drift.py's null streams). Less ln 5: it spends the budget, not a fifth.
_GRADE_WALD_SLACK = 1.6


def grade_threshold(false_alarms_per_100k: float) -> float:
    """The grade CUSUM's h for a false-alarm rate per stream, both directions together."""
    return threshold_for(false_alarms_per_100k) - _GRADE_WALD_SLACK


def price_detector(h: float, expected: float = 1.0) -> LogLevelDetector:
    """+-20% or more within 5 priced calls: each call may add at most h/3.2, so four agreeing
    calls are needed (three reach 0.94 h) and no single odd bill (a prompt-cache discount) is
    enough; and each may take back at most h/4.5, so one such bill among the five does not
    restart the count (4 x h/3.2 - h/4.5 >= h), while two ordinary calls clear an odd bill's
    step. Before (h/4.5 up, no floor), one cached bill in a rise's first five calls - 10% of
    streams at 2% cached calls - put the detection at 6-10 calls. `expected`: the ratio the
    registry prices at now (a factor adopted before, here or by another replica)."""
    return LogLevelDetector(
        h, "price", shift=1.2, warmup=5, min_sigma=0.02, max_step=h / 3.2, min_step=-h / 4.5,
        expected=expected, guard=10,
    )  # fmt: skip


def latency_detector(h: float, confirm: int | None = None) -> LogLevelDetector:
    """A tripled latency within about 16 calls (goal 20); a stall is a single outlier (capped
    step), and a burst of stalled calls is not a change (`LATENCY_CONFIRM`)."""
    return LogLevelDetector(
        h, "latency", shift=1.5, warmup=10, min_sigma=0.05, max_step=h / 8.0,
        confirm=LATENCY_CONFIRM if confirm is None else confirm,
    )  # fmt: skip


# 7: in bench/drift.py's burst streams (1.2 s, log sd 0.35, 1% single 10x stalls, a burst of
# k calls at 2-10x every ~400 calls) alarms per burst of 10 went 1.13 -> 0.06 (confirming on 5
# calls: 0.09, on 9: 0.02), per burst of 5 0.017 -> 0.002, of 3 none either way; a tripled
# latency's delay p50 9 -> 16, p90 10 -> 17, at most 19 (goal 20; on 9 calls p90 19, max 22)
LATENCY_CONFIRM = 7
