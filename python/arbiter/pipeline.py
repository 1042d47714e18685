"""One chat request, end to end: classify -> route -> call with failover -> record -> grade later.

Protocol-free: surfaces parse the wire format into a ChatRequest and render what this returns.
This module holds the request's flow; its steps are their own modules: route_plan.py (the plan),
whole_answer.py and routed_stream.py (the answer, in one piece or streamed; a cascade's first try:
cascade_try.py), upstream_call.py (each call), decision_record.py (the record), call_pricing.py
(what a call cost), response_headers.py, answer_handoff.py (grading later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from arbiter import (
    live_follow,
    prompt_score,
    request_log,
    routed_stream,
    telemetry,
    whole_answer,
    worst_case,
)
from arbiter.cache_path import serve_hit
from arbiter.call_pricing import pin_prices, pinned_lookup
from arbiter.decision_record import record_decision
from arbiter.disconnect import CancelOnDisconnect
from arbiter.errors import ClientDisconnected
from arbiter.latency_slo import NO_SLO, LatencySLO
from arbiter.principal import Principal
from arbiter.prompt_score import PromptScore
from arbiter.request_plan import Completed, Plan, Streamed
from arbiter.route_plan import plan_request
from arbiter.types import ChatRequest

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
            # a request with its own latency SLO does not wait on an identical one in flight
            # (its deadline), nor does a stream that cannot join a streaming one's answer as it
            # comes (its first token): only those that would wait anyway
            live = live_follow.joinable(req)
            wait = (live or not req.stream) and slo == NO_SLO
            # a follower's wait is watched: a client that left is not served a hit (recorded,
            # counted) when the leader ends; nothing is recorded for it (no call was made)
            look = await self.s.cache.lookup(req, principal, wait=wait, watch=watch, live=live)
            if look.live is not None:
                return live_follow.serve_live(self.s, req, principal, look.live)
            if look.entry is not None:
                return await serve_hit(self.s, req, principal, look)
        try:
            outcome = await self._miss(req, principal, look, caps, watch, slo)
        except BaseException as err:
            # identical requests waiting on this one go on as misses; when its client left,
            # one of them leads and the rest wait on it
            gone = isinstance(err, (asyncio.CancelledError, ClientDisconnected))
            self.s.cache.settle(look, client_left=gone)
            raise
        if not isinstance(outcome, Streamed):  # a stream's ends with its relay (routed_stream.py)
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
        pin_prices(self.s, plan)  # in routing's loop step: the prices it weighed
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
            pinned_lookup(self.s, plan), counted, req.max_tokens, budgets.image_tokens,
            prompt,
            req.unviewed_tokens, req.kept_thinking_tokens, learnt=self.s.prompt_ratios.tokens,
            markup=self.s.cost_ratios.factor,
            images=await worst_case.image_parts_off_loop(counted), sent=req.body,
        )  # fmt: skip
        # the call made first leads (a cascade's cheap one): held alone when the dearest won't fit
        first = (*((plan.cascade_first,) if plan.cascade_first else ()), *plan.models)
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

    # -- answering ---------------------------------------------------------------------------
    async def complete(self, req: ChatRequest, plan: Plan) -> Completed:
        """Answer in one piece, failing over as needed (whole_answer.py)."""
        return await whole_answer.complete(self.s, req, plan)

    async def stream(self, req: ChatRequest, plan: Plan) -> Streamed:
        """Fail over until an upstream produced its first content, then relay it as it comes
        (routed_stream.py). The caller should `await streamed.aclose()` when the response ends,
        however it ends."""
        return await routed_stream.stream(self.s, req, plan)
