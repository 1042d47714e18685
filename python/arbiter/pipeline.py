"""One chat request, end to end: classify -> route -> call with failover -> record -> grade later.

Protocol-free: surfaces parse the wire format into a ChatRequest and render what this returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import anyio

from arbiter import (
    prompt_score,
    request_log,
    telemetry,
    whole_answer,
    worst_case,
)
from arbiter.answer_handoff import after_answer
from arbiter.cache import answer as cached
from arbiter.cache_path import remember_answer, serve_hit
from arbiter.call_pricing import pinned
from arbiter.canonical import CanonicalUsage
from arbiter.cut_stream_cost import BILLS_AFTER_DISCONNECT, cut_by_us, cut_call_cost
from arbiter.decision_record import record_decision
from arbiter.disconnect import CancelOnDisconnect
from arbiter.errors import (
    ArbiterError,
    ClientDisconnected,
    UpstreamError,
)
from arbiter.failover import run_with_failover
from arbiter.latency_slo import NO_SLO, LatencySLO
from arbiter.principal import Principal
from arbiter.prompt_score import PromptScore
from arbiter.records import Attempt
from arbiter.relay import Relay, _StreamOutcome, broken_after_opening
from arbiter.relay_codec import relay_codec
from arbiter.request_plan import Completed, Plan, Streamed
from arbiter.response_headers import headers_for
from arbiter.route_plan import plan_request
from arbiter.types import ChatRequest
from arbiter.upstream.base import UpstreamStream
from arbiter.upstream_call import call_upstream
from arbiter.worst_case import CallWorst

if TYPE_CHECKING:
    from arbiter.budget import BoundCap
    from arbiter.cache.service import Lookup
    from arbiter.services import Services

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(self, services: Services) -> None:
        self.s = services

    # -- the whole request --------------------------------------------------------------------
    async def handle(
        self,
        req: ChatRequest,
        principal: Principal,
        watch: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
        slo: LatencySLO = NO_SLO,
    ) -> Completed | Streamed:
        """One request's lifecycle, whatever its surface: budget caps -> plan -> reserve ->
        answer (complete, or open a stream) -> record -> settle. `watch` wraps a whole answer
        or a stream's opening (the server's: cancel it when the client leaves). Any failure
        releases what was reserved and not spent; a stream settles when its relay ends."""
        budgets = self.s.budgets
        caps = budgets.caps_for(principal, budgets.now()) if budgets.enabled else ()
        if caps and req.max_tokens is None:
            # the output cap we reserve for is also the one we enforce (sent to each model under
            # the name it accepts: body_for)
            req.max_tokens = budgets.output_cap
            req.limit_injected = True
        look = None
        if self.s.cache.active:  # after the caps are known, before routing; a hit is not charged
            # a stream or a request with its own latency SLO does not wait on an identical one
            # in flight (its first token, its deadline): only those that would wait anyway
            wait = not req.stream and slo == NO_SLO
            # a follower's wait is watched: a client that left is not served a hit (recorded,
            # counted) when the leader ends; nothing is recorded for it (no call was made)
            look = await self.s.cache.lookup(req, principal, wait=wait, watch=watch)
            if look.entry is not None:
                return await serve_hit(self.s, req, principal, look)
        try:
            outcome = await self._miss(req, principal, look, caps, watch, slo)
        except BaseException:
            self.s.cache.settle(look)  # identical requests waiting on this one go on as misses
            raise
        if not isinstance(outcome, Streamed):  # a stream's ends with its relay (_finish_stream)
            self.s.cache.settle(look)
        return outcome

    async def _miss(
        self,
        req: ChatRequest,
        principal: Principal,
        look: Lookup | None,
        caps: tuple[BoundCap, ...],
        watch: Callable[[], AbstractContextManager[object]],
        slo: LatencySLO,
    ) -> Completed | Streamed:
        """A request the cache did not answer: plan -> reserve -> answer."""
        budgets = self.s.budgets
        # a long prompt's features and difficulty score, in a thread (prompt_score.py)
        routed = req.model == "auto"
        scored = await prompt_score.score_if_long(
            req.prompt_text, self.s.difficulty if routed else None
        )
        if telemetry.TRACER is None:
            plan = self.plan(req, principal, slo, scored)
        else:
            with telemetry.route_span(req.model) as span:
                plan = self.plan(req, principal, slo, scored)
                telemetry.routed(span, plan.task, plan.mode, plan.models, plan.reason)
        plan.cache = look
        plan.log = request_log.CURRENT.get()
        if plan.log is not None:
            plan.log.requested_model = req.model
        # every upstream call is reserved for before it is made (budget.py); without caps the
        # charge only tallies what the calls cost
        counted = req.budget_body or req.body
        prompt = (  # without its images: CallWorst prices them per model
            await worst_case.prompt_tokens_async(counted, 0) + req.unviewed_tokens if caps else None
        )
        plan.counted_prompt = prompt
        worst = worst_case.CallWorst(
            functools.partial(pinned, self.s, plan), counted, req.max_tokens, budgets.image_tokens,
            prompt,
            req.unviewed_tokens, req.kept_thinking_tokens,
        )  # fmt: skip
        first = (*plan.models, *((plan.cascade_first,) if plan.cascade_first else ()))
        plan.charge = await budgets.open(plan.decision_id, caps, worst, first)
        outcome: Completed | Streamed
        watching = watch()
        try:
            if isinstance(watching, CancelOnDisconnect) and watching.left_already():
                # gone while the budget was reserved: no call is made, nothing is billed
                gone = ClientDisconnected("the client disconnected before any upstream call")
                await record_decision(
                    self.s, req, plan, plan.models[0], None, [], gone, "", stream=req.stream
                )
                raise gone
            # a stream is watched until it opens (its first content), as a whole answer is: a
            # client gone meanwhile cancels the call and any failover after it; once open, the
            # event stream watches it (event_stream.py)
            with watching:
                outcome = await (self.stream(req, plan) if req.stream else self.complete(req, plan))
        except BaseException:
            if caps:
                await budgets.release(plan.decision_id)  # a no-op once the spend was settled
            raise
        if look is not None:
            outcome.headers["x-arbiter-cache"] = look.status
        return outcome

    # -- planning ---------------------------------------------------------------------------
    def plan(
        self,
        req: ChatRequest,
        principal: Principal,
        asked: LatencySLO = NO_SLO,
        scored: PromptScore | None = None,
    ) -> Plan:
        """The request's plan (route_plan.py); `scored`: the prompt's score, when worked out off
        the loop (a long prompt)."""
        return plan_request(self.s, req, principal, asked, scored)

    # -- non-streaming ----------------------------------------------------------------------
    async def complete(self, req: ChatRequest, plan: Plan) -> Completed:
        """Answer in one piece, failing over as needed (whole_answer.py)."""
        return await whole_answer.complete(self.s, req, plan)

    # -- streaming --------------------------------------------------------------------------
    async def stream(self, req: ChatRequest, plan: Plan) -> Streamed:
        """Fail over until an upstream produced its first content, then relay it as it comes.

        The caller should `await streamed.aclose()` when the response ends, however it ends."""
        s = self.s
        attempts: list[Attempt] = []
        # failover bounds the opening by the request's deadline; the stream keeps to it too
        limit = plan.deadline_s(s.settings.failover.deadline_s)
        deadline = time.monotonic() + limit
        try:
            model, upstream = await run_with_failover(
                plan.models,
                lambda m: call_upstream(
                    self.s,
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
            await record_decision(
                self.s, req, plan, plan.models[0], None, attempts, err, "", stream=True
            )
            raise
        except asyncio.CancelledError:  # the client left before the first content
            gone = ClientDisconnected("the client disconnected before the stream began")
            with anyio.CancelScope(shield=True):
                await record_decision(
                    self.s, req, plan, plan.models[0], None, attempts, gone, "", stream=True
                )
            raise
        reserved = self._stream_worst(req, plan, model)
        headers = headers_for(
            plan, model, reserved, 0.0, getattr(upstream, "upstream_headers", None)
        )
        # the headers leave before the stream ends, so before its cost is known: the worst case
        # is named as what it is (the reservation), never as the cost; the real cost is in the
        # decision record (and the decision feed) once the stream ends. So is the baseline's:
        # it depends on the answer's length, unknown here, and no header claims it
        headers["x-arbiter-cost-usd-reserved"] = headers.pop("x-arbiter-cost-usd")
        del headers["x-arbiter-baseline-cost-usd"]
        headers["x-arbiter-cost-final"] = "false"
        finish = functools.partial(self._finish_stream, req, plan, model, upstream, attempts)
        codec = (
            req.stream_codec(s.protocol_of(model), model, plan.decision_id, int(time.time()))
            if req.stream_codec is not None
            else relay_codec(
                s.protocol_of(model), req.protocol, model,
                include_usage=req.include_usage, created=int(time.time()),
                stops=req.canonical.stop if req.canonical is not None else (),
                fallback_id=plan.decision_id, prompt_tokens=self._prompt_count(req, plan, model),
            )
        )  # fmt: skip
        # a deadline shorter than failover's is the caller's (failover.py reads it the same)
        callers = deadline if limit < s.settings.failover.deadline_s else None
        relay = Relay(s.breaker, model, upstream, codec, finish, callers, s.stopping)
        return Streamed(relay, headers, deadline)

    def _prompt_count(self, req: ChatRequest, plan: Plan, model: str) -> int:
        """The prompt's tokens as the sidecar counts them, for a translated stream's
        message_start (an OpenAI upstream tells its own count only at the end): the budget's
        tokenizer count when caps made one, else routing's estimate (nothing tokenized on the
        loop for it); images by the model's rule."""
        if req.protocol != "anthropic" or self.s.protocol_of(model) != "openai":
            return 0  # no message_start to fill: an Anthropic upstream counts it itself
        rule = pinned(self.s, plan, model).image_rule
        if plan.counted_prompt is None:
            return req.prompt_tokens_on(rule)
        return plan.counted_prompt + (rule.total(req.images) if req.images else 0)

    def _stream_worst(self, req: ChatRequest, plan: Plan, model: str) -> float:
        """A stream's worst case, for its headers: what the budget reserved for the call when
        caps hold it (the prompt already counted), else the estimate at the output limit (no
        tokenizing on the loop for a header)."""
        if plan.charge is not None and plan.charge.caps:
            return plan.charge.call_worst(model)
        m = pinned(self.s, plan, model)
        return m.cost_usd(req.prompt_tokens_on(m.image_rule), req.max_tokens or m.max_output_tokens)

    async def _finish_stream(
        self,
        req: ChatRequest,
        plan: Plan,
        model: str,
        upstream: UpstreamStream,
        attempts: list[Attempt],
        outcome: _StreamOutcome,
    ) -> None:
        """Close the upstream, record the decision, and grade a complete answer (once)."""
        if outcome.finished:
            return
        outcome.finished = True
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
                and BILLS_AFTER_DISCONNECT not in pinned(self.s, plan, model).capabilities
            ):
                fit = self.s.latency.estimate(model, plan.tenant)
                cut = await cut_call_cost(worst, model, outcome, upstream, fit, closed)
            cost, _ = await record_decision(
                self.s, req, plan, model, upstream.usage, attempts, failure, content, stream=True,
                opened=True, decode_ms=outcome.elapsed_ms() if failure is None else None, cut=cut,
            )  # fmt: skip
            if failure is None:
                after_answer(
                    self.s, req, plan, model, content, outcome.codec.finish,
                    calls=outcome.codec.calls.calls(), choices=outcome.codec.choices_body(),
                )  # fmt: skip
                if plan.cache is not None and plan.cache.write:
                    u = upstream.usage
                    usage = CanonicalUsage(
                        max(u.prompt_tokens - u.cache_read_tokens - u.cache_write_tokens, 0),
                        u.completion_tokens, u.cache_read_tokens, u.cache_write_tokens,
                    ) if u is not None else CanonicalUsage()  # fmt: skip
                    answer = cached.of_stream(
                        content, outcome.codec.finish, usage, plan.decision_id, model,
                        outcome.codec.stop_sequence,
                    )  # fmt: skip
                    remember_answer(self.s, plan, model, answer, cost)
        finally:  # identical requests waiting on this one: served it, or on as misses
            self.s.cache.settle(plan.cache)
