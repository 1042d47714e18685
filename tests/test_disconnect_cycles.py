"""CancelOnDisconnect leaves no reference cycle behind.

Its watcher task, cancelled when the block ends, keeps its CancelledError; the error's traceback
holds the watcher's frame and so the CancelOnDisconnect: had that still referenced the watcher,
every request would leave a cycle for the garbage collector, and under load those cycles reach
the oldest generation, whose collections stalled the event loop for 10-80 ms
(bench/results/scale.md, "Tail under load", fourth session).
"""

from __future__ import annotations

import asyncio
import gc

from starlette.types import Message

from arbiter.disconnect import CancelOnDisconnect
from arbiter.errors import ClientDisconnected

BLOCKS = 200


async def _never_leaves() -> Message:
    await asyncio.Event().wait()
    return {"type": "http.disconnect"}


async def _blocks(n: int) -> None:
    for _ in range(n):
        with CancelOnDisconnect(_never_leaves):
            await asyncio.sleep(0)
    for _ in range(3):  # the watchers' cancellations run
        await asyncio.sleep(0)


def _cyclic_garbage_of(n: int) -> int:
    async def main() -> int:
        gc.collect()
        gc.disable()
        try:
            await _blocks(n)
            return gc.collect()  # objects found unreachable: garbage that refcounts kept alive
        finally:
            gc.enable()

    return asyncio.run(main())


def test_finished_blocks_leave_no_cyclic_garbage() -> None:
    baseline = _cyclic_garbage_of(0)
    # before the fix: ~20 objects per block (task, error, traceback, frames, the block)
    assert _cyclic_garbage_of(BLOCKS) - baseline < BLOCKS


def test_a_disconnect_still_cancels_the_block() -> None:
    async def main() -> None:
        left = asyncio.Event()

        async def receive() -> Message:
            await left.wait()
            return {"type": "http.disconnect"}

        try:
            with CancelOnDisconnect(receive):
                left.set()
                await asyncio.sleep(10)
        except ClientDisconnected:
            return
        raise AssertionError("the block was not cancelled")

    asyncio.run(asyncio.wait_for(main(), 5))
