"""/v1/completions with `stream: true`: the named model's SSE relayed chunk by chunk, in the
completions chunk shape (`text_completion` objects with `choices[].text`), then `data: [DONE]`.

As for a chat stream: the upstream is always asked for usage (to price the call) and its usage
chunk reaches the client only when it asked (`stream_options.include_usage`); failover and the
circuit breaker act until the first chunk with content (SSEStream.prime), so nothing has reached
the client yet; a stream that breaks after that ends with one OpenAI error event, never with
[DONE]; the decision is recorded and the budget settled before [DONE] goes out, or when the
client leaves (then as `client_disconnected`, priced as a chat stream we cut: the usage seen,
else what the upstream generated until we closed it (cut_stream_cost.py), else, for a model
that bills the whole stream (`bills-after-disconnect`) or a cut not ours, the worst case: the
upstream may bill a call it was never told to stop). The relay loop is chat's (relay.forward):
a decision that cannot be committed under `store.durability = "strict"` ends the stream with the
NOT_RECORDED error event, not [DONE] (this copy of the loop used to lack it); one whose key
is revoked meanwhile ends with the revocation's error event (key_streams.py; it used to run on).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from arbiter import short_choices
from arbiter.cut_stream_cost import (
    BILLS_AFTER_DISCONNECT,
    cut_by_us,
    cut_call_cost,
    relayed_texts,
)
from arbiter.errors import ClientDisconnected, UpstreamError
from arbiter.records import Attempt
from arbiter.relay import _StreamOutcome, broken_after_opening, forward, run_to_end
from arbiter.relay_codec import MAX_CHOICES, OpenAIPassThrough
from arbiter.upstream.usage_counts import prompt_bound
from arbiter.worst_case import CallWorst

if TYPE_CHECKING:
    from arbiter.budget import Charge
    from arbiter.passthrough import Kind, Parsed, PassThrough
    from arbiter.principal import Principal
    from arbiter.upstream.http import SSEStream


@dataclass(slots=True)
class Streaming:
    """The client-facing SSE bytes and headers of one streamed completion. The server must call
    `aclose()` once the response is over: a client that left before the first byte is recorded
    then (a started relay records itself)."""

    events: AsyncIterator[bytes]
    headers: dict[str, str]
    _finish: _Finisher
    _outcome: _StreamOutcome
    _gen: AsyncGenerator[bytes, None] = field(repr=False)

    async def aclose(self) -> None:
        await self._gen.aclose()
        if not self._outcome.finished:
            self._outcome.failure = ClientDisconnected("the client disconnected before the stream")
            await run_to_end(self._finish(self._outcome))


@dataclass(slots=True)
class OpenedCall:
    """A completion whose upstream stream is open: what recording it needs."""

    pt: PassThrough
    kind: Kind
    req: Parsed
    principal: Principal
    decision_id: str
    started: float  # time.perf_counter() at the request's start
    attempts: list[Attempt]
    charge: Charge
    upstream: SSEStream
    opened: float = field(default_factory=time.perf_counter)


class _Finisher:
    """Close the upstream and record the decision (once), whatever ended the stream."""

    def __init__(self, call: OpenedCall) -> None:
        self._call = call

    async def __call__(self, outcome: _StreamOutcome) -> None:
        if outcome.finished:
            return
        outcome.finished = True
        c = self._call
        await c.upstream.aclose()
        await asyncio.sleep(0)  # the socket closes on the loop's next turn (as chat's finisher)
        closed = time.perf_counter()
        failure = outcome.failure
        if isinstance(failure, UpstreamError):
            elapsed = (time.perf_counter() - c.opened) * 1000
            broken_after_opening(c.attempts, c.req.model, elapsed, failure)
        cut = await self._cut_cost(outcome, closed) if c.upstream.usage is None else None
        short = None
        if failure is None and (asked := _asked(c.req)) is not None:  # said at its end
            body = outcome.codec.choices_body()
            short = short_choices.short(asked, len(body["choices"]) if body else 1)
        await c.pt._record(
            c.kind, c.req, c.principal, c.decision_id, c.started, c.attempts, c.upstream.usage,
            failure, committed=c.charge.committed, opened=True, cut=cut,
            relayed=lambda: relayed_texts(outcome.codec), short=short,
        )  # fmt: skip

    async def _cut_cost(self, outcome: _StreamOutcome, closed: float) -> float | None:
        """What a stream we cut at `closed` generated, as a chat stream's (pipeline.py); None
        when it stays at its worst case (a cut not ours, a model that bills the whole stream)."""
        c = self._call
        s = c.pt.s
        model = c.req.model
        if (
            not cut_by_us(outcome.failure)
            or BILLS_AFTER_DISCONNECT in c.req.model_settings(s.registry.__getitem__).capabilities
        ):
            return None
        req = c.req
        worst = CallWorst(
            lambda _: req.model_settings(s.registry.__getitem__), req.body,
            req.output_tokens // max(req.choices, 1), 0, req.prompt_tokens, n=req.choices,
        )  # fmt: skip
        fit = s.latency.estimate(model, c.principal.tenant)
        return await cut_call_cost(worst, model, outcome, c.upstream, fit, closed)


def _asked(req: Parsed) -> int | None:
    """The choices a stream should hold when several (n of each prompt): one short of them
    ends with the chunk that says so (short_choices.py). Past MAX_CHOICES the codec cannot tell
    the choices apart: not counted."""
    asked = req.answered
    return asked if asked is not None and asked <= MAX_CHOICES else None


def streaming(call: OpenedCall) -> Streaming:
    finish = _Finisher(call)
    model = call.req.model
    # chunks as they come, usage or not; one without an id gets the decision's (ids.named); a
    # usage whose counts are none, or one asked for and never sent, gets the prompt's count
    m = call.req.model_settings(call.pt.s.registry.__getitem__)
    limits = (call.req.output_tokens, prompt_bound(m.context_window, call.req.prompt_tokens))
    codec = OpenAIPassThrough(
        model, call.req.include_usage, "cmpl-" + call.decision_id, call.req.prompt_tokens, limits,
        _asked(call.req),
    )  # fmt: skip
    outcome = _StreamOutcome(codec)
    s = call.pt.s
    # its key revoked while it runs (on any replica), it ends as chat's does (key_streams.py)
    key_id = call.principal.key_id
    key = (s.key_streams, key_id) if key_id and not call.principal.is_admin else None
    gen = forward(
        s.breaker, model, call.upstream, codec, outcome, finish, stopping=s.stopping, key=key
    )
    headers = {
        "x-arbiter-model": model,
        "x-arbiter-decision-id": call.decision_id,
        "x-arbiter-task": "completion",
        **call.upstream.upstream_headers,
    }
    return Streaming(gen, headers, finish, outcome, gen)
