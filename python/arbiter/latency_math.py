"""The latency model's pure arithmetic: a prior blended with decayed moments, the standard
normal quantile, the log-normal sum's quantile (TTFT + tokens / speed), the least-squares line of
a non-streaming total on its answer's length and the split of its residual spread into TTFT's and
speed's (with latency_split's target), and a normal's moments above a censoring point (a failed
call's time as a lower bound). No state: latency.py holds the sums and calls these."""

from __future__ import annotations

import math

from arbiter.latency_split import ridge_target

_SQRT2 = math.sqrt(2.0)
_MILLS_ASYMPTOTIC = 20.0  # beyond it the inverse Mills ratio's series is exact to ~1e-7


def blend(
    prior_mu: float, prior_var: float, k: float, calls: float, w: float, s1: float, s2: float
) -> tuple[float, float]:
    """Prior worth `k` calls, data worth `calls` (its moments from the decayed sums)."""
    if w <= 0 or calls <= 0:
        return prior_mu, prior_var
    m = s1 / w
    v = max(s2 / w - m * m, 0.0)
    n = calls
    mu = (k * prior_mu + n * m) / (k + n)
    second = (k * (prior_var + prior_mu * prior_mu) + n * (v + m * m)) / (k + n)
    return mu, max(second - mu * mu, 1e-4)


def blend_spread(
    prior_mu: float, prior_var: float, k: float, calls: float, w: float, s1: float, s2: float
) -> tuple[float, float]:
    """The calls' own mean, and their variance with the prior's worth `k` calls (as the line's
    fit of non-streaming totals reads a model): unlike `blend`, the distance between the
    prior's level and the calls' does not widen the spread. Why: the default prior (2 s to the
    first token, 20 tokens/s) sits 1.5-2.4 in log from a fast model's level, and in `blend`
    that distance is worth k calls of spread: a stream-fitted 250 ms model read a TTFT log sd
    of 0.69 for a truth of 0.3 after 30 calls, still 0.37 after 300."""
    if w <= 0 or calls <= 0:
        return prior_mu, prior_var
    m = s1 / w
    v = max(s2 / w - m * m, 0.0)
    return m, max((k * prior_var + calls * v) / (k + calls), 1e-4)


def blend_upper(
    prior_mu: float, prior_var: float, k: float, calls: float, mu: float, var: float, slow: float
) -> tuple[float, float]:
    """A line-fitted model's part (its calls' log median `mu`, log variance `var`) with the
    prior worth `k` calls: in level, as `blend` weighs it; in spread, the prior's variance, and
    their distance (as `blend` widens it) only where the prior's pull reads the model faster
    than its calls (`slow` +1: a larger value is slower, TTFT; -1: speed). Why one side: an
    upper quantile cannot afford a pull toward a faster level (the pool's typical model read a
    slow model's first calls fast: an SLO request lost on 19 of 47 dev seeds without the
    distance), while a pull toward a slower one errs safe, and the default prior (2 s, 20
    tokens/s) sits 1.5-2.4 in log above a fast model: its distance held spreads wide for
    hundreds of calls (`blend_spread`'s measurement)."""
    if calls <= 0:
        return prior_mu, prior_var
    n = calls
    m = (k * prior_mu + n * mu) / (k + n)
    v = (k * prior_var + n * var) / (k + n)
    d = prior_mu - mu
    if slow * d < 0:
        v += k * n / (k + n) ** 2 * d * d
    return m, max(v, 1e-4)


def normal_quantile(q: float) -> float:
    """The standard normal quantile (Acklam's rational approximation; |error| < 1.2e-9)."""
    if not 0.0 < q < 1.0:
        raise ValueError("a quantile must be in (0, 1)")
    a = (-39.69683028665376, 220.9460984245205, -275.9285104469687,
         138.3577518672690, -30.66479806614716, 2.506628277459239)  # fmt: skip
    b = (-54.47609879822406, 161.5858368580409, -155.6989798598866,
         66.80131188771972, -13.28068155288572)  # fmt: skip
    c = (-7.784894002430293e-03, -0.3223964580411365, -2.400758277161838,
         -2.549732539343734, 4.374664141464968, 2.938163982698783)  # fmt: skip
    d = (7.784695709041462e-03, 0.3224671290700398, 2.445134137142996, 3.754408661907416)
    lo = 0.02425
    if q < lo:
        r = math.sqrt(-2 * math.log(q))
        return (((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) / (
            (((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1
        )
    if q > 1 - lo:
        return -normal_quantile(1 - q)
    r = q - 0.5
    s = r * r
    num = (((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5]) * r
    return num / (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1)


def lognormal_sum_log_moments(
    mu1: float, var1: float, mu2: float, var2: float
) -> tuple[float, float]:
    """(mean, variance) of log(X1 + X2), each log-normal (independent), by Fenton-Wilkinson:
    a log-normal with the sum's mean and variance."""
    m1 = math.exp(mu1 + var1 / 2)
    m2 = math.exp(mu2 + var2 / 2)
    v = m1 * m1 * math.expm1(var1) + m2 * m2 * math.expm1(var2)
    m = m1 + m2
    s2 = math.log1p(v / (m * m))
    return math.log(m) - s2 / 2, s2


def lognormal_sum_quantile(mu1: float, var1: float, mu2: float, var2: float, z: float) -> float:
    """The quantile at standard score `z` of X1 + X2 (`lognormal_sum_log_moments`)."""
    mu, s2 = lognormal_sum_log_moments(mu1, var1, mu2, var2)
    return math.exp(mu + z * math.sqrt(s2))


Moments = tuple[float, float]  # (E[x], E[x^2]) of a log time or log speed


def fit_line(reg: list[float], a0: float, b0: float) -> tuple[float, float]:
    """(mean TTFT s, mean s per token) of total = a + b * tokens, by least squares on the sums,
    when the answer lengths varied enough to fix the line; before that, the prior's line scaled
    to the mean total (`a0`, `b0`: the current means)."""
    w, n, nn, t, nt = reg[:5]
    det = w * nn - n * n
    if w >= 5.0 and det > 0.05 * w * nn:
        b = (w * nt - n * t) / det
        a = (t - b * n) / w
        floor_a, floor_b = 0.02 * t / w, 0.02 * t / n  # a part at zero is no line for a log
        return max(a, floor_a), max(b, floor_b)
    r = t / (a0 * w + b0 * n)
    return a0 * r, b0 * r


def shrink_level_split(
    reg: list[float], a: float, b: float, a_t: float, b_t: float, calls: float, worth: float
) -> tuple[float, float]:
    """The line's (a, b) with its split of the level moved toward the split (a_t, b_t) of
    another model (the pool's typical one), worth `worth` calls against `calls`, keeping the
    total at the calls' mean length: the line is pinned there, while its split into TTFT and
    seconds per token is loose when a model's first answers span few lengths (a warm-up read
    430 ms / 66.7 tokens/s for a truth of 600 / 90 with its totals right). The split is the
    log odds of TTFT against decode time at that length, averaged by weight."""
    w, n = reg[0], reg[1]
    if worth <= 0 or w <= 0 or n <= 0 or calls < 0:
        return a, b
    mean_n = n / w
    total = a + b * mean_n
    own = math.log(a / (b * mean_n))
    target = math.log(a_t / (b_t * mean_n))
    odds = math.exp((calls * own + worth * target) / (calls + worth))
    share = odds / (1.0 + odds)
    return total * share, total * (1.0 - share) / mean_n


def raw_split(reg: list[float], a: float, b: float) -> tuple[float, float] | None:
    """(e^vTTFT - 1, e^vspeed - 1) from the line's residuals r = T - a - bN, or None when the
    lengths did not vary enough. Each part log-normal with log variance v has variance
    (e^v - 1) x its mean squared, and E[r^2 | N] = c1 + c2 N^2 with c1 = a^2 (e^v1 - 1),
    c2 = b^2 (e^v2 - 1): a least-squares line of r^2 on N^2 gives both once N^2 varied enough
    (if it says one part has no spread, the other takes it all)."""
    w, n, nn, t, nt, tt, n3, n4, tn2, tn3, ttn2 = reg
    det = w * n4 - nn * nn
    if n4 <= 0 or det <= SPLIT_MIN_SPREAD * w * n4:
        return None
    rss = tt - 2 * a * t - 2 * b * nt + a * a * w + 2 * a * b * n + b * b * nn
    # sum w r^2 N^2, expanded into the stored sums
    rss2 = ttn2 - 2 * a * tn2 - 2 * b * tn3 + a * a * nn + 2 * a * b * n3 + b * b * n4
    c1 = (n4 * rss - nn * rss2) / det
    c2 = (w * rss2 - nn * rss) / det
    if c1 < 0:  # no spread left for TTFT: the line through the origin
        c1, c2 = 0.0, max(rss2, 0.0) / n4
    elif c2 < 0:
        c1, c2 = max(rss, 0.0) / w, 0.0
    return c1 / (a * a), c2 / (b * b)


def log_vars(
    reg: list[float],
    a: float,
    b: float,
    calls: float,
    split: bool = True,
    ratio: float = 1.0,
    pseudo: float = 0.0,
) -> tuple[float, float]:
    """(TTFT's, seconds per token's) log variance from the line's residuals r = T - a - bN: the
    split of `raw_split`, shrunk toward the split at `ratio` (e^vTTFT - 1 over e^vspeed - 1: the
    model's own streams', latency_split) that keeps the model's own residual sum of squares, which
    is worth `pseudo` calls (SPLIT_PSEUDO when 0); without a split (too few calls, lengths that did
    not vary, or `split` False: some sums came from a replica that did not keep the split's) that
    target alone. With ratio 1 the target is one shared v for both: the residual sum of squares over
    sum(a^2 + (bN)^2) estimates e^v - 1. `calls`: how many calls the sums hold (undecayed, so every
    replica, whatever its sums' reference time, weighs them alike)."""
    w, n, nn, t, nt, tt = reg[:6]
    rss = tt - 2 * a * t - 2 * b * nt + a * a * w + 2 * a * b * n + b * b * nn
    scale = a * a * w + b * b * nn
    if scale <= 0:
        return 0.0, 0.0
    ta, tb = ridge_target(rss / scale, a * a * w / scale, ratio)
    raw = raw_split(reg, a, b) if split and calls >= SPLIT_MIN_CALLS else None
    if raw is None:
        return ta, tb
    # squared residuals are heavy-tailed, so the split is noisy on few calls (and, on a few
    # hundred, loose along the ridge of splits that fit the same totals: latency_split)
    va, vb = max(math.log1p(raw[0]), 1e-4), max(math.log1p(raw[1]), 1e-4)
    k = pseudo or SPLIT_PSEUDO
    return (calls * va + k * ta) / (calls + k), (calls * vb + k * tb) / (calls + k)


# the split needs this many calls, and N^2 this spread (its variance over its mean square:
# 0 when every answer had one length, where only the shared variance is defined); below
# SPLIT_PSEUDO calls the shared variance weighs more than the split
SPLIT_MIN_CALLS, SPLIT_MIN_SPREAD, SPLIT_PSEUDO = 10.0, 0.05, 30.0


def censored_moments(c: float, mu: float, var: float) -> Moments | None:
    """E[x], E[x^2] of x ~ N(mu, var) given x > c; None when c is below the median (a failure
    faster than usual tells nothing about the tail)."""
    sd = math.sqrt(var)
    z = (c - mu) / sd
    if z <= 0:
        return None
    if z < _MILLS_ASYMPTOTIC:
        lam = math.exp(-z * z / 2) / math.sqrt(2 * math.pi) / (0.5 * math.erfc(z / _SQRT2))
    else:  # both parts underflow to 0 far out (z ~ 38): the ratio's asymptotic series
        lam = z + 1 / z - 2 / z**3
    mean = mu + sd * lam
    return mean, var * (1 + z * lam - lam * lam) + mean * mean
