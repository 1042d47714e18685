"""A cascade's first try: the cheap model asked first under the request's deadline, its answer
checked (tool calls, later choices, the self-judge or the task's rule), and kept or escalated
with its cost committed (split from pipeline.py; the checks themselves: cascade_steps.py,
cascade_gain.py, cascade_tool_calls.py)."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import TYPE_CHECKING

from arbiter import cascade_steps, dropped_usage, failover_said
from arbiter.call_pricing import believable, call_cost
from arbiter.cascade_gain import answer_rule
from arbiter.cascade_tool_calls import answer_calls, missing_required_call, tool_call_escalation
from arbiter.errors import ArbiterError, BudgetExceeded
from arbiter.failover import run_with_failover
from arbiter.grading import INLINE_CHARS
from arbiter.records import Attempt
from arbiter.request_plan import Plan
from arbiter.types import ChatRequest, ChatResult
from arbiter.upstream_call import call_upstream

if TYPE_CHECKING:
    from arbiter.services import Services


async def try_cascade(
    s: Services, req: ChatRequest, plan: Plan, attempts: list[Attempt], deadline: float
) -> tuple[ChatResult | None, float, tuple[ChatResult, float] | None]:
    """Ask the cheap model first. Returns (its answer if good enough, the spend to add, and
    when it escalated, its weak answer and that answer's cost: served if the escalation
    fails, `_weak_served`).
    `deadline` (monotonic) is the request's: the cheap try and the judge count against it,
    so the escalation gets only what they left (failover.deadline_s is the whole request)."""
    assert plan.cascade_first is not None
    # a transient failure (a 500, a reset) is retried, then the next cheap model tried, as
    # plain routing does, within the request's deadline: it escalated at once, paying the
    # strong model for a fault a retry clears. Every try is on record (failover's attempts;
    # a client gone meanwhile: `cancelled`, billed maybe)
    order = cascade_steps.cheap_order(plan, plan.cascade_first)
    tried = len(attempts)
    try:
        cheap, result = await run_with_failover(
            order,
            lambda m: call_upstream(s, req, plan, m, s.upstream_for(m).complete),
            settings=s.settings.failover,
            breaker=s.breaker,
            attempts=attempts,
            deadline_s=max(deadline - time.monotonic(), 0.001),
        )
    except BudgetExceeded:
        raise  # the escalated call could not be covered either
    except ArbiterError as err:  # the cheap try failing is not the request failing
        # the reason says so: it named the router's pick, not the dearer model that answers
        said = failover_said.said(attempts[tried:]) or ", ".join(order)
        plan.reason += f"; cascade: tried first {said}, failed ({err.code}), escalated"
        plan.cascade = "escalated"
        return None, 0.0, None
    # its answer's own attempt is written below, with the verdict, timed from its own try
    started = time.perf_counter() - attempts.pop().latency_ms / 1000
    plan.cascade_first = cheap  # the model that answered first (a failover's)
    # the escalation target's predicted cost, as the router priced it (cascade_cost.py)
    fix = next((c.est_cost_usd for c in plan.candidates if c.model == plan.models[0]), 0.0)
    rule = answer_rule(plan.routing, plan.task, s.math_verifier, fix)
    # Graders and the verifier scan the answer: a long one is CPU work, kept off the event
    # loop; a short one costs less than the hand-off to a thread.
    off_loop = len(result.content) + len(req.prompt_text) > INLINE_CHARS
    calls = answer_calls(result)
    if (cut := cascade_steps.cut_at_clients_limit(req, result)) is not None:
        verdict = cut  # the escalation would be cut at the same limit
    elif calls:  # a tool call has no prose for the rules to read: its calls are the answer
        check = functools.partial(tool_call_escalation, calls, req.body, req.protocol)
        off_loop = sum(len(call.arguments) for call in calls) > INLINE_CHARS
        verdict = await asyncio.to_thread(check) if off_loop else check()
    elif req.has_tools and (missing := missing_required_call(req.body, req.protocol)):
        verdict = missing
    elif (later := await cascade_steps.later_choices(s, req, plan, result, rule)) is not None:
        verdict = later  # n > 1: a weak later choice escalates the whole answer
    else:
        judged = await cascade_steps.judged(s, req, plan, result, off_loop, fix, deadline)
        if judged is None:  # no judge for this task, or it gave no score: the task's own rule
            check = functools.partial(
                rule, plan.task, req.prompt_text, result.content, result.finish_reason,
                req.response_format,
            )  # fmt: skip
            judged = await asyncio.to_thread(check) if off_loop else check()
        verdict = judged
    escalate, why = verdict
    latency = (time.perf_counter() - started) * 1000
    if not escalate:
        attempts.append(Attempt(cheap, True, latency))
        kept = f"kept: {why}" if cut is not None else "passed"
        plan.reason += f"; cascade: {cheap} answered first and its answer {kept}"
        plan.cascade = "passed"
        return result, 0.0, None
    attempts.append(Attempt(cheap, True, latency, f"escalated: {why}"[:120]))
    usage = believable(s, plan, cheap, result.usage)  # a count past what it could bill: none
    # the escalated answer's length still teaches (a kept one is recorded, and seen, later)
    if plan.stats is not None and usage is not None and usage.completion_tokens:
        s.lengths.observe(
            cheap, plan.stats, usage.completion_tokens, task=plan.task, shape=plan.shape
        )
    plan.reason += f"; cascade: {cheap} tried first, escalated ({why})"
    plan.cascade = "escalated"
    # usage counts that were no counts, or one side's missing: priced from its answer
    counted = None  # (dropped_usage.py)
    if dropped_usage.counts_dropped(usage):
        texts = dropped_usage.answer_texts(result.body)
        counted, _ = await dropped_usage.relayed_cost(s, plan, cheap, req, texts, usage)
    spent = call_cost(s, plan, cheap, usage, req, result.content, counted)
    if plan.charge is None:
        return None, spent, (result, spent)
    plan.charge.commit(spent)  # so the escalated call is reserved for on top of it
    return None, 0.0, (result, spent)
