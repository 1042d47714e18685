"""Reading a decision by id when another process may still hold it in its write-behind.

Decisions are written behind (`store.flush_interval_ms`): a replica or worker that did not
answer a request cannot flush its sibling's buffer, so a client that grades an answer at once
(`/v1/feedback`) or opens its page through a load balancer reached a process that answered
"No decision with id ..." for an id its sibling had just given out, and the grade was lost.
A miss on an id of another process's shape is read again, a few times, for up to the writer's
interval (bounded); an id of this process (flushed before the read) or of no process's shape
is answered at once."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from arbiter.ids import DecisionIds

# the longest a miss waits for a sibling's write-behind, whatever flush_interval_ms says
MAX_WAIT_S = 3.0
_FIRST_POLL_S = 0.05
# ids that missed after a full wait, answered at once for a minute after
_MISS_MEMORY = 4096
_MISS_MEMORY_S = 60.0


def sibling_wait_s(flush_interval_s: float) -> float:
    """How long a miss on a sibling's id is read again: its writer's interval twice over
    (a batch ticks, then commits) plus a margin for a loaded store, at most MAX_WAIT_S."""
    return min(2 * flush_interval_s + 0.25, MAX_WAIT_S)


class SiblingReads:
    """Reads of decisions by id that wait for a sibling's write-behind. A miss that waited is
    remembered for a while (`_missed`, bounded), so a second read of the same id (the cache's
    feedback, then routing's, look a decision up in turn; a client asking again) answers at once."""

    def __init__(
        self, read: Callable[[str], dict[str, Any] | None], ids: DecisionIds, wait_s: float
    ) -> None:
        self._read = read
        self._ids = ids
        self.wait_s = wait_s
        self._missed: OrderedDict[tuple[str, str | None], float] = OrderedDict()

    async def read(self, decision_id: str, tenant: str | None = None) -> dict[str, Any] | None:
        """The decision (None: none), re-read with growing pauses for up to `wait_s` while
        it is missing and the id is one another process gave out. With `tenant`, another
        tenant's decision is read as missing, waited for alike: answered at once, its 404
        would tell a caller that the id it tried exists (a miss's waited)."""
        row = self._visible(await asyncio.to_thread(self._read, decision_id), tenant)
        if row is not None or not self._ids.of_another_process(decision_id):
            return row
        now = time.monotonic()
        if self._missed.get((decision_id, tenant), -1e9) > now - _MISS_MEMORY_S:
            return None
        deadline = now + self.wait_s
        pause = _FIRST_POLL_S
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(pause, left))
            pause *= 2
            row = self._visible(await asyncio.to_thread(self._read, decision_id), tenant)
            if row is not None:
                return row
        remember_bounded(self._missed, (decision_id, tenant), time.monotonic())
        return None

    @staticmethod
    def _visible(row: dict[str, Any] | None, tenant: str | None) -> dict[str, Any] | None:
        return row if row is None or tenant is None or row["tenant"] == tenant else None


def remember_bounded(memory: OrderedDict[Any, float], key: Any, value: float) -> None:
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > _MISS_MEMORY:
        memory.popitem(last=False)
