"""Expected output length per (model, prompt): the unknown half of a request's cost.

A request's cost is prompt tokens x input price + output tokens x output price, and the output
side differs by model (a concise model writes a third of a verbose one) and by prompt (an essay
versus a yes/no). Before the call only a prediction exists: one Bayesian linear regression per
model of log(1 + completion tokens) on the prompt's 16 text statistics
(`_native.prompt_features`, the same ones the difficulty model reads; the last is a constant 1),
updated from every finished call's usage, no grade needed. Pure: no I/O, no clocks.

The prior is weak around the configured `expected_output_tokens`, or a posterior fitted on
recorded outcomes (`fit_prior`, e.g. a table's train split in `arbiter replay --write-priors`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from arbiter import _native

N_FEATURES = 16  # the trailing text statistics of prompt_features(text, 64); slot 15 is 1.0
_FEATURE_DIM = 64
_MAX_LOG = math.log1p(1_000_000)  # predictions never exceed a million tokens
_MAX_NOISE_VAR = 2.0  # log-space; lifts a median to a mean by at most e


def prompt_stats(text: str) -> np.ndarray:
    """The regression's input: the 16 text statistics of `text`, float64, shape (16,)."""
    raw = np.frombuffer(_native.prompt_features(text, _FEATURE_DIM), dtype="<f4")
    return raw[-N_FEATURES:].astype(np.float64)


@dataclass(frozen=True, slots=True)
class LengthPrior:
    """A Gaussian over the regression weights: mean `weights`, precision matrix `precision`;
    `noise_var` is the residual variance in log space (its half lifts a log mean to a mean)."""

    weights: tuple[float, ...]
    precision: tuple[tuple[float, ...], ...]
    noise_var: float

    @staticmethod
    def weak(expected_tokens: float, strength: float = 1.0, noise_var: float = 1.0) -> LengthPrior:
        """Centered on `expected_tokens` for every prompt, worth about `strength` calls."""
        w = [0.0] * N_FEATURES
        w[-1] = math.log1p(max(expected_tokens, 0.0)) - noise_var / 2
        eye = np.eye(N_FEATURES) * strength
        return LengthPrior(tuple(w), tuple(map(tuple, eye.tolist())), noise_var)

    def to_json(self) -> dict[str, object]:
        return {
            "weights": [round(x, 6) for x in self.weights],
            "precision": [[round(x, 6) for x in row] for row in self.precision],
            "noise_var": round(self.noise_var, 6),
        }

    @staticmethod
    def from_json(doc: Mapping[str, object]) -> LengthPrior:
        w = tuple(float(x) for x in doc["weights"])  # type: ignore[attr-defined]
        p = tuple(tuple(float(x) for x in row) for row in doc["precision"])  # type: ignore[attr-defined]
        nv = float(doc["noise_var"])  # type: ignore[arg-type]
        if len(w) != N_FEATURES or len(p) != N_FEATURES or any(len(r) != N_FEATURES for r in p):
            raise ValueError(f"a length prior needs {N_FEATURES} weights and a square precision")
        if not nv > 0:
            raise ValueError("noise_var must be > 0")
        return LengthPrior(w, p, nv)


def fit_prior(
    stats: Sequence[np.ndarray], completion_tokens: Sequence[int], ridge: float = 1.0
) -> LengthPrior:
    """The posterior after observing these (prompt, completion length) pairs from a flat prior:
    ridge regression of log(1 + tokens), its precision X'X + ridge*I and residual variance."""
    x = np.asarray(stats, dtype=np.float64).reshape(-1, N_FEATURES)
    y = np.log1p(np.asarray(completion_tokens, dtype=np.float64))
    precision = x.T @ x + ridge * np.eye(N_FEATURES)
    w = np.linalg.solve(precision, x.T @ y)
    resid = y - x @ w
    noise_var = float(max(resid @ resid / max(len(y) - 1, 1), 1e-3))
    return LengthPrior(tuple(w.tolist()), tuple(map(tuple, precision.tolist())), noise_var)


class _Model:
    """One model's posterior: precision A, A @ weights = b. The residual variance is a running
    mean of squared errors after each update, from the prior's value worth `_NOISE_PSEUDO` calls."""

    __slots__ = ("a", "b", "noise_n", "noise_sum", "w")
    _NOISE_PSEUDO = 5.0

    def __init__(self, prior: LengthPrior) -> None:
        self.a = np.array(prior.precision, dtype=np.float64)
        self.w = np.array(prior.weights, dtype=np.float64)
        self.b = self.a @ self.w
        self.noise_sum = prior.noise_var * self._NOISE_PSEUDO
        self.noise_n = self._NOISE_PSEUDO

    @property
    def noise_var(self) -> float:
        # capped: early errors against a weak prior would otherwise inflate every mean
        return min(self.noise_sum / self.noise_n, _MAX_NOISE_VAR)

    def log_mean(self, x: np.ndarray) -> float:
        return float(self.w @ x)

    def observe(self, x: np.ndarray, y: float, weight: float) -> None:
        self.a += weight * np.outer(x, x)
        self.b += weight * y * x
        self.w = np.asarray(np.linalg.solve(self.a, self.b), dtype=np.float64)
        err = y - self.log_mean(x)  # after the update: early misses of the prior do not linger
        self.noise_sum += weight * min(err * err, 9.0)  # one wild answer cannot dominate
        self.noise_n += weight


class OutputLength:
    """Predicts each model's completion tokens for a prompt; learns from finished calls."""

    def __init__(
        self, default_tokens: float, priors: Mapping[str, LengthPrior] | None = None
    ) -> None:
        self._default = LengthPrior.weak(default_tokens)
        self._priors = dict(priors or {})
        self._models: dict[str, _Model] = {}

    def _model(self, model: str) -> _Model:
        m = self._models.get(model)
        if m is None:
            m = _Model(self._priors.get(model, self._default))
            self._models[model] = m
        return m

    def expected(self, model: str, stats: np.ndarray) -> float:
        """Expected completion tokens (the mean of a log-normal, not its median)."""
        m = self._model(model)
        z = min(m.log_mean(stats) + m.noise_var / 2, _MAX_LOG)
        return max(math.expm1(z), 1.0)

    def observe(
        self, model: str, stats: np.ndarray, completion_tokens: int, weight: float = 1.0
    ) -> None:
        if completion_tokens < 0 or weight <= 0:
            return
        self._model(model).observe(stats, math.log1p(completion_tokens), weight)
