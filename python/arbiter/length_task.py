"""How far the answer-length prediction misses, per task: the correction a latency quantile reads.

`output_length.OutputLength` predicts log(1 + completion tokens) from the prompt's text
statistics, which say little about what kind of answer is asked for: on bench/latency_slo.py's
workload its mean log error per task ran from -0.98 (translations: ~15 tokens predicted as ~40)
to +0.40 (chat), with a within-task spread of 0.2-0.48 against the 0.5-0.6 it assumes. The task
(the classifier's, `classify.classify`: a feature every real request carries) fixes most of it.

Per task, the last `WINDOW` answers, each as (x: the log length the regression predicted for
it, the model's offset included; y: the actual log length), give a per-task recalibration
y = center + beta * x + residual:
  * beta: the least-squares slope of y on x within the task, clamped to [0, 1]. Within a task the
    prediction may still say something (beta near 1: keep it) or mostly noise (near 0: the
    task's typical length); measured on the bench, neither end alone was best. x includes the
    model's offset because that offset is not the model's verbosity alone: it also learns which
    tasks the router sends the model (medium, given the long chat answers under a 2.5 s SLO,
    looked verbose), so correcting only the prompt part counted the task twice;
  * center: the residuals' median, not their mean. Answers cut short (a refusal, a one-line
    reply, an error) land far below and would pull a mean down, though no answer gets longer
    for them;
  * an upper spread: twice the mean squared residual above the center (`output_length._Upside`'s
    rule), because a latency quantile only pays for answers longer than expected.
The correction is shrunk towards none and the spread towards the regression's own upper spread,
each worth `PSEUDO` answers, so a task seen a few times moves little. The window keeps it
current as the regression itself learns. Per replica, like the regression it corrects.

Measured before shipping (bench/results/latency_slo.md, 2026-12-05 s5): shifting the prediction
by the residuals' running mean with their full variance made routing dearer (chat's p90 length
grew past what medium meets at 2.5 s, so those went to turbo); median and upper spread alone
(beta = 1) were no better than none, the task's typical length alone (beta = 0) a little better,
the fitted slope best.

The task's own fit (once it has `FIT_MIN` answers). Within a task, answers still differ with
the prompt: one family of math word problems (the longest prompts, four quantities) answers in
36-37 tokens where its neighbours answer in 17-30, and a calibrated *per-task* p90 sent those to
a model that missed the SLO for the length actually written (bench/latency_slo.py seed 3: every
attainment miss was that family). The shared regression cannot learn it (the same statistics
mean other lengths in other tasks), and its per-model offset, which the slope above partly
reads, is not the model's verbosity alone. So the window then fits the task's own ridge line
of log length on the prompt's 16 statistics (`RIDGE` per statistic, the constant free) plus a
shift per model that answered in the window (`MODEL_RIDGE`: a model seen a few times within the
task is the task's typical one), and the regression's prediction is no longer read. Measured
on the bench's math (fit on one seed's workload, scored on another's): residual sd 0.23 ->
0.11, the wages family at ~33 tokens instead of ~25; on creative writing 0.5 -> 0.4 (haiku
and story openings apart). The center and the upper spread are read from the fit's
leave-one-out residuals (what a new prompt's error will look like, not the in-sample fit's
smaller ones), and the fit is kept only where their squares beat the plain correction's;
answers cut short (`CUT_BELOW` under the median) are left out of the fit, as the median leaves
them out of the center. Refitted every `_REFIT_EVERY` answers of the task (~0.1 ms), when a
latency quantile reads it.

Kinds of request (`Correction.near`, `latency.length_near_prompts`; off by default). Within a
task the answer's length is mostly set by the kind of request (bench/latency_slo.py: a math
template answered in 31 or 36 tokens where its neighbours take 17-30; a code task per function),
which the 16 statistics draw only in part. Prompts of one kind share their words, so with
N > 0 a prompt's correction and upper spread come from the task's N answered prompts nearest
to it by the cosine of their hashed words (`difficulty.prompt_stats_and_shape`: the 48
slots of the same `_native.prompt_features` pass as the statistics, which routing used to
drop), shrunk to the task's, worth NEAR_PSEUDO answers. Never the workload's own label:
only what the sidecar sees.
Measured (bench/results/latency_slo.md, s17/slo20): on 23 dev seeds of the replay it cut mean
cost vs the oracle and lowered the worst seed's SLO attainment, so it ships off.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from arbiter.difficulty import FEATURE_DIM, N_STATS

N_SHAPE = FEATURE_DIM - N_STATS  # the prompt's hashed words (`difficulty.prompt_stats_and_shape`)
N_ROW = N_STATS + N_SHAPE  # a prompt as the window keeps it: statistics, then shape

WINDOW = 200  # residuals kept per task
PSEUDO = 5.0  # the prior's worth, in answers, for the center and the spread
_MAX_TASKS = 64  # tasks are the classifier's few; a bound all the same
_MAX_MODELS = 256  # models told apart per task window (more: the task's typical model)
FIT_MIN = 40  # answers before a task's own fit (early on its leave-one-out spread is wide)
RIDGE = 0.01  # per statistic (they are ~0-1); the constant is not penalized
MODEL_RIDGE = 3.0  # a model's shift within the task: worth ~3 answers at the task's level
NEAR_PSEUDO = 2.0  # the task's center and spread's worth, in answers, against the nearest
CUT_BELOW = 1.0  # an answer this far below the median (log: ~1/3 the length) was cut short
_REFIT_EVERY = 8  # answers between refits of a task's regression (it moves slowly)
# `TaskResiduals.prior_var` (latency.length_task_prior_pool): a task's own upper spread counts
# in the others' median once it has this many answers; the median is recomputed every
# POOL_REFRESH answers of any task
POOL_MIN, POOL_REFRESH = 20, 16
# a task's window is written to the store (store/length_fits.py, part `task:<name>`) at most
# this often: ~19 KB a task (70 KB with shapes), and a restart losing the last minute's answers
# of a window of 200 moves its correction little
TASK_WRITE_S = 60.0


@dataclass(frozen=True, slots=True)
class Correction:
    """A task's recalibration of the predicted log length (less the model's offset)."""

    beta: float
    center: float
    n: float
    upside_sum: float  # sum of squared residuals above the center, over the window
    # once fitted: the task's own line of log length on the prompt statistics (then `x` is
    # not read) and each model's shift from it (None: not fitted, the task is young)
    weights: np.ndarray | None = None
    shifts: Mapping[str, float] | None = None
    # the window's prompts that carry a shape (unit rows, N_SHAPE wide) and their residuals
    # less the center, for `near` (None: no shapes)
    shapes: np.ndarray | None = None
    misses: np.ndarray | None = None
    near_k: int = 0  # how many nearest prompts `near` reads (0: none, off)
    _memo: dict[bytes, tuple[int, float, float]] = field(default_factory=dict, compare=False)

    def log_length(
        self, x: float, stats: np.ndarray | None = None, model: str | None = None
    ) -> float:
        """The corrected prediction for a predicted log length `x` (of a prompt with these
        statistics, from `model`), shrunk towards `x`."""
        if self.weights is not None and stats is not None:
            shift = self.shifts.get(model, 0.0) if self.shifts and model is not None else 0.0
            fixed = self.center + float(self.weights @ stats) + shift
        else:
            fixed = self.center + self.beta * x
        return (self.n * fixed + PSEUDO * x) / (self.n + PSEUDO)

    def upside_var(self, prior_var: float) -> float:
        """Twice the mean squared residual above the center, shrunk to `prior_var`."""
        return (2.0 * self.upside_sum + PSEUDO * prior_var) / (self.n + PSEUDO)

    def near(self, shape: bytes, task_var: float) -> tuple[float, float]:
        """This prompt's own miss: (a shift of the log length, its upper variance) from the
        `near_k` answered prompts whose shape (`difficulty.prompt_stats_and_shape`) is closest by
        cosine, shrunk to the task's (0, `task_var`), which is worth NEAR_PSEUDO answers.
        (0, task_var) without shapes, or when off (near_k 0).

        Why: within a task the answer's length is set by the kind of request, and prompts of
        one kind share their words; the task's one spread is its widest kind's."""
        if self.shapes is None or self.misses is None or self.near_k <= 0:
            return 0.0, task_var
        hit = self._memo.get(shape)  # a decision asks once per model for one prompt
        if hit is None:
            sim = self.shapes @ np.frombuffer(shape, dtype="<f4")
            k = min(self.near_k, len(sim))
            r = self.misses[np.argpartition(-sim, k - 1)[:k]]
            c = float(np.median(r)) if len(r) else 0.0
            above = r[r > c] - c
            hit = (len(r), c, float(above @ above))
            self._memo.clear()
            self._memo[shape] = hit
        k, c, upside = hit
        if not k:
            return 0.0, task_var
        w = k / (k + NEAR_PSEUDO)
        return w * c, w * 2.0 * upside / k + (1.0 - w) * task_var


class TaskResiduals:
    """Per task: the window of (prediction, actual, prompt statistics, model) and its
    correction, computed when a latency quantile next asks for it (~15 us; the task's own fit
    ~0.1-0.3 ms, every `_REFIT_EVERY` answers), not on every answer: requests without an SLO
    never read it, so recording an answer only writes into the window."""

    def __init__(self, near: int = 0, pool: bool = False) -> None:
        self.near = near  # Correction.near_k
        self._windows: dict[str, _Window] = {}
        self._corrections: dict[str, Correction | None] = {}  # None: to be recomputed
        # prior_var: the other tasks' own upper spreads (per task), and the answers seen when
        # they were read (-1: never)
        self.pool = pool
        self._spreads: dict[str, float] = {}
        self._added = 0
        self._spreads_at = -1
        self._changed: dict[str, None] = {}  # tasks observed since their last write (states)
        self._written: dict[str, float] = {}  # task -> when its window was last taken to write

    def observe(
        self,
        task: str,
        predicted: float,
        actual: float,
        stats: np.ndarray | None = None,
        model: str | None = None,
    ) -> None:
        """One answer of `task`: `predicted` the log length the router had for it (before the
        regression learned from it), `actual` the answer's, `stats` its prompt's statistics
        then its shape (`output_length.task_row`, N_ROW wide), `model` the model that wrote
        it."""
        window = self._windows.get(task)
        if window is None:
            if len(self._windows) >= _MAX_TASKS:
                return
            window = self._windows[task] = _Window()
        window.add(predicted, actual, stats, model)
        self._changed[task] = None
        self._added += 1
        if window.n < FIT_MIN or window.added % _REFIT_EVERY == 0:
            self._corrections[task] = None

    def prior_var(self, task: str | None, fallback: float) -> float:
        """What a task's upper spread is shrunk toward (`Correction.upside_var`'s prior, worth
        PSEUDO answers): with `pool`, the median of the other tasks' own upper spreads (those
        with POOL_MIN answers; two at least), else `fallback` (the regression's upper spread).

        Why: the regression's residuals mix every task's level (its log error per task ran
        from -0.98 to +0.40), so their upper spread (0.55-0.63 in log variance on
        bench/latency_slo.py) is the tasks' distance from each other, not how one task's
        answers spread (0.04-0.23); worth 5 answers, it held a young task's p90 length ~40%
        long for its first ~30 answers (chat under 2.5 s went to turbo, medium read too slow:
        bench/results/latency_slo.md, twentieth session)."""
        if not self.pool:
            return fallback
        if self._spreads_at < 0 or self._added - self._spreads_at >= POOL_REFRESH:
            spreads = {}
            for name, window in self._windows.items():
                if window.n >= POOL_MIN:
                    fix = self.correction(name)
                    if fix is not None and fix.n > 0:
                        spreads[name] = 2.0 * fix.upside_sum / fix.n
            self._spreads, self._spreads_at = spreads, self._added
        others = [v for name, v in self._spreads.items() if name != task]
        return float(np.median(others)) if len(others) >= 2 else fallback

    def states(self, now: float, every_s: float = TASK_WRITE_S) -> list[tuple[str, dict[str, Any]]]:
        """(task, its window as a document) of the tasks observed since their last write and
        not written within `every_s` (all the changed ones: `every_s` 0): shared like the
        regressions, so a restart, or another replica, corrects as this one learnt to."""
        out = []
        for task in list(self._changed):
            if now - self._written.get(task, -1e18) < every_s:
                continue
            window = self._windows.get(task)
            self._changed.pop(task, None)
            if window is not None:
                self._written[task] = now
                out.append((task, window.to_json()))
        return out

    def unsent(self, tasks: list[str]) -> None:
        """Tasks `states` gave whose write failed: given again at the next sync."""
        for task in tasks:
            self._changed[task] = None
            self._written.pop(task, None)

    def seed(self, docs: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Windows an earlier process (or another replica) wrote, by task; returns the tasks
        refused (malformed), left as they are."""
        refused = []
        for task, doc in sorted(docs.items()):
            try:
                window = _Window.from_json(doc)
            except (ValueError, TypeError, KeyError):
                refused.append(task)
                continue
            if task not in self._windows and len(self._windows) >= _MAX_TASKS:
                continue
            self._windows[task] = window
            self._corrections[task] = None
        self._spreads_at = -1
        return refused

    def correction(self, task: str | None) -> Correction | None:
        """The task's correction; None for a task without answers yet (or no task)."""
        if task is None or task not in self._windows:
            return None
        fix = self._corrections.get(task)
        if fix is None:
            fix = self._corrections[task] = self._windows[task].correction(self.near)
        return fix


class _Window:
    """The last WINDOW (x, y, prompt statistics, model) in a ring (row 0: x, row 1: y, then the
    16 statistics; a row without statistics has them all 0, and is left out of the fit). Models
    are kept as codes into `names` (-1: none, or past _MAX_MODELS)."""

    __slots__ = ("added", "codes", "n", "names", "next", "rows")

    def __init__(self) -> None:
        self.rows = np.zeros((2 + N_ROW, WINDOW))
        self.codes = np.full(WINDOW, -1, dtype=np.int64)
        self.names: dict[str, int] = {}
        self.n = 0
        self.next = 0
        self.added = 0

    def add(
        self, x: float, y: float, stats: np.ndarray | None = None, model: str | None = None
    ) -> None:
        col = self.rows[:, self.next]
        col[0], col[1] = x, y
        col[2:] = 0.0 if stats is None else stats  # (a row without shape: zeros there)
        code = -1
        if model is not None:
            code = self.names.get(model, -1)
            if code < 0 and len(self.names) < _MAX_MODELS:
                code = self.names[model] = len(self.names)
        self.codes[self.next] = code
        self.next = (self.next + 1) % WINDOW
        self.n = min(self.n + 1, WINDOW)
        self.added += 1

    def to_json(self) -> dict[str, Any]:
        """The window's filled columns (float64, base64; the shape rows only when any is set),
        its ring position and its models' codes."""
        n = self.n
        shaped = bool(np.any(self.rows[2 + N_STATS :, :n]))
        rows = self.rows[:, :n] if shaped else self.rows[: 2 + N_STATS, :n]
        return {
            "n": n, "next": self.next, "added": self.added, "shaped": shaped,
            "rows": base64.b64encode(np.ascontiguousarray(rows, dtype="<f8").tobytes()).decode(),
            "codes": self.codes[:n].tolist(), "names": dict(self.names),
        }  # fmt: skip

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> _Window:
        n, nxt, added = int(doc["n"]), int(doc["next"]), int(doc["added"])
        if not (0 < n <= WINDOW and 0 <= nxt < WINDOW and added >= n):
            raise ValueError("window position out of range")
        height = 2 + N_ROW if doc["shaped"] is True else 2 + N_STATS
        rows = np.frombuffer(base64.b64decode(doc["rows"], validate=True), dtype="<f8")
        if rows.size != height * n or not np.all(np.isfinite(rows)):
            raise ValueError("window rows malformed")
        codes = [int(c) for c in doc["codes"]]
        names = {str(k): int(v) for k, v in dict(doc["names"]).items()}
        if len(codes) != n or len(names) > _MAX_MODELS:
            raise ValueError("window models malformed")
        if any(not -1 <= c < len(names) for c in codes) or sorted(names.values()) != list(
            range(len(names))
        ):
            raise ValueError("window model codes malformed")
        window = cls()
        window.rows[:height, :n] = rows.reshape(height, n)
        window.codes[:n] = codes
        window.names, window.n, window.next, window.added = names, n, nxt, added
        return window

    def correction(self, near: int = 0) -> Correction:
        x, y = self.rows[0, : self.n], self.rows[1, : self.n]
        dx = x - x.mean()
        vx = float(dx @ dx)
        beta = 0.0
        if vx > 1e-9 * self.n:
            beta = min(max(float(dx @ y) / vx, 0.0), 1.0)
        resid = y - beta * x
        stats = self.rows[2:, : self.n]
        have = stats[N_STATS - 1] > 0  # (the constant statistic is 1 in every real row)
        if int(have.sum()) >= FIT_MIN:
            fitted = _fit_task(stats, y, self.codes[: self.n], have, resid)
            if fitted is not None:
                weights, by_code, loo = fitted
                shifts = {m: by_code[c] for m, c in self.names.items() if c in by_code}
                center = float(np.median(loo))
                above = loo[loo > center] - center
                return Correction(0.0, center, float(self.n), float(above @ above), weights,
                                  shifts, *_shaped(stats, loo - center, near), near)  # fmt: skip
        center = float(np.median(resid))
        above = resid[resid > center] - center
        return Correction(beta, center, float(self.n), float(above @ above), None, None,
                          *_shaped(stats, resid - center, near), near)  # fmt: skip


def _shaped(
    rows: np.ndarray, misses: np.ndarray, near: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The rows that carry a shape (transposed: one prompt per row, float32) and their misses;
    (None, None) when `near` is off."""
    if near <= 0:
        return None, None
    shapes = rows[N_STATS:N_ROW]
    has = np.abs(shapes).sum(axis=0) > 0
    if not has.any():
        return None, None
    return np.ascontiguousarray(shapes[:, has].T, dtype=np.float32), misses[has]


def _fit_task(
    stats: np.ndarray,
    y: np.ndarray,
    codes: np.ndarray,
    have: np.ndarray,
    plain: np.ndarray,
) -> tuple[np.ndarray, dict[int, float], np.ndarray] | None:
    """The task's own ridge line of log length on the prompt statistics plus a shift per model
    code (rows with statistics; answers cut short left out of the fit), and every row's
    leave-one-out residual under it (a row without statistics: its `plain` residual). None when
    it predicts a new prompt no better than `plain` (the slope-on-prediction residual) or the
    system is singular."""
    codes = codes[have]
    present = np.unique(codes[codes >= 0])
    rows = int(have.sum())
    a = np.zeros((rows, N_STATS + len(present)))
    a[:, :N_STATS] = stats[:N_STATS, have].T
    named = codes >= 0
    a[np.flatnonzero(named), N_STATS + np.searchsorted(present, codes[named])] = 1.0
    r = y[have]
    penalty = np.full(a.shape[1], MODEL_RIDGE)
    penalty[:N_STATS] = RIDGE
    penalty[N_STATS - 1] = 1e-6  # the constant: the task's own level, free
    keep = r > np.median(r) - CUT_BELOW  # answers cut short, left out of the fit
    ak, rk = a[keep], r[keep]
    try:
        inv = np.linalg.inv(ak.T @ ak + np.diag(penalty))
    except np.linalg.LinAlgError:
        return None
    w = inv @ (ak.T @ rk)
    hat = ((a @ inv) * a).sum(axis=1)  # each row's leverage (those left out: as if new)
    loo = (r - a @ w) / np.maximum(1.0 - np.where(keep, hat, 0.0), 0.05)
    # kept only where it predicts a new prompt better than the plain correction does: on a task
    # whose lengths the statistics do not explain, their weights fitted on a few dozen answers
    # only add noise
    base = plain[have][keep]
    base = base - np.median(base)
    n = len(rk)
    if float(loo[keep] @ loo[keep]) >= float(base @ base) * n / max(n - 2, 1):
        return None
    out = plain.copy()
    out[have] = loo
    shifts = {int(c): float(w[N_STATS + i]) for i, c in enumerate(present)}
    return w[:N_STATS].copy(), shifts, out
