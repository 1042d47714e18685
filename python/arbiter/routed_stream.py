"""A routed request answered as a stream: failover until an upstream produced its first
content, the headers it leaves with (the reservation named as such, never as the cost), the
relay through its codec, and its end: the upstream closed, the decision recorded, a complete
answer graded and remembered by the cache (split from pipeline.py)."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import TYPE_CHECKING

import anyio

from arbiter import failover_said, loop_lag, short_choices
from arbiter.answer_handoff import after_answer
from arbiter.cache import answer as cached
from arbiter.cache.live_answer import LeaderRelay, LiveAnswer, LiveEnd
from arbiter.cache_path import remember_answer
from arbiter.call_pricing import pinned, shown_limits
from arbiter.canonical import CanonicalUsage
from arbiter.cut_stream_cost import BILLS_AFTER_DISCONNECT, cut_by_us, cut_call_cost, relayed_texts
from arbiter.decision_record import record_decision
from arbiter.errors import ArbiterError, ClientDisconnected, UpstreamError
from arbiter.failover import run_with_failover
from arbiter.protocols.openai_response import stop_reason_in
from arbiter.records import Attempt
from arbiter.relay import Relay, _StreamOutcome, broken_after_opening
from arbiter.relay_codec import OpenAIPassThrough, relay_codec
from arbiter.request_plan import Plan, Streamed
from arbiter.response_headers import headers_for
from arbiter.types import ChatRequest
from arbiter.upstream.base import UpstreamStream
from arbiter.upstream_body import dropped_fields, wants_strict_schema
from arbiter.upstream_call import call_upstream
from arbiter.worst_case import CallWorst

if TYPE_CHECKING:
    from arbiter.services import Services


async def stream(s: Services, req: ChatRequest, plan: Plan) -> Streamed:
    """Fail over until an upstream produced its first content, then relay it as it comes.

    The caller should `await streamed.aclose()` when the response ends, however it ends."""
    attempts: list[Attempt] = []
    # failover bounds the opening by the request's deadline; the stream keeps to it too
    limit = plan.deadline_s(s.settings.failover.deadline_s)
    deadline = time.monotonic() + limit
    try:
        model, upstream = await run_with_failover(
            plan.models,
            lambda m: call_upstream(
                s,
                req,
                plan,
                m,
                functools.partial(s.upstream_for(m).open_stream, deadline=deadline),
            ),
            settings=s.settings.failover,
            breaker=s.breaker,
            attempts=attempts,
            deadline_s=limit,
            can_finish=plan.can_finish(deadline),
        )
    except ArbiterError as err:
        await record_decision(s, req, plan, plan.models[0], None, attempts, err, "", stream=True)
        raise
    except asyncio.CancelledError:  # the client left before the first content
        gone = ClientDisconnected("the client disconnected before the stream began")
        with anyio.CancelScope(shield=True):
            await record_decision(
                s, req, plan, plan.models[0], None, attempts, gone, "", stream=True
            )
        raise
    failover_said.note(plan, attempts)
    reserved = _stream_worst(s, req, plan, model)
    headers = headers_for(
        plan, model, reserved, 0.0, getattr(upstream, "upstream_headers", None),
        dropped_fields(req, s.protocol_of(model)), req.protocol,
    )  # fmt: skip
    # the headers leave before the stream ends, so before its cost is known: the worst case
    # is named as what it is (the reservation), never as the cost; the real cost is in the
    # decision record (and the decision feed) once the stream ends. So is the baseline's:
    # it depends on the answer's length, unknown here, and no header claims it
    headers["x-arbiter-cost-usd-reserved"] = headers.pop("x-arbiter-cost-usd")
    del headers["x-arbiter-baseline-cost-usd"]
    headers["x-arbiter-cost-final"] = "false"
    finish = functools.partial(_finish_stream, s, req, plan, model, upstream, attempts)
    # a translated stream names the model as its upstream does (ChatResult.shown_model)
    m = pinned(s, plan, model)
    shown = m.upstream_model or m.name
    codec = (
        req.stream_codec(
            s.protocol_of(model), model, plan.decision_id, int(time.time()), shown,
            shown_limits(m, req),
        )
        if req.stream_codec is not None
        else relay_codec(
            s.protocol_of(model), req.protocol, model,
            include_usage=req.include_usage, created=int(time.time()),
            stops=req.canonical.stop if req.canonical is not None else (),
            fallback_id=plan.decision_id, prompt_tokens=_prompt_count(s, req, plan, model),
            limits=shown_limits(m, req), shown_model=shown,
            json_only=wants_strict_schema(req), asked_choices=short_choices.wanted(req),
        )
    )  # fmt: skip
    # a deadline shorter than failover's is the caller's (failover.py reads it the same)
    callers = deadline if limit < s.settings.failover.deadline_s else None
    key_id = plan.principal.key_id
    key = (s.key_streams, key_id) if key_id and not plan.principal.is_admin else None
    look = plan.cache
    if look is not None and look.keys is not None and look.flight is not None:
        live = LiveAnswer(
            codec, look.keys.exact, model, shown, plan.decision_id, plan.task,
            _prompt_count(s, req, plan, model),
        )  # fmt: skip
        if s.cache.open_live(look, live):
            # identical streams join it as it comes; it goes on while one listens (its key
            # watched by the leader's side: a revocation cuts the leader's client, not theirs)
            relay = Relay(s.breaker, model, upstream, codec, finish, callers, s.stopping)
            return Streamed(LeaderRelay(relay, live, s.stopping, key), headers, deadline)
    relay = Relay(s.breaker, model, upstream, codec, finish, callers, s.stopping, key)
    return Streamed(relay, headers, deadline)


def _prompt_count(s: Services, req: ChatRequest, plan: Plan, model: str) -> int:
    """The prompt's tokens as the sidecar counts them, for a translated stream's
    message_start (an OpenAI upstream tells its own count only at the end), and for the
    usage a client reads when its upstream's is missing or no count (relay_codec: an OpenAI
    upstream's relayed, an Anthropic one's message_start without `input_tokens`, relayed or
    translated): the budget's tokenizer count when caps made one, else routing's estimate
    (nothing tokenized on the loop for it); images by the model's rule."""
    rule = pinned(s, plan, model).image_rule
    if plan.counted_prompt is None:
        return req.prompt_tokens_on(rule)
    return plan.counted_prompt + (rule.total(req.images) if req.images else 0)


def _stream_worst(s: Services, req: ChatRequest, plan: Plan, model: str) -> float:
    """A stream's worst case, for its headers: what the budget reserved for the call when
    caps hold it (the prompt already counted), else the estimate at the output limit (no
    tokenizing on the loop for a header)."""
    if plan.charge is not None and plan.charge.caps:
        return plan.charge.call_worst(model)
    m = pinned(s, plan, model)
    return m.cost_usd(req.prompt_tokens_on(m.image_rule), req.max_tokens or m.max_output_tokens)


async def _finish_stream(
    s: Services,
    req: ChatRequest,
    plan: Plan,
    model: str,
    upstream: UpstreamStream,
    attempts: list[Attempt],
    outcome: _StreamOutcome,
) -> None:
    """Close the upstream, record the decision, and grade a complete answer (once); the
    streams that joined it (live_follow.py) are told how it ended once it is recorded."""
    if outcome.finished:
        return
    outcome.finished = True
    flight = plan.cache.flight if plan.cache is not None else None
    live = flight.live if flight is not None else None
    try:
        await upstream.aclose()
        # the socket closes on the loop's next turn: let it, before any work here (the first
        # request's tokenizer load held the close back 230 ms while the upstream generated)
        await asyncio.sleep(0)
        closed = time.perf_counter()
        content = "".join(outcome.codec.parts)
        failure = outcome.failure
        if isinstance(failure, UpstreamError):
            broken_after_opening(attempts, model, outcome.elapsed_ms(), failure)
        cut = None  # a call we cut before its usage came: what it generated, not worst case
        worst = plan.charge.call_worst if plan.charge is not None else None
        if (
            upstream.usage is None
            and cut_by_us(failure)
            and isinstance(worst, CallWorst)
            and BILLS_AFTER_DISCONNECT not in pinned(s, plan, model).capabilities
        ):
            fit = s.latency.estimate(model, plan.tenant)
            cut = await cut_call_cost(worst, model, outcome, upstream, fit, closed)
        # the decode time, unless the loop held its end back too long to tell (loop_lag)
        decode_ms = None
        if failure is None:
            now = time.perf_counter()
            held = loop_lag.late_s(outcome.started, now)
            decode = loop_lag.upstream_s(now - outcome.started, held)
            decode_ms = None if decode is None else decode * 1000
        if failure is None and isinstance(outcome.codec, OpenAIPassThrough):  # said at its end
            short_choices.note(plan, outcome.codec.short)  # fewer than `n`, or more (cut)
        elif failure is None and (n := short_choices.asked(req)) is not None:
            body = outcome.codec.choices_body()
            short_choices.note(plan, short_choices.short(n, len(body["choices"]) if body else 1))
        # a leader's client gone before the answer ended, the call kept for its followers: its
        # decision says how its client saw it (billed the whole call, once; theirs are hits)
        seen = failure if failure is not None or live is None else live.leader_gone
        cost, _ = await record_decision(
            s, req, plan, model, upstream.usage, attempts, seen, content, stream=True,
            opened=True, decode_ms=decode_ms, cut=cut,
            relayed=lambda: relayed_texts(outcome.codec),
        )  # fmt: skip
        if live is not None:
            live.finish(_live_end(outcome, upstream, cost))
        if failure is None:
            after_answer(
                s, req, plan, model, content, outcome.codec.finish,
                calls=outcome.codec.calls.calls(), choices=outcome.codec.choices_body(),
            )  # fmt: skip
            # an answer cut by the model's context window filling is not kept (cache/answer.py),
            # nor one whose client was shown blocks the canonical answer leaves out
            codec = outcome.codec
            if (
                plan.cache is not None
                and plan.cache.write
                and not codec.window_filled
                and not codec.held_more
            ):
                usage = _canonical_usage(upstream)
                answer = cached.of_stream(
                    content, outcome.codec.finish, usage, plan.decision_id, model,
                    outcome.codec.stop_sequence, calls=bool(outcome.codec.calls.calls()),
                )  # fmt: skip
                remember_answer(s, plan, model, answer, cost)
    finally:  # identical requests waiting on this one: served it, or on as misses (one
        # leading the rest when this client left)
        gone = isinstance(outcome.failure, ClientDisconnected)
        if live is not None:  # not recorded (a store failure): the followers end as failed
            live.finish(LiveEnd(outcome.failure or UpstreamError("the stream was not recorded")))
        s.cache.settle(plan.cache, client_left=gone)


def _canonical_usage(upstream: UpstreamStream) -> CanonicalUsage:
    """The stream's usage as a cached answer holds it: the prompt net of its cache reads and
    writes, beside them (none reported: zeros)."""
    u = upstream.usage
    if u is None:
        return CanonicalUsage()
    return CanonicalUsage(
        max(u.prompt_tokens - u.cache_read_tokens - u.cache_write_tokens, 0),
        u.completion_tokens, u.cache_read_tokens, u.cache_write_tokens,
        cache_creation_1h_input_tokens=u.cache_write_1h_tokens,
    )  # fmt: skip


def _live_end(outcome: _StreamOutcome, upstream: UpstreamStream, cost: float) -> LiveEnd:
    """How a leader's stream ended, for the streams that joined it."""
    if outcome.failure is not None:
        return LiveEnd(outcome.failure)
    usage = _canonical_usage(upstream)
    codec = outcome.codec
    reason = stop_reason_in(codec.finish) or "end_turn"
    if reason == "end_turn" and codec.stop_sequence is not None:
        reason = "stop_sequence"
    return LiveEnd(None, reason, codec.stop_sequence, usage, cost)
