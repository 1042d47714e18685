"""Fit a P(cheap answer wrong) verifier over a named subset of `cascade.VERIFIER_FEATURES`.

Round nine's verifiers (v5: v2's 22 features plus `step_check`'s exact re-check of every step)
read columns that are not a prefix of the feature list, so `cascade.Verifier` stores their
indices. The fit is v2's: an L2 logistic (Newton's method, deterministic) on the rows given,
train rows only (`difficulty.split_of` buckets 0-5); the choice of columns is the bench's
(`bench/routing_round9_gsm8k.py`, 20 x 5-fold CV on the train rows). v6 (`fit_gain`, gsm13:
`bench/routing_gsm13_dollars.py`) adds a P(strong right) head over v5's columns and escalates by
the fix's expected gain.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from arbiter.cascade import VERIFIER_FEATURES, Verifier
from arbiter.math_value import ValueHead
from arbiter.offline import cost_frontier as cf
from arbiter.offline import train_verifier as tv

L2 = 1e-2  # v2's
L2_STRONG = tv.L2_STRONG  # v3's strong head
V2_COLUMNS = tuple(range(22))


def columns_of(names: Sequence[str]) -> tuple[int, ...]:
    return tuple(VERIFIER_FEATURES.index(n) for n in names)


def fit(d: tv.VerifierData, rows: np.ndarray, columns: Sequence[int], version: str) -> Verifier:
    """The verifier fitted on `rows` (indices or a boolean mask) over `columns`."""
    x = d.x[rows][:, list(columns)]
    y = (d.q_weak[rows] < 0.5).astype(np.float64)
    mu, sd = x.mean(0), x.std(0)
    sd[sd < 1e-9] = 1.0
    w, b = cf.fit_logistic(x, y, L2)  # raw scale -> the standardized scale Verifier reads
    prefix = tuple(columns) == tuple(range(len(columns)))
    return Verifier(version, tuple(map(float, mu)), tuple(map(float, sd)),
                    tuple(map(float, w * sd)), float(b + w @ mu),
                    columns=() if prefix else tuple(columns))  # fmt: skip


def fit_gain(
    d: tv.VerifierData, rows: np.ndarray, columns: Sequence[int], version: str
) -> Verifier:
    """v6 (gsm13): `fit`'s P(cheap wrong) plus a P(strong right) head over the same columns
    (L2 1e-1, v3's), scored by the fix's expected gain P(strong right) - P(cheap right) = P(cheap
    wrong) - P(strong wrong): no cost term (alpha 0), so a problem that both models miss ranks
    below one only the cheap model misses. The squash is v3's (the fitting rows' 80th percentile
    -> 0.5), so `routing.cascade_math_verifier` stays a threshold in (0, 1)."""
    base = fit(d, rows, columns, version)
    x = d.x[rows][:, list(columns)]
    mu, sd = np.asarray(base.mean), np.asarray(base.std)
    w, b = cf.fit_logistic(x, (d.q_strong[rows] >= 0.5).astype(np.float64), L2_STRONG)
    ws, bs = w * sd, float(b + w @ mu)  # raw scale -> the standardized scale Verifier reads
    z = (x - mu) / sd
    p_wrong_cheap = 1 / (1 + np.exp(-np.clip(z @ np.asarray(base.weights) + base.bias, -50, 50)))
    p_right_strong = 1 / (1 + np.exp(-np.clip(z @ ws + bs, -50, 50)))
    gain = p_right_strong - (1 - p_wrong_cheap)
    # the length model is stored for the head's shape; alpha 0 never reads it
    lp, la = VERIFIER_FEATURES.index("log_prompt_len"), VERIFIER_FEATURES.index("log_answer_len")
    a = np.c_[np.ones(len(x)), d.x[rows][:, lp], d.x[rows][:, la]]
    coef, *_ = np.linalg.lstsq(a, np.log1p(d.strong_chars[rows]), rcond=None)
    raw = tv.INPUT_WEIGHT * d.prompt_chars[rows] + np.exp(a @ coef)
    squash = (float(2.0 / max(gain.std(), 1e-6)), float(np.quantile(gain, 0.8)))
    head = ValueHead(tuple(map(float, ws)), bs, (float(coef[0]), float(coef[1]), float(coef[2])),
                     tv.INPUT_WEIGHT, float(raw.mean()), 0.0, squash)  # fmt: skip
    return Verifier(version, base.mean, base.std, base.weights, base.bias, head,
                    columns=base.columns)  # fmt: skip


def p_wrong(v: Verifier, d: tv.VerifierData, rows: np.ndarray) -> np.ndarray:
    """The verifier's P(wrong) on `rows`, from the features already computed."""
    cols = list(v.columns) if v.columns else list(range(len(v.weights)))
    z = (d.x[rows][:, cols] - np.asarray(v.mean)) / np.asarray(v.std)
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z @ np.asarray(v.weights) + v.bias, -50, 50)))
    return out


def score(v: Verifier, d: tv.VerifierData, rows: np.ndarray) -> np.ndarray:
    """`Verifier.score` on `rows` from the features already computed (a value head's too)."""
    p = p_wrong(v, d, rows)
    if v.value is None:
        return p
    cols = list(v.columns) if v.columns else list(range(len(v.weights)))
    z = (d.x[rows][:, cols] - np.asarray(v.mean)) / np.asarray(v.std)
    answer = np.rint(np.expm1(d.x[rows][:, VERIFIER_FEATURES.index("log_answer_len")]))
    head = v.value
    return np.asarray([head.score(float(pi), list(zi), int(pc), int(ac)) for pi, zi, pc, ac
                       in zip(p, z, d.prompt_chars[rows], answer, strict=True)])  # fmt: skip
