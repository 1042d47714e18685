"""Fit a P(cheap answer wrong) verifier over a named subset of `cascade.VERIFIER_FEATURES`.

Round nine's verifiers (v5: v2's 22 features plus `step_check`'s exact re-check of every step)
read columns that are not a prefix of the feature list, so `cascade.Verifier` stores their
indices. The fit is v2's: an L2 logistic (Newton's method, deterministic) on the rows given,
train rows only (`difficulty.split_of` buckets 0-5); the choice of columns is the bench's
(`bench/routing_round9_gsm8k.py`, 20 x 5-fold CV on the train rows).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from arbiter.cascade import VERIFIER_FEATURES, Verifier
from arbiter.offline import cost_frontier as cf
from arbiter.offline import train_verifier as tv

L2 = 1e-2  # v2's
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


def p_wrong(v: Verifier, d: tv.VerifierData, rows: np.ndarray) -> np.ndarray:
    """The verifier's P(wrong) on `rows`, from the features already computed."""
    cols = list(v.columns) if v.columns else list(range(len(v.weights)))
    z = (d.x[rows][:, cols] - np.asarray(v.mean)) / np.asarray(v.std)
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z @ np.asarray(v.weights) + v.bias, -50, 50)))
    return out
