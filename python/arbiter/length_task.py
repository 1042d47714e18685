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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WINDOW = 200  # residuals kept per task
PSEUDO = 5.0  # the prior's worth, in answers, for the center and the spread
_MAX_TASKS = 64  # tasks are the classifier's few; a bound all the same


@dataclass(frozen=True, slots=True)
class Correction:
    """A task's recalibration of the predicted log length (less the model's offset)."""

    beta: float
    center: float
    n: float
    upside_sum: float  # sum of squared residuals above the center, over the window

    def log_length(self, x: float) -> float:
        """The corrected prediction for a predicted log length `x`, shrunk towards `x`."""
        fixed = self.center + self.beta * x
        return (self.n * fixed + PSEUDO * x) / (self.n + PSEUDO)

    def upside_var(self, prior_var: float) -> float:
        """Twice the mean squared residual above the center, shrunk to `prior_var`."""
        return (2.0 * self.upside_sum + PSEUDO * prior_var) / (self.n + PSEUDO)


class TaskResiduals:
    """Per task: the window of (prediction, actual) log lengths and its correction, computed
    when a latency quantile next asks for it (~15 us), not on every answer: requests without an
    SLO never read it, so recording an answer only writes into the window."""

    def __init__(self) -> None:
        self._windows: dict[str, _Window] = {}
        self._corrections: dict[str, Correction | None] = {}  # None: to be recomputed

    def observe(self, task: str, predicted: float, actual: float) -> None:
        """One answer of `task`: `predicted` the log length the router had for it (before the
        regression learned from it), `actual` the answer's."""
        window = self._windows.get(task)
        if window is None:
            if len(self._windows) >= _MAX_TASKS:
                return
            window = self._windows[task] = _Window()
        window.add(predicted, actual)
        self._corrections[task] = None

    def correction(self, task: str | None) -> Correction | None:
        """The task's correction; None for a task without answers yet (or no task)."""
        if task is None or task not in self._windows:
            return None
        fix = self._corrections.get(task)
        if fix is None:
            fix = self._corrections[task] = self._windows[task].correction()
        return fix


class _Window:
    """The last WINDOW (x, y) pairs in a ring (row 0: x, row 1: y)."""

    __slots__ = ("n", "next", "xy")

    def __init__(self) -> None:
        self.xy = np.zeros((2, WINDOW))
        self.n = 0
        self.next = 0

    def add(self, x: float, y: float) -> None:
        self.xy[0, self.next] = x
        self.xy[1, self.next] = y
        self.next = (self.next + 1) % WINDOW
        self.n = min(self.n + 1, WINDOW)

    def correction(self) -> Correction:
        x, y = self.xy[0, : self.n], self.xy[1, : self.n]
        dx = x - x.mean()
        vx = float(dx @ dx)
        beta = 0.0
        if vx > 1e-9 * self.n:
            beta = min(max(float(dx @ y) / vx, 0.0), 1.0)
        resid = y - beta * x
        center = float(np.median(resid))
        above = resid[resid > center] - center
        return Correction(beta, center, float(self.n), float(above @ above))
