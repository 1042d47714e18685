"""A request answered in one piece: a cascade's first try if it has one, then the routed models
with failover under the request's deadline; the decision recorded, the answer graded later and
remembered by the cache; when an escalation fails everywhere, the cheap answer in hand served
(split from pipeline.py)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio

from arbiter import failover_said, short_choices
from arbiter.answer_cost import with_request_cost
from arbiter.answer_handoff import after_answer
from arbiter.cache import answer as cached
from arbiter.cache_path import remember_answer
from arbiter.cascade_try import try_cascade
from arbiter.decision_record import record_decision
from arbiter.dropped_usage import answer_texts
from arbiter.errors import ArbiterError, ClientDisconnected
from arbiter.failover import run_with_failover
from arbiter.records import Attempt
from arbiter.request_plan import Completed, Plan
from arbiter.response_headers import headers_for
from arbiter.types import ChatRequest, ChatResult
from arbiter.upstream_body import dropped_fields
from arbiter.upstream_call import call_upstream

if TYPE_CHECKING:
    from arbiter.canonical import CanonicalResponse
    from arbiter.services import Services


async def complete(s: Services, req: ChatRequest, plan: Plan) -> Completed:
    """Answer in one piece, failing over as needed. Cancelled (the client left), it records
    the decision as `client_disconnected`; the upstream call was cancelled with it."""
    attempts: list[Attempt] = []
    try:
        return await _complete(s, req, plan, attempts)
    except asyncio.CancelledError:
        gone = ClientDisconnected("the client disconnected before the answer")
        with anyio.CancelScope(shield=True):
            await record_decision(s, req, plan, plan.models[0], None, attempts, gone, "")
        raise


async def _complete(
    s: Services, req: ChatRequest, plan: Plan, attempts: list[Attempt]
) -> Completed:
    extra = 0.0
    weak: tuple[ChatResult, float] | None = None
    models = plan.models
    limit = plan.deadline_s(s.settings.failover.deadline_s)
    deadline = time.monotonic() + limit  # the whole request's, a cascade's first try too
    if plan.cascade_first is not None:
        cheap_answer, extra, weak = await try_cascade(s, req, plan, attempts, deadline)
        if cheap_answer is not None:
            model = plan.cascade_first
            cheap_answer, short = _short(s, req, plan, model, cheap_answer)
            cost, baseline_cost = await record_decision(
                s,
                req,
                plan,
                model,
                cheap_answer.usage,
                attempts,
                None,
                cheap_answer.content,
                relayed=functools.partial(answer_texts, cheap_answer.body),
            )
            # the request's cost, the in-request judge's call too
            cheap_answer = with_request_cost(cheap_answer, cost + plan.judge_cost)
            after_answer(
                s,
                req,
                plan,
                model,
                cheap_answer.content,
                cheap_answer.finish_reason,
                cheap_answer,
            )
            if plan.cache is not None:
                answer = _cacheable(s, req, model, cheap_answer.body)
                remember_answer(s, plan, model, answer, cost)
            return Completed(
                cheap_answer,
                _headers(s, req, plan, model, cost, baseline_cost, cheap_answer, short),
                s.protocol_of(model),
            )
        limit = max(deadline - time.monotonic(), 0.001)  # what the first try left
        # the escalation never goes back to a model the cheap try called: one that answered,
        # weakly, would be paid for an unchecked answer; one that failed had its retries (it
        # was called again after a failed try, probe27c)
        cheap = {a.model for a in attempts}
        models = tuple(m for m in plan.models if m not in cheap) or models
    tried = len(attempts)  # a cascade's first try's are said by cascade_try
    try:
        model, result = await run_with_failover(
            models,
            lambda m: call_upstream(s, req, plan, m, s.upstream_for(m).complete),
            settings=s.settings.failover,
            breaker=s.breaker,
            attempts=attempts,
            deadline_s=limit,
            can_finish=plan.can_finish(time.monotonic() + limit),
        )
    except ArbiterError as err:
        # a budget that cannot cover the escalation too: the answer already paid for is
        # still better than a 429 that throws it away
        if weak is not None and weak[0].content:
            return await _weak_served(s, req, plan, attempts, weak, extra, err)
        await record_decision(s, req, plan, plan.models[0], None, attempts, err, "", extra=extra)
        raise
    failover_said.note(plan, attempts[tried:])
    result, short = _short(s, req, plan, model, result)
    cost, baseline_cost = await record_decision(
        s, req, plan, model, result.usage, attempts, None, result.content, extra=extra,
        relayed=functools.partial(answer_texts, result.body),
    )  # fmt: skip
    # the escalated first call's, the judge's, failed attempts'
    result = with_request_cost(result, cost + plan.judge_cost)
    after_answer(s, req, plan, model, result.content, result.finish_reason, result)
    if plan.cache is not None:
        answer = _cacheable(s, req, model, result.body)
        # the cascade's first call (on the charge, or `extra` without one), which a hit avoids
        remember_answer(s, plan, model, answer, cost, weak[1] if weak is not None else 0.0)
    return Completed(
        result,
        _headers(s, req, plan, model, cost, baseline_cost, result, short),
        s.protocol_of(model),
    )


async def _weak_served(
    s: Services,
    req: ChatRequest,
    plan: Plan,
    attempts: list[Attempt],
    weak: tuple[ChatResult, float],
    extra: float,
    err: ArbiterError,
) -> Completed:
    """The escalation failed on every model: the cheap answer already in hand (and paid for)
    is the answer, named as such in the decision, rather than an error. It is not cached
    (the rule found it weak)."""
    (answer, spent), model = weak, plan.cascade_first
    assert model is not None
    plan.reason += f"; the escalation failed ({err.code}): {model}'s first answer served"
    plan.cascade = "first-answer-served"
    answer, short = _short(s, req, plan, model, answer)
    # its cost is already in the spend (on the charge, else in `extra`): counted once; its
    # length too (try_cascade observed it when it escalated)
    cost, baseline_cost = await record_decision(
        s, req, plan, model, answer.usage, attempts, None, answer.content,
        extra=extra - spent, observe_length=False,
        relayed=functools.partial(answer_texts, answer.body),
    )  # fmt: skip
    answer = with_request_cost(answer, cost + plan.judge_cost)
    after_answer(s, req, plan, model, answer.content, answer.finish_reason, answer)
    return Completed(
        answer,
        _headers(s, req, plan, model, cost, baseline_cost, answer, short),
        s.protocol_of(model),
    )


def _headers(
    s: Services,
    req: ChatRequest,
    plan: Plan,
    model: str,
    cost: float,
    baseline_cost: float,
    result: ChatResult,
    short: str | None,
) -> dict[str, str]:
    """The answer's headers (headers_for), with `x-arbiter-choices` when it has fewer choices
    than the request's `n` asked (`short`: _short's)."""
    out = headers_for(
        plan, model, cost, baseline_cost, result.upstream_headers, _dropped(s, req, model),
        req.protocol,
    )  # fmt: skip
    if short is not None:
        out[short_choices.HEADER] = short
    return out


def _short(
    s: Services, req: ChatRequest, plan: Plan, model: str, result: ChatResult
) -> tuple[ChatResult, str | None]:
    """The answer held to the `n` choices asked (more are cut), and "got of asked" when they
    were not `n` (short_choices), noted in the decision's reason before it is recorded."""
    result, value = short_choices.kept(req, s.protocol_of(model), result)
    short_choices.note(plan, value)
    return result, value


def _stops(req: ChatRequest) -> Sequence[str]:
    """The caller's stop sequences when its request came translated (an Anthropic client's):
    an OpenAI upstream's answer may name the one it stopped on."""
    return req.canonical.stop if req.canonical is not None else ()


def _cacheable(s: Services, req: ChatRequest, model: str, body: Any) -> CanonicalResponse | None:
    """The answer as the cache keeps it (None: not kept). The client is shown the upstream's
    blocks where it reads the body as it came (its own protocol) or its thinking as reasoning
    items (the Responses API, the one surface with a stream codec of its own)."""
    protocol = s.protocol_of(model)
    shows = req.protocol == protocol or req.stream_codec is not None
    return cached.of_result(body, protocol, _stops(req), shows_blocks=shows)


def _dropped(s: Services, req: ChatRequest, model: str) -> str | None:
    return dropped_fields(req, s.protocol_of(model))
