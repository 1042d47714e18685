"""Alert rules: upstream price drift and per-(model, task) grade drops. Emits AlertRecords.

Detection only; persistence goes through the recorder. `ChangeDetector` is the hook where a
statistical change-point test can replace the simple window rule.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from arbiter.records import AlertRecord

Emit = Callable[[AlertRecord], None]


class ChangeDetector(Protocol):
    def observe(self, value: float) -> str | None:
        """Feed one grade; return a message when a drop is detected, else None."""
        ...


@dataclass(slots=True)
class WindowDropDetector:
    """Recent window mean vs the long-run mean before it: alert when it falls by `threshold`."""

    window: int
    threshold: float
    recent: deque[float] = field(default_factory=deque)
    long_sum: float = 0.0
    long_n: int = 0
    armed: bool = True

    def observe(self, value: float) -> str | None:
        self.recent.append(value)
        if len(self.recent) <= self.window:
            return None
        old = self.recent.popleft()
        self.long_sum += old
        self.long_n += 1
        if self.long_n < self.window:
            return None
        long_mean = self.long_sum / self.long_n
        recent_mean = sum(self.recent) / len(self.recent)
        if recent_mean < long_mean - self.threshold:
            if self.armed:
                self.armed = False
                return (
                    f"mean grade of the last {self.window} answers is {recent_mean:.2f}, "
                    f"down from {long_mean:.2f}"
                )
        elif recent_mean >= long_mean - self.threshold / 2:
            self.armed = True  # re-arm once it has recovered
        return None


class AlertRules:
    def __init__(
        self,
        emit: Emit,
        *,
        price_tolerance: float,
        drop_window: int,
        drop_threshold: float,
        detector_factory: Callable[[], ChangeDetector] | None = None,
        repeat_after_s: float = 600.0,
    ) -> None:
        self._emit = emit
        self._tol = price_tolerance
        self._make = detector_factory or (lambda: WindowDropDetector(drop_window, drop_threshold))
        self._detectors: dict[tuple[str, str, str], ChangeDetector] = {}
        self._last_price_alert: dict[str, float] = {}
        self._repeat = repeat_after_s

    def emit(
        self,
        tenant: str,
        kind: str,
        message: str,
        *,
        model: str | None = None,
        task: str | None = None,
        data: dict[str, Any] | None = None,
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
            )
        )

    def check_price(self, tenant: str, model: str, reported: float, expected: float) -> None:
        if expected <= 0 or abs(reported - expected) / expected <= self._tol:
            return
        now = time.monotonic()
        if now - self._last_price_alert.get(model, -1e9) < self._repeat:
            return
        self._last_price_alert[model] = now
        self.emit(
            tenant,
            "price_mismatch",
            f"{model}: upstream reported ${reported:.6f} for a call the registry prices at "
            f"${expected:.6f} ({(reported / expected - 1):+.0%})",
            model=model,
            data={"reported_usd": reported, "registry_usd": expected},
        )

    def observe_grade(self, tenant: str, model: str, task: str, score: float) -> None:
        key = (tenant, model, task)
        det = self._detectors.get(key)
        if det is None:
            det = self._detectors[key] = self._make()
        message = det.observe(score)
        if message:
            self.emit(
                tenant, "quality_drop", f"{model} on {task}: {message}", model=model, task=task
            )
