"""A model's first calls, re-clipped once there are enough of them (arbiter.latency).

Each call beyond a model's own p99.4 counts as at it, but only once the model has
`_CLIP_MIN_CALLS` calls: before that its fit is mostly the prior and would clip real calls. So one
slow call among the first ones (a 4.3x stall, a 2.2x draw on a long answer) entered the sums at
face value, and a long answer's square weighs like N^4 in the split of the spread into TTFT and
speed: bench/latency_slo.py seed 11 learned turbo's speed log sd at 0.55 for a truth of 0.2, for
good. So each replica keeps its first calls as seen and, when they reach that count, clips them
against their own median and MAD (robust: one outlier moves neither) and corrects its sums by the
difference. The sums stay the shared, decayed state; only this replica's own are touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

_MAD_SD = 1.4826  # a normal's sd over its median absolute deviation
_MIN_POINTS = 8  # fewer points of a kind: their median and MAD say too little


@dataclass(frozen=True, slots=True)
class EarlyCall:
    """One observation as it entered the sums: time, weight and what it added."""

    ts: float
    weight: float
    ttft: tuple[float, float] | None  # (log TTFT, its square); a censored failure's moments
    speed: tuple[float, float] | None  # (log speed, its square)
    total: tuple[float, int] | None  # (total s, tokens) of a non-streaming answer


class _Sums(Protocol):
    ref: float
    t1: float
    t2: float
    s1: float
    s2: float
    reg: list[float]


def _median(xs: list[float]) -> float:
    ys = sorted(xs)
    k = len(ys) // 2
    return ys[k] if len(ys) % 2 else (ys[k - 1] + ys[k]) / 2


def _robust(xs: list[float]) -> tuple[float, float]:
    """(median, the sd its median absolute deviation implies)."""
    m = _median(xs)
    return m, _MAD_SD * _median([abs(x - m) for x in xs])


def _is_point(m: tuple[float, float]) -> bool:
    """A seen value (x, x^2), not a censored failure's moments (whose E[x^2] > E[x]^2)."""
    return abs(m[1] - m[0] * m[0]) <= 1e-9 * max(1.0, abs(m[1]))


def reclip(s: _Sums, early: list[EarlyCall], half_life: float, z: float) -> None:
    """Clip each early call beyond `z` robust sds of the early calls and correct `s`'s sums."""

    def weight(c: EarlyCall) -> float:
        return c.weight * float(2.0 ** ((c.ts - s.ref) / half_life))

    ttft = [(c, c.ttft[0]) for c in early if c.ttft is not None and _is_point(c.ttft)]
    if len(ttft) >= _MIN_POINTS:
        m, sd = _robust([x for _, x in ttft])
        cap = m + z * sd
        for c, x in ttft:
            if sd > 0 and x > cap:
                w = weight(c)
                s.t1 += w * (cap - x)
                s.t2 += w * (cap * cap - x * x)
    speed = [(c, c.speed[0]) for c in early if c.speed is not None]
    if len(speed) >= _MIN_POINTS:
        m, sd = _robust([x for _, x in speed])
        floor = m - z * sd
        for c, x in speed:
            if sd > 0 and x < floor:
                w = weight(c)
                s.s1 += w * (floor - x)
                s.s2 += w * (floor * floor - x * x)
    totals = [(c, c.total) for c in early if c.total is not None]
    if len(totals) >= _MIN_POINTS:
        for c, (t, n), t_new in _clipped_totals([tot for _, tot in totals], z, totals):
            w, d, d2 = weight(c), t_new - t, t_new * t_new - t * t
            r, n2 = s.reg, float(n * n)
            r[3] += w * d
            r[4] += w * n * d
            r[5] += w * d2
            r[8] += w * d * n2
            r[9] += w * d * n2 * n
            r[10] += w * d2 * n2


def _line(pts: list[tuple[float, int]]) -> tuple[float, float]:
    """total = a + b N by Theil-Sen (the median of the pairwise slopes, then the median
    intercept): least squares let one long answer's outlier tilt the line until the short
    answers' residuals looked as wide as it. Both parts kept above 2% of the median total,
    as a part at zero is no line for a log."""
    slopes = [(t2 - t1) / (n2 - n1) for i, (t1, n1) in enumerate(pts)
              for t2, n2 in pts[i + 1 :] if n2 != n1]  # fmt: skip
    mid_t, mid_n = _median([p[0] for p in pts]), _median([float(p[1]) for p in pts])
    b = max(_median(slopes), 0.02 * mid_t / max(mid_n, 1.0)) if slopes else 0.0
    a = max(_median([t - b * n for t, n in pts]), 0.02 * mid_t)
    return a, b


def _clipped_totals(
    pts: list[tuple[float, int]], z: float, calls: list[tuple[EarlyCall, tuple[float, int]]]
) -> list[tuple[EarlyCall, tuple[float, int], float]]:
    """The totals beyond `z` robust sds of their log residual from the line, with the total
    each is clipped to. The line is fitted twice: the second time without the first's
    outliers."""

    def residuals(a: float, b: float) -> list[float]:
        return [math.log(max(t, 1e-6)) - math.log(max(a + b * n, 1e-6)) for t, n in pts]

    a, b = _line(pts)
    m, sd = _robust(residuals(a, b))
    kept = [p for p, e in zip(pts, residuals(a, b), strict=True) if e <= m + z * sd]
    if len(kept) >= _MIN_POINTS and len(kept) < len(pts):
        a, b = _line(kept)
    es = residuals(a, b)
    m, sd = _robust(es)
    if sd <= 0:
        return []
    cap = m + z * sd
    out = []
    for (c, (t, n)), e in zip(calls, es, strict=True):
        if e > cap:
            out.append((c, (t, n), max(a + b * n, 1e-6) * math.exp(cap)))
    return out
