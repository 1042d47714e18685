"""Router quality metrics: PGR, APGR and CPT (RouteLLM) and AIQ (RouterBench).

Pure functions over curves of points; no I/O, no knowledge of tables or routers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# RouteLLM sweeps 10 equal intervals of the strong-call share c and integrates with trapezoids.
APGR_GRID: tuple[float, ...] = tuple(i / 10 for i in range(11))


def pgr(quality: float, q_weak: float, q_strong: float) -> float:
    """Performance gap recovered: (r - r_weak) / (r_strong - r_weak); nan if the gap is zero."""
    gap = q_strong - q_weak
    if gap == 0:
        return float("nan")
    return (quality - q_weak) / gap


def _sorted_unique(points: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Sort (x, y) by x; points sharing an x are averaged, so np.interp sees increasing x."""
    if not points:
        raise ValueError("a curve needs at least one point")
    xs = np.asarray([p[0] for p in points], dtype=np.float64)
    ys = np.asarray([p[1] for p in points], dtype=np.float64)
    ux, inverse = np.unique(xs, return_inverse=True)
    sums = np.zeros_like(ux)
    counts = np.zeros_like(ux)
    np.add.at(sums, inverse, ys)
    np.add.at(counts, inverse, 1.0)
    return ux, sums / counts


def interpolate(points: Sequence[tuple[float, float]], at: Sequence[float]) -> list[float]:
    """Linear interpolation of a (c, pgr) curve; outside its range the end values hold."""
    xs, ys = _sorted_unique(points)
    return [float(v) for v in np.interp(np.asarray(at, dtype=np.float64), xs, ys)]


def apgr(points: Sequence[tuple[float, float]]) -> float:
    """Average PGR: the curve (c in [0, 1], PGR) read at c = 0, 0.1, ..., 1, trapezoid rule.

    A curve that does not span [0, 1] is extended flat from its end points; callers that want the
    paper's number include the knob's extremes (always weak at c=0, always strong at c=1).
    """
    vals = interpolate(points, APGR_GRID)
    step = APGR_GRID[1] - APGR_GRID[0]
    return float(step * (sum(vals) - 0.5 * (vals[0] + vals[-1])))


def cpt(points: Sequence[tuple[float, float]], x: float) -> float | None:
    """Call-performance threshold: the least c where the linearly interpolated curve reaches PGR x.

    Returns None when the curve never reaches x.
    """
    xs, ys = _sorted_unique(points)
    if ys[0] >= x:
        return float(xs[0])
    for i in range(1, len(xs)):
        if ys[i] >= x:
            c0, c1, p0, p1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
            return float(c0 + (x - p0) / (p1 - p0) * (c1 - c0))
    return None


def _upper_hull(xs: np.ndarray, ys: np.ndarray) -> list[tuple[float, float]]:
    """Upper convex hull of points sorted by x (Andrew's monotone chain)."""
    hull: list[tuple[float, float]] = []
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # drop the middle point when it lies on or below the chord from hull[-2] to (x, y)
            if (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append((x, y))
    return hull


def nondecreasing_hull(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The non-decreasing convex hull of (cost, quality) points, cheapest first.

    For each cost the best quality reachable by mixing points (convex hull, upper part), and never
    lower than at a smaller cost: the hull is cut at its best point and held flat after it.
    """
    if not points:
        raise ValueError("a hull needs at least one point")
    xs = np.asarray([p[0] for p in points], dtype=np.float64)
    ys = np.asarray([p[1] for p in points], dtype=np.float64)
    order = np.lexsort((ys, xs))
    xs, ys = xs[order], ys[order]
    # for equal costs keep only the best quality
    keep = np.append(xs[1:] != xs[:-1], True)
    hull = _upper_hull(xs[keep], ys[keep])
    best = max(range(len(hull)), key=lambda i: (hull[i][1], -hull[i][0]))
    return hull[: best + 1]


def aiq(points: Sequence[tuple[float, float]], c_min: float, c_max: float) -> float:
    """RouterBench's AIQ: area under the non-decreasing convex hull over [c_min, c_max] / range.

    c_min / c_max are the costs of the cheapest and most expensive single model. Below the hull's
    cheapest point the router cannot operate, which counts as quality 0 (conservative); above its
    best point the hull is flat.
    """
    if not c_max > c_min:
        raise ValueError("AIQ needs c_max > c_min")
    hull = nondecreasing_hull(points)
    lo = max(c_min, hull[0][0])
    if lo >= c_max:
        return 0.0
    # exact area under the piecewise-linear hull, held flat after its last point
    knots = sorted({lo, c_max, *(x for x, _ in hull if lo < x < c_max)})
    hx = [x for x, _ in hull]
    hy = [y for _, y in hull]
    vals = np.interp(np.asarray(knots), hx, hy)
    area = float(np.sum((vals[1:] + vals[:-1]) * 0.5 * np.diff(knots)))
    return area / (c_max - c_min)
