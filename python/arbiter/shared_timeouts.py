"""`asyncio.timeout` for the request path, on one timer per event loop instead of one per timeout.

A routed request sits inside three nested timeouts (the request's deadline in failover.py, the
answer's total timeout and the response head's read timeout in upstream/); each
`asyncio.timeout` starts and cancels a loop timer (uvloop: a libuv timer handle allocated,
started, stopped and closed: ~3 us of the ~7 us each costs) although almost none ever fires
(bench/results/scale.md, fourteenth session). Here every timeout of a loop is an entry in one heap
of deadlines, and one loop timer is armed for the earliest entry that may still be live: entering
a timeout pushes an entry, leaving it marks the entry dead. New deadlines are later than the one
armed while requests are in flight (each is `now + a fixed budget`), so the loop timer is rarely
touched: it fires once per oldest-deadline, drops the dead entries ahead of the first live one and
re-arms for it. Dead entries are dropped in bulk once they outnumber the live ones (bounded memory).

The semantics are asyncio.timeout's (Python 3.11's asyncio/timeouts.py, which this mirrors): on
expiry the task is cancelled, and leaving the block turns that cancellation into TimeoutError
unless another cancellation arrived meanwhile. A deadline fires once the loop's clock reaches it
(within `_EARLY_S`, the loop clock's resolution, as a loop timer does).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import heapq
import itertools
from types import TracebackType
from typing import Any

# a deadline this close is due: uvloop's clock and timers have millisecond resolution, so a timer
# set for a deadline may fire up to this much before it (asyncio.timeout's own timers do too)
_EARLY_S = 0.001


class _Entry:
    """A deadline in the heap; `owner` None once it is dead (left, or fired)."""

    __slots__ = ("owner",)

    def __init__(self, owner: Timeout) -> None:
        self.owner: Timeout | None = owner


class _Wheel:
    """One event loop's deadlines and its one loop timer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, _Entry]] = []
        self._order = itertools.count()  # equal deadlines fire in the order they were set
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        self._dead = 0  # dead entries still in the heap

    def add(self, when: float, owner: Timeout) -> _Entry:
        entry = _Entry(owner)
        heapq.heappush(self._heap, (when, next(self._order), entry))
        if when < self._timer_at:
            self._arm(when)
        return entry

    def drop(self, entry: _Entry) -> None:
        """The timeout was left (or fired): its entry is dead."""
        if entry.owner is None:
            return
        entry.owner = None
        self._dead += 1
        if self._dead > 64 and self._dead * 2 > len(self._heap):
            # the armed timer stays: firing early for a dropped entry only re-arms it
            self._heap = [e for e in self._heap if e[2].owner is not None]
            heapq.heapify(self._heap)
            self._dead = 0

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer, self._timer_at = None, float("inf")
        heap, due = self._heap, self._loop.time() + _EARLY_S
        while heap and (heap[0][2].owner is None or heap[0][0] <= due):
            entry = heapq.heappop(heap)[2]
            owner, entry.owner = entry.owner, None
            if owner is None:
                self._dead -= 1
            else:
                owner._expire()
        if heap:
            self._arm(heap[0][0])


# each loop's wheel is an attribute of the loop: loop -> wheel -> armed timer -> loop is a cycle
# the collector frees with the loop (a registry keyed by loop would keep every loop a process ever
# ran alive through its armed timer: tests run hundreds)
_ATTR = "_arbiter_shared_timeouts"


def _wheel(loop: asyncio.AbstractEventLoop) -> _Wheel:
    wheel: _Wheel | None = getattr(loop, _ATTR, None)
    if wheel is None:
        wheel = _Wheel(loop)
        # a loop that takes no attributes (__slots__) gets a wheel per timeout: a timer each, as
        # asyncio.timeout, still correct
        with contextlib.suppress(AttributeError):
            setattr(loop, _ATTR, wheel)
    return wheel


class _State(enum.Enum):
    CREATED = "created"
    ENTERED = "active"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    EXITED = "finished"


class Timeout:
    """`async with timeout(seconds):` as asyncio.timeout (module text); `None`: never expires."""

    __slots__ = ("_cancelling", "_delay", "_entry", "_state", "_task", "_wheel")

    def __init__(self, delay: float | None) -> None:
        self._delay = delay
        self._state = _State.CREATED
        self._entry: _Entry | None = None
        self._wheel: _Wheel | None = None
        self._task: asyncio.Task[Any] | None = None
        self._cancelling = 0

    def expired(self) -> bool:
        return self._state in (_State.EXPIRING, _State.EXPIRED)

    async def __aenter__(self) -> Timeout:
        if self._state is not _State.CREATED:
            raise RuntimeError("Timeout has already been entered")
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("Timeout should be used inside a task")
        self._state = _State.ENTERED
        self._task = task
        self._cancelling = task.cancelling()
        if self._delay is not None:
            self._wheel = wheel = _wheel(loop)
            self._entry = wheel.add(loop.time() + self._delay, self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if self._entry is not None and self._wheel is not None:
            self._wheel.drop(self._entry)
            self._entry = None
        if self._state is _State.EXPIRING:
            self._state = _State.EXPIRED
            assert self._task is not None
            if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc_val  # no other cancellation came: this one is ours
        elif self._state is _State.ENTERED:
            self._state = _State.EXITED

    def _expire(self) -> None:
        """The deadline passed (called by the wheel, once)."""
        if self._state is not _State.ENTERED or self._task is None:
            return
        self._task.cancel()
        self._state = _State.EXPIRING
        self._entry = None


def timeout(delay: float | None) -> Timeout:
    """An `async with` block cut after `delay` seconds (TimeoutError), as asyncio.timeout."""
    return Timeout(delay)
