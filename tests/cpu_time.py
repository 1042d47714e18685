"""Measure the code's own cost, not the machine's load, in tests that bound a cost.

Wall-clock time counts every moment the test's thread waits for a core; on a loaded 2-core CI
machine a preemption lasts milliseconds, longer than the calls timed, and a bound on wall time
fails by chance. The calling thread's CPU time (`time.thread_time`) does not count those waits.
A cyclic collection of the whole test process's heap (hundreds of MB late in the suite) is not
the code's cost either: `collector_off` keeps it out of the window.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_off() -> Iterator[None]:
    """The cyclic GC off for the block (after one collection: the window starts clean)."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
