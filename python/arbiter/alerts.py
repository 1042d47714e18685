"""Alert rules: changes in a model's grades, price and latency (change-point detection, see
changepoint.py), and the alerts other parts raise (circuits, budgets). Emits AlertRecords.

A detected change is also handed to `on_change`, which makes the router act on it (services.py:
quality evidence from before the change is dropped, a new price or latency level is adopted at
once). Persistence goes through the recorder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from arbiter import changepoint
from arbiter.changepoint import Change, GradeDetector, LogLevelDetector
from arbiter.records import AlertRecord

Emit = Callable[[AlertRecord], None]
# One detected change per deployment: every replica (and worker) watches its own calls and
# grades, so a change they all see is detected by each, seconds or calls apart. The store keeps
# the first of a window by model, tenant, task and direction (AlertRecord.once_every_s); each
# replica still acts on its own detection. A second change the same way within the window is
# acted on but not listed again.
CHANGE_ONCE_S = 600.0
# how many (tenant, model, task) grade streams are watched at once: past it the least recently
# graded stream is forgotten (its detector starts again if it comes back)
MAX_STREAMS = 50_000


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    tenant: str
    model: str
    task: str | None  # the task of a quality change; None for price and latency
    change: Change
    since: tuple[int, float] = (0, 0.0)  # quality: (grades, their sum) since the change


class AlertRules:
    def __init__(
        self,
        emit: Emit,
        *,
        false_alarms_per_100k: float = 1.0,
        on_change: Callable[[ChangeEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
        price_factor: Callable[[str], float] = lambda _: 1.0,
    ) -> None:
        self._emit = emit
        self._h = changepoint.threshold_for(false_alarms_per_100k)
        self._false_alarms_per_100k = false_alarms_per_100k
        self._on_change = on_change
        self._clock = clock
        # the ratio a model is priced at now: a new price stream expects it (a factor adopted
        # before a restart, or by another replica, is no change to alert again)
        self._price_factor = price_factor
        # one stream per grade kind: a judge's 0.7s and feedback's 0/1s are different scales,
        # and one answer graded by two kinds must not count as two observations of one stream
        self._grades: dict[tuple[str, str, str, str], GradeDetector] = {}
        self._prices: dict[str, LogLevelDetector] = {}
        self._latency: dict[str, LogLevelDetector] = {}
        self.changes: dict[str, int] = {}  # detections per signal (for /metrics)

    def emit(
        self,
        tenant: str,
        kind: str,
        message: str,
        *,
        model: str | None = None,
        task: str | None = None,
        data: dict[str, Any] | None = None,
        once_every_s: float = 0.0,
        once_by: str = "",
    ) -> None:
        self._emit(
            AlertRecord(
                id="alr_" + os.urandom(10).hex(),
                ts=time.time(),
                tenant=tenant,
                kind=kind,
                message=message,
                model=model,
                task=task,
                data=data or {},
                once_every_s=once_every_s,
                once_by=once_by,
            )
        )

    def observe_grade(
        self, tenant: str, model: str, task: str, score: float, kind: str = "auto"
    ) -> None:
        key = (tenant, model, task, kind)
        det = self._grades.pop(key, None)
        if det is None:
            det = changepoint.grade_detector(self._false_alarms_per_100k)
            if len(self._grades) >= MAX_STREAMS:
                del self._grades[next(iter(self._grades))]  # the least recently graded
        self._grades[key] = det  # (re)inserted last: dict order is recency
        change = det.observe(score, self._clock())
        if change is not None:
            self._changed(tenant, model, task, change, det.since_change, grader=kind)

    def observe_price(self, tenant: str, model: str, reported: float, expected: float) -> None:
        """One priced call: the upstream's reported cost against the registry's price for it
        (before any adopted factor: services passes the configured price)."""
        if expected <= 0 or reported < 0:
            return
        det = self._prices.get(model)
        if det is None:
            expected = self._price_factor(model)
            det = self._prices[model] = changepoint.price_detector(self._h, expected)
        change = det.observe(reported / expected, self._clock())
        if change is not None:
            self._changed(tenant, model, None, change)

    def forget_price(self, model: str) -> None:
        self._prices.pop(model, None)

    def forget_latency(self, model: str) -> None:
        self._latency.pop(model, None)

    def observe_latency(self, tenant: str, model: str, ratio: float) -> None:
        """One answering call's time over what the latency model expected of it."""
        det = self._latency.get(model)
        if det is None:
            det = self._latency[model] = changepoint.latency_detector(self._h)
        change = det.observe(ratio, self._clock())
        if change is not None:
            self._changed(tenant, model, None, change)

    def _changed(
        self,
        tenant: str,
        model: str,
        task: str | None,
        change: Change,
        since: tuple[int, float] = (0, 0.0),
        grader: str | None = None,
    ) -> None:
        signal = change.signal
        self.changes[signal] = self.changes.get(signal, 0) + 1
        where = f" on {task}" if task else ""
        self.emit(
            tenant,
            f"{signal}_change",
            change.describe(model + where),
            model=model,
            task=task,
            data={
                "signal": signal,
                "direction": change.direction,
                "started_at": change.started or None,
                "observations_since_change": change.delay,
                "before": round(change.before, 6),
                "after": round(change.after, 6),
                "magnitude": round(change.magnitude, 6),
                **({"grader": grader} if grader else {}),
                **({"change_key": f"{task}:{change.direction}"} if task else {}),
            },
            once_every_s=CHANGE_ONCE_S,
            # price and latency: by `direction`, which alerts before this version carry too
            once_by="change_key" if task else "direction",
        )
        if self._on_change is not None:
            self._on_change(ChangeEvent(tenant, model, task, change, since))
