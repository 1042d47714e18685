"""How regularly something wakes, beside a control: a thread that only sleeps the same period.
A loaded host wakes every sleeper late, so a writer's cadence is judged against the control's
measured over the same stretch (bench/store.py's kill -9 runs, tests/store/test_recorder.py)."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Sequence


class Ticker:
    """A thread that only sleeps `period_s` in a loop, noting when it wakes: the control for
    the writer's cadence. A loaded host wakes every sleeper late; the writer's gaps between
    takes are judged beside this one's, measured over the same load."""

    def __init__(self, period_s: float) -> None:
        self._period = period_s
        self._stop = threading.Event()
        self._woke: list[float] = []
        self._thread = threading.Thread(target=self._run, name="ticker", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self._woke.append(time.monotonic())

    def __enter__(self) -> Ticker:
        self._woke.append(time.monotonic())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def gaps(self) -> list[float]:
        return [b - a for a, b in itertools.pairwise(self._woke)]


def time_median(gaps: Sequence[float]) -> float:
    """The gap the median moment falls in (gaps weighted by their length): a paced drain's
    short gaps between its transactions weigh little beside the long ones between drains."""
    half, run = sum(gaps) / 2, 0.0
    for g in sorted(gaps):
        run += g
        if run >= half:
            return g
    return math.nan
