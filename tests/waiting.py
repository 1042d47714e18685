"""Wait for a condition instead of sleeping a fixed time and hoping it holds.

A fixed sleep is a guess at how long background work takes; on a loaded CI machine the guess is
sometimes short and the test fails by chance. These poll the condition itself and give up only
after a generous bound (a broken implementation still fails, just later).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# generous: it only runs out when the condition never holds (a real failure)
PATIENCE_S = 30.0


def until(check: Callable[[], object], what: str, timeout_s: float = PATIENCE_S) -> None:
    """Return once ``check()`` is truthy; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout_s} s: {what}")
        time.sleep(0.01)


async def until_async(
    check: Callable[[], object | Awaitable[object]], what: str, timeout_s: float = PATIENCE_S
) -> None:
    """``until`` on an event loop: ``check`` may be a coroutine function; the loop keeps running
    (background tasks finish) while it waits."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if isinstance(got, Awaitable):
            got = await got
        if got:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout_s} s: {what}")
        await asyncio.sleep(0.01)
