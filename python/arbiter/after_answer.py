"""What a request learns, run after its answer has left: nobody waits on it.

A request's latency fits and change detectors, its answer's length, the grading hand-off and its
metrics ran between the upstream's answer and the first byte written to the client: ~18% of a
pass-through request's loop work (bench/results/overhead.profile.md, twentieth session). Each
is now `defer`red: while an HTTP request is being served (`serve`, around the ASGI app), the
steps are kept in the request's batch, in order, and run in the same task one loop step after
its response was sent; the answer's bytes are written at the end of the step that sent them
(step_writes.py), so they are on the wire first. No thread hop, no task per request: the
request's own task goes on one step. Money stays before the answer (the settle, the decision's
hand-off to the recorder or its strict commit): only learning moves.

Never lost: a request cancelled or failed runs its batch at once as it unwinds; a step deferred
when no request is being served (a direct pipeline call, a background task spawned by a request
that has ended) runs at once. A step that raises is logged and counted (`failed`, on /metrics),
never raised into the request, and the steps after it still run. A test through httpx's ASGI
transport sees every step's effect once its response is back (the ASGI call ends after them).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

Step = tuple[Callable[..., object], tuple[Any, ...]]


class _Batch:
    __slots__ = ("open", "steps")

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.open = True  # closed once run: a step deferred later runs at once


_CURRENT: ContextVar[_Batch | None] = ContextVar("arbiter_after_answer", default=None)


class AfterAnswer:
    """One per process (Services.after_answer)."""

    def __init__(self) -> None:
        self.failed = 0  # steps that raised (arbiter_after_answer_errors_total)
        self._running: set[_Batch] = set()  # batches waiting out their step (for `drain`)

    def defer(self, step: Callable[..., object], *args: Any) -> None:
        """Run `step(*args)` after the current request's answer is sent (at once outside one)."""
        batch = _CURRENT.get()
        if batch is not None and batch.open:
            batch.steps.append((step, args))
        else:
            self._run_one(step, args)

    def defer_in_context(self, step: Callable[..., object], *args: Any) -> None:
        """`defer`, the step run in the context of this call (the request's id, its trace's
        span: what the calls and spans it starts carry; a copy is O(1))."""
        self.defer(contextvars.copy_context().run, step, *args)

    async def serve(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request with its batch open; then its steps, one loop step after the
        response's last write (whose flush is queued by then: the loop runs callbacks FIFO)."""
        batch = _Batch()
        token = _CURRENT.set(batch)
        try:
            await app(scope, receive, send)
        except BaseException:
            self._run(batch)  # cancelled or failed: no answer to wait for
            raise
        finally:
            _CURRENT.reset(token)
        if not batch.steps:
            batch.open = False
            return
        self._running.add(batch)
        try:
            await asyncio.sleep(0)  # the bytes written in the step that ended go out first
        finally:
            self._running.discard(batch)
            self._run(batch)  # even when the sleep is cancelled (a shutdown cutting requests)

    def drain(self) -> None:
        """Run every batch still waiting for its step (a shutdown's, before the recorder stops;
        tests). A batch runs once: its own task then finds it closed and empty."""
        for batch in list(self._running):
            self._running.discard(batch)
            self._run(batch)

    def _run(self, batch: _Batch) -> None:
        batch.open = False
        steps, batch.steps = batch.steps, []
        for step, args in steps:
            try:  # inline, not _run_one: a call less per step on every request
                step(*args)
            except Exception:
                self._failed(step)

    def _run_one(self, step: Callable[..., object], args: tuple[Any, ...]) -> None:
        try:
            step(*args)
        except Exception:
            self._failed(step)

    def _failed(self, step: Callable[..., object]) -> None:
        """Logged with its stack (in the `except` that caught it) and counted."""
        self.failed += 1
        log.exception("a step after the answer failed: %s", getattr(step, "__qualname__", step))
