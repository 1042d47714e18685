"""Expected output length per (model, prompt): the unknown half of a request's cost.

A request's cost is prompt tokens x input price + output tokens x output price, and the output
side differs by model (a concise model writes a third of a verbose one) and by prompt (an essay
versus a yes/no). Before the call only a prediction exists: one Bayesian linear regression per
model of log(1 + completion tokens) on the prompt's 16 text statistics
(`difficulty.prompt_stats`, the ones the difficulty model reads; the last is a constant 1),
updated from every finished call's usage, no grade needed. The regression itself is
`_native.LogLinear` (a rank-one update per call); this module owns the pooling. Pure: no I/O.

The prior is weak around the configured `expected_output_tokens`, or a posterior fitted on
recorded outcomes (`fit_prior`, e.g. a table's train split in `arbiter replay --write-priors`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from arbiter import _native
from arbiter.difficulty import N_STATS
from arbiter.length_task import N_SHAPE, TASK_WRITE_S, TaskResiduals

N_FEATURES = N_STATS  # difficulty.prompt_stats: the 16 text statistics; slot 15 is 1.0
_MAX_LOG = math.log1p(1_000_000)  # predictions never exceed a million tokens


def stats_array(stats: bytes) -> np.ndarray:
    """The same statistics as a float64 vector, shape (16,)."""
    return np.frombuffer(stats, dtype="<f4").astype(np.float64)


_NO_SHAPE = np.zeros(N_SHAPE)


def task_row(stats: bytes, shape: bytes | None) -> np.ndarray:
    """A prompt as the task's window keeps it (`length_task`): its 16 statistics, then its
    hashed words (`difficulty.prompt_stats_and_shape`; zeros without them), float64, shape (64,)."""
    words = _NO_SHAPE if shape is None else np.frombuffer(shape, dtype="<f4")
    return np.concatenate((stats_array(stats), words))


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
        return LengthPrior(tuple(w), _diagonal([strength] * N_FEATURES), noise_var)

    def to_json(self) -> dict[str, object]:
        return {
            "weights": [round(x, 6) for x in self.weights],
            "precision": [[round(x, 6) for x in row] for row in self.precision],
            "noise_var": round(self.noise_var, 6),
        }

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> LengthPrior:
        """Parses `to_json`'s shape; ValueError names what is wrong."""
        try:
            w = _floats(doc["weights"])
            p = tuple(_floats(row) for row in doc["precision"])
            nv = float(doc["noise_var"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(
                f"a length prior needs weights, precision and noise_var: {err}"
            ) from err
        if len(w) != N_FEATURES or len(p) != N_FEATURES or any(len(r) != N_FEATURES for r in p):
            raise ValueError(f"a length prior needs {N_FEATURES} weights and a square precision")
        if not nv > 0:
            raise ValueError("noise_var must be > 0")
        return LengthPrior(w, p, nv)


def _diagonal(values: Sequence[float]) -> tuple[tuple[float, ...], ...]:
    return tuple(map(tuple, np.diag(values).tolist()))


def _floats(values: Any) -> tuple[float, ...]:
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        raise TypeError(f"expected a list of numbers, got {values!r}")
    return tuple(float(x) for x in values)


def fit_prior(
    stats: Sequence[bytes], completion_tokens: Sequence[int], ridge: float = 1.0
) -> LengthPrior:
    """The posterior after observing these (prompt, completion length) pairs from a flat prior:
    ridge regression of log(1 + tokens), its precision X'X + ridge*I and residual variance."""
    x = np.stack([stats_array(s) for s in stats]).reshape(-1, N_FEATURES)
    y = np.log1p(np.asarray(completion_tokens, dtype=np.float64))
    precision = x.T @ x + ridge * np.eye(N_FEATURES)
    w = np.linalg.solve(precision, x.T @ y)
    resid = y - x @ w
    noise_var = float(max(resid @ resid / max(len(y) - 1, 1), 1e-3))
    return LengthPrior(tuple(w.tolist()), tuple(map(tuple, precision.tolist())), noise_var)


def _regression(prior: LengthPrior) -> _native.LogLinear:
    precision = [v for row in prior.precision for v in row]
    return _native.LogLinear(list(prior.weights), precision, prior.noise_var)


def token_log_moments(mu: float, var: float, z: float) -> tuple[float, float]:
    """`log_moments`' scale, log(1 + tokens), to log tokens, which a decode time (tokens /
    speed) reads: the median token count and the one `max(z, 1)` sds above it kept (a latency
    quantile at standard score `z` reads the upper side), the median floored at one token.
    Why: read as log tokens, every answer looked one token longer, 3-6% of the decode time of
    bench/latency_slo.py's 17-30-token math answers and 50% of a 2-token label's."""
    sd = math.sqrt(max(var, 0.0))
    at = max(z, 1.0)
    low = math.log(max(math.expm1(mu), 1.0))
    high = math.log(max(math.expm1(mu + at * sd), 1.0))
    return low, ((high - low) / at) ** 2


class OutputLength:
    """Predicts each model's completion tokens for a prompt; learns from finished calls.

    Without a fitted prior, a model is the pool (one regression over every model's calls:
    how length follows the prompt) plus its own offset (a regression of its residuals, mostly
    its intercept: how much longer or shorter it writes). A model with no calls is the pool.
    Why: a model's cost is only learned from calls it gets, so predicting an untried model
    from a default (or one call's length from one essay) could keep a model that answers
    briefly from ever being tried.
    """

    def __init__(
        self,
        default_tokens: float,
        priors: Mapping[str, LengthPrior] | None = None,
        near: int = 0,
        pool_tasks: bool = False,
    ) -> None:
        weak = LengthPrior.weak(default_tokens)
        self._pool = _regression(weak)
        self._fitted: dict[str, _native.LogLinear] = {
            m: _regression(p) for m, p in (priors or {}).items()
        }
        self._offsets: dict[str, _native.LogLinear] = {}
        self._upside = _Upside(1.0)  # the residual spread above the prediction (latency)
        # each regression's posterior precision (its prior's plus sum w x x'), by part name
        # ("pool", "offset:<model>", "fitted:<model>"): the native one keeps its covariance
        # only, and a restart seeds from these (`states`, `seed`; store/length_fits.py)
        self._precision: dict[str, np.ndarray] = {"pool": np.array(weak.precision)}
        for m, p in (priors or {}).items():
            self._precision[f"fitted:{m}"] = np.array(p.precision)
        # the (stats, weight) each part observed, folded into the precisions by `states` (off
        # the loop, at the sync): an outer product per answer cost 10 us of the loop's time
        self._unfolded: dict[str, list[tuple[bytes, float]]] = {}
        self._resend: set[str] = set()  # parts whose write failed (`unsent`)
        self._lock = threading.Lock()  # the loop appends, the sync thread takes
        # per task: how far the prediction misses (latency); `near` > 0: per prompt too, from
        # that many of the task's answered prompts nearest in words (length_task.near)
        # `pool_tasks`: a task's upper spread is shrunk toward the other tasks' (prior_var), not
        # the regression's (latency.length_task_prior_pool)
        self._tasks = TaskResiduals(near, pool_tasks)
        # pool-ordered native copies of the regressions (one per routed pool), kept in step
        # by `observe`, so a decision predicts every model inside its native pass
        self._tables: dict[int, tuple[Sequence[str], dict[str, int], _native.LengthTable]] = {}

    def _parts(self, model: str) -> tuple[_native.LogLinear, ...]:
        """The regressions whose sum predicts `model`: its fitted one, or pool (+ offset)."""
        fitted = self._fitted.get(model)
        if fitted is not None:
            return (fitted,)
        off = self._offsets.get(model)
        return (self._pool,) if off is None else (self._pool, off)

    def expected(self, model: str, stats: bytes, draw: float = 0.0) -> float:
        """Expected completion tokens (the mean of a log-normal, not its median).

        `draw` (a standard normal) moves the prediction along its posterior: a Thompson sample,
        so a model whose length is still uncertain sometimes looks cheap and gets tried.
        """
        parts = self._parts(model)
        log_mean = sum(p.mean(stats) for p in parts)
        if draw:
            log_mean += draw * math.sqrt(sum(p.mean_sd(stats) ** 2 for p in parts))
        noise = parts[-1].noise_var  # the residual spread around the full prediction
        return max(math.expm1(min(log_mean + noise / 2, _MAX_LOG)), 1.0)

    def log_moments(
        self, model: str, stats: bytes, task: str | None = None, shape: bytes | None = None
    ) -> tuple[float, float]:
        """Mean and variance of log(1 + completion tokens): the prediction's spread (its
        posterior plus the residual noise), for a latency quantile (arbiter.latency). With
        the request's `task`, corrected by how far the prediction has missed on that task's
        answers (`length_task`: its median miss, and its spread above it, and once the task has
        enough answers how the miss follows the prompt's statistics)."""
        parts = self._parts(model)
        mu = sum(p.mean(stats) for p in parts)
        # the spread above the prediction, not the full one (`_Upside`): a fitted model's is
        # its own residual variance, fitted on recorded answers
        noise = parts[-1].noise_var if model in self._fitted else self._upside.var()
        fix = self._tasks.correction(task)
        if fix is not None and fix.weights is not None:
            # the task's own fit replaces the prediction; its leave-one-out spread already
            # holds its estimation error, so the regression's posterior is not added
            mu = fix.log_length(mu, stats_array(stats), model)
            var = fix.upside_var(self._tasks.prior_var(task, noise))
            if shape is not None:
                shift, var = fix.near(shape, var)
                mu += shift
            return min(mu, _MAX_LOG), var
        if fix is not None:  # the task's recalibration of the prediction
            mu = fix.log_length(mu)
            noise = fix.upside_var(self._tasks.prior_var(task, noise))
            if shape is not None:
                shift, noise = fix.near(shape, noise)
                mu += shift
        var = noise + sum(p.mean_sd(stats) ** 2 for p in parts)
        return min(mu, _MAX_LOG), var

    def observe(
        self,
        model: str,
        stats: bytes,
        completion_tokens: int,
        weight: float = 1.0,
        task: str | None = None,
        shape: bytes | None = None,
    ) -> None:
        if completion_tokens < 0 or weight <= 0:
            return
        y = math.log1p(completion_tokens)
        if task is not None:  # against the prediction the router had for this answer
            predicted = sum(p.mean(stats) for p in self._parts(model))
            row = task_row(stats, shape)
            with self._lock:  # the sync thread takes the windows to write (`states`)
                self._tasks.observe(task, predicted, y, row, model)
        fitted = self._fitted.get(model)
        if fitted is not None:
            fitted.observe(stats, y, weight)
            part = f"fitted:{model}"
        else:
            off = self._offsets.get(model)
            part = f"offset:{model}"
            if off is None:
                off = self._offsets[model] = _regression(_OFFSET_PRIOR)
                self._precision[part] = np.array(_OFFSET_PRIOR.precision)
            off.observe(stats, y - self._pool.mean(stats), weight)
        with self._lock:
            rows = self._unfolded.setdefault(part, [])
            rows.append((stats, weight))
            if len(rows) >= _FOLD_AT:  # no sync for a while (the store down): bounded
                self._fold({part: self._unfolded.pop(part)})
        for table, index in {id(t[2]): (t[2], t[1]) for t in self._tables.values()}.values():
            at = index.get(model)
            if at is not None:
                self._put(table, at, model)
        self._pool.observe(stats, y, weight)  # every answer teaches the pool
        if fitted is None:  # after the update, as the regression's own residual variance
            self._upside.observe(y - sum(p.mean(stats) for p in self._parts(model)), weight)

    def states(self, changed_only: bool = True) -> list[tuple[str, dict[str, Any]]]:
        """(part, its posterior as `LengthPrior.to_json`) of every regression observed since
        the last call (all: `changed_only` False); the pool's carries the upside's sums."""
        with self._lock:
            taken, self._unfolded = self._unfolded, {}
            resend, self._resend = self._resend, set()
            self._fold(taken)
            parts = set(taken) | resend | ({"pool"} if taken else set())
            if not changed_only:
                parts = set(self._precision)
        out = []
        for part in sorted(parts):
            reg = self._part(part)
            if reg is None:
                continue
            precision = tuple(map(tuple, self._precision[part].tolist()))
            doc = LengthPrior(tuple(reg.weights), precision, reg.noise_var).to_json()
            if part == "pool":
                doc["upside"] = [self._upside.n, self._upside.s]
            out.append((part, doc))
        with self._lock:  # the per-task corrections' windows (length_task.py), each a minute
            tasks = self._tasks.states(time.time(), TASK_WRITE_S if changed_only else 0.0)
        out += [(f"task:{task}", doc) for task, doc in tasks]
        return out

    def unsent(self, parts: Sequence[str]) -> None:
        """Parts `states` gave whose write failed: given again next time."""
        with self._lock:
            self._resend.update(p for p in parts if not p.startswith("task:"))
            self._tasks.unsent([p[5:] for p in parts if p.startswith("task:")])

    def _fold(self, taken: Mapping[str, list[tuple[bytes, float]]]) -> None:
        """Add each part's observed rows (sum w x x') to its precision and the pool's (every
        answer teaches the pool); the caller holds the lock."""
        for part, rows in taken.items():
            x = np.frombuffer(b"".join(r[0] for r in rows), dtype="<f4").reshape(-1, N_FEATURES)
            x = x.astype(np.float64)
            w = np.array([r[1] for r in rows])
            xx = (x.T * w) @ x
            self._precision[part] += xx
            self._precision["pool"] += xx

    def seed(self, docs: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Start from posteriors an earlier process learnt (`states`' documents by part): a
        restarted sidecar predicts each model's answer length, and so its latency under an
        SLO, from what it had learnt, not from the configured default (probe24d: 2,126 ms
        against 112 ms learnt, until the model's first answer). A fitted part only over a
        model still fitted; returns the parts refused (malformed), which are left as they are."""
        tasks = {p[5:]: d for p, d in docs.items() if p.startswith("task:")}
        refused = [f"task:{t}" for t in self._tasks.seed(tasks)]
        for part, doc in sorted(docs.items()):
            kind, _, model = part.partition(":")
            if kind not in ("pool", "offset", "fitted") or (
                kind == "fitted" and model not in self._fitted
            ):
                continue
            try:
                prior = LengthPrior.from_json(doc)
                reg = _regression(prior)
                up = doc.get("upside") if kind == "pool" else None
                upside = None
                if up is not None:
                    n, s = float(up[0]), float(up[1])
                    if not (math.isfinite(n) and math.isfinite(s) and n > 0 and s >= 0):
                        raise ValueError("upside sums out of range")
                    upside = (n, s)
            except (ValueError, TypeError, IndexError, _native.NativeError):
                refused.append(part)
                continue
            self._precision[part] = np.array(prior.precision)
            if kind == "pool":
                self._pool = reg
                if upside is not None:
                    self._upside.n, self._upside.s = upside
            elif kind == "offset":
                self._offsets[model] = reg
            else:
                self._fitted[model] = reg
        self._tables.clear()  # the native copies are of the regressions replaced
        return refused

    def _part(self, part: str) -> _native.LogLinear | None:
        kind, _, model = part.partition(":")
        if kind == "pool":
            return self._pool
        return (self._offsets if kind == "offset" else self._fitted).get(model)

    def pool_moments(self, stats: bytes) -> tuple[float, float]:
        """The pool regression's mean at the prompt and its residual variance: with `table`,
        what a native pass needs to predict every model as `expected` does."""
        return self._pool.mean(stats), self._pool.noise_var

    def table(self, names: Sequence[str]) -> _native.LengthTable:
        """`names`' regressions in that order as a native `LengthTable` (a model's own fitted
        one, or its offset from the pool's; none: the pool's), kept in step with `observe`.
        Cached per names list (the same list object: a router's pool index)."""
        hit = self._tables.get(id(names))
        if hit is not None and hit[0] is names:
            return hit[2]
        # another router over the same pool (one per quality target and baseline) shares it
        same = next((t for t in self._tables.values() if t[0] == names), None)
        if same is not None:
            index, table = same[1], same[2]
        else:
            index = {n: i for i, n in enumerate(names)}
            table = _native.LengthTable(len(names), _MAX_LOG)
            for name, i in index.items():
                self._put(table, i, name)
        if len(self._tables) >= _MAX_TABLES:
            del self._tables[next(iter(self._tables))]
        self._tables[id(names)] = (names, index, table)
        return table

    def _put(self, table: _native.LengthTable, at: int, model: str) -> None:
        fitted = self._fitted.get(model)
        if fitted is not None:
            table.set(at, fitted.weights, fitted.noise_var, False)
            return
        off = self._offsets.get(model)
        if off is not None:
            table.set(at, off.weights, off.noise_var, True)


_MAX_TABLES = 64  # pool-ordered tables per OutputLength: one per pool, named by each router
_FOLD_AT = 4096  # a part's unfolded rows past which `observe` folds them itself (256 KB)


class _Upside:
    """The residual spread above the prediction, for an upper quantile (a latency SLO): twice
    the mean squared positive residual (the variance, were the residuals symmetric). Why:
    answers cut short (a refusal, an error message, a one-line reply) are common and land far
    below the prediction, inflating the plain variance (on bench/latency_slo.py's workload
    0.34 against 0.27 above; with one refusal in ten, 0.55 against 0.16: test_output_length)
    though no answer gets longer for them; a latency quantile only pays for the long side.
    Starts at the weak prior's variance, worth a few calls; squared residuals are capped like
    the regression's (`_native.LogLinear`)."""

    __slots__ = ("n", "s")

    def __init__(self, prior_var: float) -> None:
        self.n = _UPSIDE_PSEUDO
        self.s = _UPSIDE_PSEUDO * prior_var / 2  # half the prior's mass above the mean

    def observe(self, resid: float, weight: float) -> None:
        self.n += weight
        if resid > 0:
            self.s += weight * min(resid * resid, _MAX_SQUARED_ERROR)

    def var(self) -> float:
        return min(max(2.0 * self.s / self.n, 1e-4), _MAX_NOISE_VAR)


# the regression's own bounds (rust/core/src/length.rs: NOISE_PSEUDO, MAX_SQUARED_ERROR,
# MAX_NOISE_VAR)
_UPSIDE_PSEUDO, _MAX_SQUARED_ERROR, _MAX_NOISE_VAR = 5.0, 9.0, 2.0
# A model's offset from the pool: its intercept moves freely (precision 1, about one call),
# how its length follows the prompt only with evidence (precision 10 per statistic).
_OFFSET_PRIOR = LengthPrior((0.0,) * N_FEATURES, _diagonal([10.0] * (N_FEATURES - 1) + [1.0]), 1.0)
