"""A decision's synchronous commit (`store.durability = "strict"`), waited on for a bounded time.

A store that goes silent without closing its connections raises nothing (store_wait.py): the
strict commit held every answered request for as long as the silence lasted, its answer unsent.
It is now waited on for at most STORE_WAIT_S; then the client gets the same "not recorded,
retry" 503 a failed commit gives. The commit runs on in its thread and may still land: the
decision is upserted by id, so it is written at most once, and its spend was settled once
before the commit (pipeline.py), so the client's retry, a new request with its own decision and
its own upstream calls, is charged only for those. While several such commits are still
unanswered the store is silent: later ones fail at once instead of each holding a worker
thread (the pool the budget and key lookups share) for as long as the silence lasts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from arbiter.recorder import Recorder
from arbiter.records import Record
from arbiter.store import StoreError
from arbiter.store_wait import STORE_WAIT_S, within_wait

log = logging.getLogger(__name__)

# Unanswered commits past their wait that make a new one fail at once: few enough that a silent
# store holds only this many worker threads, more than one so that a store that came back is
# found again by the next commits without waiting for a stuck one to give up (minutes, on TCP).
MAX_UNANSWERED = 4


class StrictCommits:
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._unanswered = 0  # commits past STORE_WAIT_S whose thread has not returned

    @property
    def unanswered(self) -> int:
        return self._unanswered

    async def commit(self, records: Sequence[Record]) -> None:
        """Commit `records` in one transaction; StoreError when the store fails or stays silent
        for STORE_WAIT_S (the commit then goes on in its thread and may still land)."""
        if self._unanswered >= MAX_UNANSWERED:
            raise StoreError(
                f"{self._unanswered} earlier commits have had no answer from the store"
            )
        work = asyncio.ensure_future(asyncio.to_thread(self._recorder.commit_now, records))
        try:
            await within_wait(work, "decision's commit")
        except StoreError:
            if not work.done():
                self._unanswered += 1
                work.add_done_callback(self._answered)
            raise

    def _answered(self, work: asyncio.Future[None]) -> None:
        self._unanswered -= 1
        failed = None if work.cancelled() else work.exception()
        log.warning(
            "strict durability: a commit answered after %gs: %s", STORE_WAIT_S,
            f"failed ({failed})" if failed is not None else "written (the client was told not)",
        )  # fmt: skip
