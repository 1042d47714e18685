"""A stream on its way to the client: the relay that forwards an upstream's chunks through its
codec, holds the terminal event until the decision is recorded, and enforces the request deadline
(split from pipeline.py). `forward` is the one relay loop: routed streams (Relay) and streamed
pass-through completions (passthrough_stream.py) both run it, so both end with NOT_RECORDED when
the decision cannot be committed under strict durability."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from arbiter.errors import (
    ArbiterError,
    ClientDisconnected,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
)
from arbiter.failover import misconfiguration
from arbiter.key_streams import KeyRevoked, KeyStreams
from arbiter.records import Attempt
from arbiter.relay_codec import RelayCodec
from arbiter.stopping import ServerStopping, Stopping
from arbiter.store import NOT_RECORDED_MESSAGE, StoreError
from arbiter.upstream.base import UpstreamStream

if TYPE_CHECKING:
    from arbiter.failover import CircuitBreaker

log = logging.getLogger(__name__)
T = TypeVar("T")
_Finish = Callable[["_StreamOutcome"], Coroutine[Any, Any, None]]

# Strict durability: a stream whose decision could not be committed ends with this, not [DONE]
NOT_RECORDED = StoreError(NOT_RECORDED_MESSAGE, for_clients=True)


async def run_to_end(work: Coroutine[Any, Any, T]) -> T:
    """Await `work` to its end even when the caller is cancelled (a client leaving must not
    cancel a commit or a budget settle), then pass the cancellation on."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():  # the work itself was cancelled (shutdown), not just this caller
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return result


class DeadlineExceeded(ArbiterError):
    status = 504
    code = "deadline_exceeded"


@dataclass(slots=True)
class _StreamOutcome:
    """What a relay saw; shared by the relay generator and its finisher."""

    codec: RelayCodec  # holds the answer's text and finish reason
    started: float = field(default_factory=time.perf_counter)
    failure: ArbiterError | None = None
    complete: bool = False  # the final event ([DONE] or the error event) was handed out
    finished: bool = False  # recorded
    # when the upstream's last event came, and how many came: a stream we cut is charged what
    # was relayed plus what the upstream generated after it (cut_stream_cost.py)
    last_event: float = 0.0
    events: int = 0

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


class Relay:
    """The client-facing SSE bytes of one streamed answer, in the client's protocol.

    Ends with its terminal event ([DONE], message_stop), or with one terminal error event.
    Cancelled mid-stream, closed with `aclose()` before its end, or dropped unfinished (Python
    finalizes the generator, which holds no reference back to this object), it closes the
    upstream and records `client_disconnected`. Only a relay never iterated needs `aclose()` to
    be recorded: the server should always call it.
    """

    __slots__ = ("_finish", "_gen", "_outcome")

    def __init__(
        self,
        breaker: CircuitBreaker,
        model: str,
        upstream: UpstreamStream,
        codec: RelayCodec,
        finish: _Finish,
        callers_deadline: float | None = None,
        stopping: Stopping | None = None,
        key: tuple[KeyStreams, str] | None = None,
    ) -> None:
        self._outcome = _StreamOutcome(codec)
        self._finish = finish
        self._gen = forward(
            breaker, model, upstream, codec, self._outcome, finish, callers_deadline, stopping,
            key,
        )  # fmt: skip

    def __aiter__(self) -> Relay:
        return self

    async def __anext__(self) -> bytes:
        return await self._gen.__anext__()

    def expire(self) -> None:
        """The request's deadline passed with the response still blocked (a client that does
        not read): the stream is about to be stopped; record it as that, not a disconnect."""
        if not self._outcome.complete and self._outcome.failure is None:
            self._outcome.failure = DeadlineExceeded(
                "The request deadline passed while the client was not reading the stream."
            )

    def fail(self, err: ArbiterError) -> None:
        """The stream is about to be cut for `err` (its leader's key revoked while no follower
        listened: cache/live_answer.py): record it as that, not a disconnect."""
        if not self._outcome.complete and self._outcome.failure is None:
            self._outcome.failure = err

    async def aclose(self) -> None:
        await self._gen.aclose()  # mid-stream: its `finally` records the disconnect
        if not self._outcome.finished:  # never iterated: the client left before the first byte
            self._outcome.failure = ClientDisconnected("the client disconnected before the stream")
            await run_to_end(self._finish(self._outcome))


# a deadline timer may fire a hair early (failover.py does not re-check the clock either)
_EARLY_S = 0.005


def count_failure(
    breaker: CircuitBreaker, model: str, err: UpstreamError, callers_deadline: float | None = None
) -> None:
    """A stream that broke after its first content, told to the circuit as failover tells a
    failed try: the request's own fault (an upstream 4xx, e.g. an invalid_request_error event)
    says nothing against the model, nor does a cut by the caller's own deadline
    (`callers_deadline`: a latency SLO shorter than failover's, which failover exempts before
    the first byte too); a misconfigured model (401/403/404, a redirect) and an outage do."""
    if (
        isinstance(err, UpstreamTimeout)
        and callers_deadline is not None
        and time.monotonic() >= callers_deadline - _EARLY_S
    ):
        return
    if (config := misconfiguration(err)) is not None:
        breaker.misconfigured(model, *config)
    elif not isinstance(err, UpstreamRejected):
        breaker.failure(model)


def broken_after_opening(
    attempts: list[Attempt], model: str, relayed_ms: float, err: UpstreamError
) -> None:
    """The stream's call broke after its first content. Failover recorded that call when it
    opened (its last attempt, ok, latency = time to first content): that one entry becomes
    the call's outcome (failed, the whole call's time, the first content's time kept as
    `ttft_ms`), never a second entry for the same call."""
    status = err.upstream_status
    last = attempts[-1] if attempts else None
    if last is None or last.model != model or not last.ok:
        attempts.append(Attempt(model, False, relayed_ms, err.code, status, billed=True))
        return
    attempts[-1] = Attempt(
        model, False, last.latency_ms + relayed_ms, err.code, status, ttft_ms=last.latency_ms,
        billed=True,  # output came: what the cut stream may have cost is charged
    )  # fmt: skip


async def forward(
    breaker: CircuitBreaker,
    model: str,
    upstream: UpstreamStream,
    codec: RelayCodec,
    outcome: _StreamOutcome,
    finish: _Finish,
    callers_deadline: float | None = None,
    stopping: Stopping | None = None,
    key: tuple[KeyStreams, str] | None = None,
) -> AsyncGenerator[bytes, None]:
    """Forward each upstream event as it arrives, in the client's protocol (`codec`); end
    with its terminal event ([DONE], message_stop) only when the upstream finished properly
    and the decision is recorded, else with one error event in the client's shape.
    Never references the Relay, so dropping an unfinished Relay lets Python finalize this
    generator at once. A stream failed by the upstream opens `breaker` one step for `model`
    (count_failure). Cancelled because the server's graceful shutdown ran out (`stopping`),
    it ends with an error event the client can read, recorded as such; so does one whose
    client key (`key`: the registry and the key's id) is revoked while it runs (key_streams.py)."""
    live = key[0].enter(key[1]) if key is not None else None
    try:
        try:
            async for event in upstream.events():
                outcome.last_event = time.perf_counter()
                outcome.events += 1
                out = codec.feed(event)
                if out:
                    if live is None:
                        yield out  # each event as it comes, never batched
                        continue
                    live.at_yield = True  # the client's side holds the task: not cancelled
                    yield out
                    live.at_yield = False
                    if live.revoked:
                        raise live.error()
            if live is not None:  # the answer is whole: it ends as it is
                live.leave()
                live = None
            if not upstream.done:
                raise UpstreamError(f"{model}: the stream ended before its end event")
            tail = codec.end()
            if codec.finish is None:
                raise UpstreamError(f"{model}: the stream ended without a finish reason")
            if (index := codec.unfinished_choice) is not None:
                raise UpstreamError(
                    f"{model}: the stream ended without choice {index}'s finish reason"
                )
            if tail:
                yield tail
            final = codec.terminal()
        except UpstreamError as err:
            outcome.failure = err
            count_failure(breaker, model, err, callers_deadline)
            final = codec.error(err)
        except KeyRevoked as err:  # between two events (key_streams.py)
            outcome.failure = err
            final = codec.error(err)
        # Record before the terminal event: a client that stops reading at [DONE] (the
        # openai SDK does) must find the decision committed under strict durability.
        try:
            await run_to_end(finish(outcome))
        except Exception as err:  # a commit that failed: the answer is not acknowledged
            log.error("stream from %s: recording its decision failed: %s", model, err,
                      exc_info=not isinstance(err, StoreError),
                      extra={"model": model, "error": str(err)})  # fmt: skip
            final = codec.error(NOT_RECORDED)
        outcome.complete = True
        yield final
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if (
            live is not None and live.cancelled and task is not None and task.cancelling() == 1
            and not outcome.finished and not outcome.complete and outcome.failure is None
        ):  # fmt: skip
            # our own cancel, its key revoked while the upstream was awaited: taken back, and
            # the client told why its stream ends (recorded, billed what was sent)
            task.uncancel()
            outcome.failure = live.error()
            await run_to_end(finish(outcome))
            outcome.complete = True
            yield codec.error(outcome.failure)
            return
        cut_by_stop = stopping is not None and stopping.started and not outcome.finished
        if not cut_by_stop or outcome.complete or outcome.failure is not None:
            if not outcome.complete and outcome.failure is None:  # (None: not expire()d)
                outcome.failure = ClientDisconnected("the client disconnected mid-stream")
            raise
        # uvicorn cancelled the request at the end of server.shutdown_grace_s: the client is
        # still there, so it is told why its stream ends (then the response ends normally)
        if task is not None:
            task.uncancel()
        outcome.failure = ServerStopping(
            "The server is shutting down and this stream ran past its grace period; retry the "
            "request."
        )
        await run_to_end(finish(outcome))
        outcome.complete = True
        yield codec.error(outcome.failure)
    except GeneratorExit:
        if not outcome.complete and outcome.failure is None:
            outcome.failure = ClientDisconnected("the client disconnected mid-stream")
        raise
    finally:
        if live is not None:
            live.leave()
        if not outcome.finished:  # the client left mid-stream: record even while cancelled
            await run_to_end(finish(outcome))
