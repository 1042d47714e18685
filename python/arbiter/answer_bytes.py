"""The bytes of large whole answers a process holds at once, bounded
(`server.max_answer_bytes_in_flight`).

A whole (non-stream) answer is held from its read until its bytes have gone to the client, so N
large answers at once took N times their size (six 62 MB embeddings answers: ~370 MB over
the process's own; twenty would take over a gigabyte). An answer over `COUNTED_BYTES` (1 MiB)
takes its size from this budget before its body is read (one without a Content-Length: the
response cap's worth once its read passes 1 MiB, the rest given back at its end), and holds it
until the request's answer has been written (server._guard). Past the budget it **waits**:
the upstream has answered (and bills the call), so an error would throw paid work away, while
waiting leaves the body in the socket, where TCP holds the upstream back. The wait is not cut by
the call's total timeout (the upstream is not the one late), and lasts at most `WAIT_S`: an
upstream cuts a write its reader stalls too long (the test rig's at 30 s: a billed answer lost
as a 502), so past it the answer is read anyway, over the budget (which then bounds bursts, not
every moment). Every holder gives its share back once its client has its answer (a client
that reads nothing is cut at `client_write_timeout_s`). An answer larger than the whole budget
waits until it is free. Answers under 1 MiB (every chat answer) are not counted. With
`server.workers = N` each worker process holds 1/N of the key (`configure`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from arbiter import request_log

COUNTED_BYTES = 1 << 20
DEFAULT_LIMIT = 512 * 1024 * 1024


class AnswerBytes:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.held = 0
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def take(self, n: int, wait_s: float | None = None) -> int:
        """Wait (first come, first served) until `n` bytes (at most the whole budget) fit, or
        `wait_s` has passed: then taken over the budget; what was taken, to be given back."""
        n = min(n, self.limit)
        if not self._waiting and self.held + n <= self.limit:
            self.held += n
            return n
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (n, turn)
        self._waiting.append(entry)
        try:
            await asyncio.wait_for(turn, wait_s)
        except TimeoutError:  # (wait_for returns a turn granted as it timed out)
            self._waiting.remove(entry)
            self._wake()
            self.held += n
            return n
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.give(n)  # granted as it was cancelled: hand it on
            else:
                self._waiting.remove(entry)
                self._wake()
            raise
        return n

    def give(self, n: int) -> None:
        self.held -= n
        self._wake()

    def _wake(self) -> None:
        while self._waiting and self.held + self._waiting[0][0] <= self.limit:
            n, turn = self._waiting.popleft()
            if turn.done():
                continue
            self.held += n
            turn.set_result(None)


BUDGET = AnswerBytes()


def configure(limit: int, workers: int = 1) -> None:
    """This process's bound (Services, from settings.server.max_answer_bytes_in_flight): the
    key bounds the whole `arbiter serve`, so each of `server.workers` processes takes an equal
    share of it (at least COUNTED_BYTES). Not one shared count: the workers share no memory, and
    a count kept across processes would put a cross-process lock on every large answer's read,
    while the kernel spreads connections evenly over the workers, so equal shares bound the
    same total (one worker's burst waits where a shared count would not have made it)."""
    BUDGET.limit = max(COUNTED_BYTES, limit // max(1, workers))
    BUDGET._wake()


# how long an answer waits for room before it is read anyway, over the budget: an upstream
# does not hold a write its reader stalls for ever (the test rig's closes at 30 s), and an
# answer it cuts is lost though billed; a burst of large answers is smoothed, not refused
WAIT_S = 10.0


async def hold(n: int) -> tuple[int, bool]:
    """Take `n` bytes; what was taken, and whether the current request keeps it (given back by
    `release_all` once its answer is written). Outside a request, or after its answer was
    handed to the server (a judge's call then), the caller gives it back itself."""
    took = await BUDGET.take(n, WAIT_S)
    ctx = request_log.CURRENT.get()
    if ctx is not None and ctx.answer_bytes >= 0:
        ctx.answer_bytes += took
        return took, True
    return took, False


def counted(headers: Any, limit: int) -> int:
    """A declared length over COUNTED_BYTES (an uncoded body within `limit`), else 0: what an
    answer takes before its body is read (the common small answer: nothing, no await)."""
    declared = headers.get("content-length")
    if declared is None or len(declared) < 7 or not declared.isdigit():
        return 0  # (under 1,000,000 bytes)
    n = int(declared)
    if not COUNTED_BYTES < n <= limit or headers.get("content-encoding"):
        return 0
    return n


class Lease:
    """One answer's share, taken before its body is read (or once the read passes
    COUNTED_BYTES) and settled after it."""

    __slots__ = ("kept", "took")

    def __init__(self) -> None:
        self.took = 0
        self.kept = False

    async def before_body(self, n: int) -> float:
        """Take `n` bytes (`counted`'s) before the body is read; the seconds waited."""
        started = time.monotonic()
        self.took, self.kept = await hold(n)
        return time.monotonic() - started

    async def past_counted(self, limit: int) -> None:
        """The read passed COUNTED_BYTES with nothing taken (no length declared, or a coded
        body): take the response cap's worth (settle gives back the rest)."""
        if not self.took:
            self.took, self.kept = await hold(limit)

    def settle(self, size: int) -> None:
        """The read ended at `size` bytes (0: failed): keep only that much, and nothing when
        no request keeps it (the caller is done with the bytes when it returns)."""
        keep = size if self.kept else 0
        extra = self.took - keep
        if extra > 0:
            BUDGET.give(extra)
            self.took = keep
            ctx = request_log.CURRENT.get()
            if self.kept and ctx is not None and ctx.answer_bytes >= extra:
                ctx.answer_bytes -= extra


def release_all(ctx: request_log.RequestLog) -> None:
    """Give back what the request held (its answer has been written, or never will be); a
    call it makes after this (a judge's) gives its share back itself."""
    held, ctx.answer_bytes = ctx.answer_bytes, -1
    if held > 0:
        BUDGET.give(held)


class Releasing:
    """An answer of a request that holds answer bytes: written, then they are given back
    (also when the write is cut: a client gone, a cancel)."""

    __slots__ = ("_ctx", "response")

    def __init__(self, response: Any, ctx: request_log.RequestLog) -> None:
        self.response, self._ctx = response, ctx

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.response(scope, receive, send)
        finally:
            release_all(self._ctx)
