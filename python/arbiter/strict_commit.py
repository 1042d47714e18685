"""A decision's synchronous commit (`store.durability = "strict"`), waited on for a bounded time.

A store that goes silent without closing its connections raises nothing (store_wait.py): the
strict commit held every answered request for as long as the silence lasted, its answer unsent.
It is now waited on for at most STORE_WAIT_S; then the client gets the same "not recorded,
retry" 503 a failed commit gives. The commit runs on in its thread and may still land: the
decision is upserted by id, so it is written at most once, and its spend was settled once
before the commit (decision_record.py), so the client's retry, a new request with its own
decision and its own upstream calls, is charged only for those. While several such commits are
still unanswered the store is silent: later ones fail at once instead of each holding a worker
thread (the pool the budget and key lookups share) for as long as the silence lasts.

A commit that fails (the store refused it or dropped the connection: an error, not silence),
one past its wait that fails when it answers, and one never tried because the store is silent
all hand their records to the recorder's backlog: the request was answered, its upstream call
made and its spend settled, so its decision is accepted work and is written when the store comes
back. The client is still told it was not acknowledged (the 503: the recorder's backlog is held
in memory, not durable), and its retry is a new decision. A commit that failed may have landed
anyway (its reply lost): the recorder's write upserts the same record by id and the rollups
count the difference from what is stored, so it is one decision, counted once, either way.
The backlog is memory; with a spool (decision_spool.py) each such decision is also on local
disk, fsynced before the 503, so a hard kill while the store is down does not lose it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence

from arbiter.decision_spool import DecisionSpool
from arbiter.recorder import Recorder
from arbiter.records import DecisionRecord
from arbiter.store import StoreError
from arbiter.store_wait import STORE_WAIT_S, within_wait

log = logging.getLogger(__name__)

# Unanswered commits past their wait that make a new one fail at once: few enough that a silent
# store holds only this many worker threads, more than one so that a store that came back is
# found again by the next commits without waiting for a stuck one to give up (minutes, on TCP).
MAX_UNANSWERED = 4


class StrictCommits:
    def __init__(self, recorder: Recorder, spool: DecisionSpool | None = None) -> None:
        self._recorder = recorder
        self._spool = spool
        self._unanswered = 0  # commits past STORE_WAIT_S whose thread has not returned

    @property
    def unanswered(self) -> int:
        return self._unanswered

    async def commit(self, records: Sequence[DecisionRecord]) -> None:
        """Commit `records` in one transaction; StoreError when the store fails or stays silent
        for STORE_WAIT_S (the commit then goes on in its thread and may still land)."""
        if self._unanswered >= MAX_UNANSWERED:
            # never tried: the recorder writes it when the store is back
            await asyncio.to_thread(self._to_backlog, records)
            raise StoreError(
                f"{self._unanswered} earlier commits have had no answer from the store"
            )
        work = asyncio.ensure_future(asyncio.to_thread(self._recorder.commit_now, records))
        try:
            await within_wait(work, "decision's commit")
        except StoreError:
            if work.done():  # it failed outright: not written (or its reply lost: upserted)
                await asyncio.to_thread(self._to_backlog, records)
            else:  # still out: it may land; queued only if it fails (_answered)
                self._unanswered += 1
                work.add_done_callback(functools.partial(self._answered, records))
            raise

    def _answered(self, records: Sequence[DecisionRecord], work: asyncio.Future[None]) -> None:
        self._unanswered -= 1
        failed = None if work.cancelled() else work.exception()
        log.warning(
            "strict durability: a commit answered after %gs: %s", STORE_WAIT_S,
            f"failed ({failed}); queued for the recorder"
            if failed is not None else "written (the client was told not)",
        )  # fmt: skip
        if work.cancelled() or isinstance(failed, StoreError):
            # a done-callback on the loop: the spool's fsync goes to a thread
            asyncio.get_running_loop().run_in_executor(None, self._to_backlog, records)

    def _to_backlog(self, records: Sequence[DecisionRecord]) -> None:
        """Accepted work the strict commit did not write: the recorder's batches retry it until
        the store takes it (submit never blocks nor raises); spooled first when there is a
        spool (blocking: the fsync; called in a thread)."""
        if self._spool is not None:
            self._spool.append(records, self._recorder.submit)
            return
        for record in records:
            self._recorder.submit(record)
