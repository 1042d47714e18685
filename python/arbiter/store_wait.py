"""A store call the request path waits on for a bounded time.

A store that refuses or resets a connection fails fast, and a locked row fails after its lock
wait; but a store that goes silent without closing its connections (a frozen server, a network
partition that drops packets rather than refusing them) raises nothing: a statement sent on a
pooled connection waits for as long as the silence lasts (until TCP gives up: minutes). The
fallbacks for an unreachable store (the budget's outage allowance, auth's cached keys) only
apply once a call has failed, so without a bound every request in flight waited out the
silence. The call itself goes on in its worker thread (a thread cannot be cancelled); the
caller decides what its late outcome means.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

from arbiter import shared_timeouts
from arbiter.store import StoreError

_T = TypeVar("_T")

# Longer than the store's own lock wait (store/_hooks.BUDGET_LOCK_WAIT_MS, 2 s), whose error comes
# first when a row is only locked; far shorter than a client's patience.
STORE_WAIT_S = 3.0


async def within_wait(work: asyncio.Future[_T], what: str) -> _T:
    """`work`'s result, or a StoreError once it has taken STORE_WAIT_S (`work` is not
    cancelled: it runs on, and the caller reconciles its outcome)."""
    try:
        # (the request path's timeouts share one loop timer: shared_timeouts.py)
        async with shared_timeouts.timeout(STORE_WAIT_S):
            return await asyncio.shield(work)
    except TimeoutError:
        raise StoreError(
            f"the {what} had no answer from the store within {STORE_WAIT_S:g}s"
        ) from None
