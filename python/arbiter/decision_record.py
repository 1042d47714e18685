"""A routed request's decision recorded: what every call cost (the answer's, failed attempts',
an escalated try's), the baseline's, settled against the budget, then written; the answer's
length and each call's time teach the length and latency models (split from pipeline.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from arbiter import dropped_usage
from arbiter.call_pricing import believable, call_cost, pinned, pinned_factor, worst_of
from arbiter.cost_report import vetted
from arbiter.errors import ArbiterError
from arbiter.latency_slo import observe_attempts
from arbiter.records import SYSTEM_TENANT, Attempt, DecisionRecord
from arbiter.request_plan import Plan
from arbiter.types import ChatRequest, Usage, estimate_tokens

if TYPE_CHECKING:
    from arbiter.services import Services


async def record_decision(
    s: Services,
    req: ChatRequest,
    plan: Plan,
    model: str,
    usage: Usage | None,
    attempts: list[Attempt],
    error: ArbiterError | None,
    content: str,
    *,
    stream: bool = False,
    extra: float = 0.0,
    opened: bool = False,
    decode_ms: float | None = None,
    cut: float | None = None,
    observe_length: bool = True,
    relayed: Callable[[], list[str]] | None = None,
) -> tuple[float, float]:
    """Write the decision; `extra` is spend on earlier calls (an escalated cascade try).
    `opened`: the answering call itself got through (a stream that failed after content).
    `relayed`: the answer's output texts, read only when its usage counts were no counts (it
    is then priced from them: dropped_usage.py; else from `content`).
    The cost recorded, and settled against the budget, is every call's: the answer's, the
    failed attempts' (committed on the charge) and `extra`."""
    m = pinned(s, plan, model)
    usage = believable(s, plan, model, usage)  # a count past what the call could bill: none
    if usage is not None and usage.reported_cost_usd is not None:  # an absurd one: none
        usage = vetted(m, usage, worst_of(plan, model), s.billing_alerts.cost_report_dropped)
    # usage counts that were no counts, or one side's missing: priced from the answer's texts
    content_tokens = None
    if error is None and cut is None and dropped_usage.counts_dropped(usage):
        texts = relayed() if relayed is not None else [content]
        cut, content_tokens = await dropped_usage.relayed_cost(s, plan, model, req, texts, usage)
    pt = (
        usage.prompt_tokens if usage and usage.prompt_tokens else req.prompt_tokens_on(m.image_rule)
    )
    ct = (
        usage.completion_tokens if usage and usage.completion_tokens
        else content_tokens if content_tokens is not None else estimate_tokens(content)
    )  # fmt: skip
    cache_read = usage.cache_read_tokens if usage else 0
    cache_write = usage.cache_write_tokens if usage else 0
    hour = usage.cache_write_1h_tokens if usage else 0
    registry_cost = m.cost_usd(pt, ct, cache_read, cache_write, hour)
    source = "registry"
    cost = registry_cost
    if usage is not None and usage.reported_cost_usd is not None:
        cost, source = usage.reported_cost_usd, "upstream"
        # against the configured price: the detector's level is the factor to adopt
        configured_cost = registry_cost / pinned_factor(s, plan, model)
        # a model's price is the operator's fact, not the revealing tenant's; its detector
        # learns after the answer (after_answer.py)
        s.after_answer.defer(s.alerts.observe_price, SYSTEM_TENANT, model, cost, configured_cost)
    # no call answered: what the failed ones may have cost is on the charge
    cost = call_cost(s, plan, model, usage, req, content, cut) if error is None or opened else 0.0
    cost += extra + (plan.charge.committed if plan.charge is not None else 0.0)
    # the baseline of the [routing] the request was planned on, at the prices it was pinned at
    baseline = pinned(s, plan, s.baseline_for(plan.principal, plan.routing).name)
    baseline_cost = baseline.cost_usd(pt, ct)
    record = DecisionRecord(
        id=plan.decision_id,
        ts=time.time(),
        tenant=plan.tenant,
        task=plan.task,
        mode=plan.mode,  # type: ignore[arg-type]
        chosen_model=model,
        reason=plan.reason,
        candidates=plan.candidates,
        attempts=tuple(attempts),
        status="failed" if error else "ok",
        cost_usd=cost + plan.judge_cost,  # the request's spend: its in-request judge too
        baseline_model=baseline.name,
        baseline_cost_usd=baseline_cost,
        latency_ms=(time.perf_counter() - plan.started) * 1000,
        prompt_tokens=pt,
        completion_tokens=ct,
        stream=stream,
        difficulty=plan.easiness,
        key_id=plan.principal.key_id,
        error=error.code if error else None,
        cost_source=source,  # type: ignore[arg-type]
        # why the response cache did not answer it, when it was bypassed for a reason
        cache_info={"bypass": why} if (why := _bypass_why(plan)) is not None else None,
        # what cost_ratio.seed divides a report by (the totals alone priced cache parts at input)
        usage_cost_usd=registry_cost if source == "upstream" else None,
    )
    # settled before the record: a strict commit that fails (the store down) raises here,
    # and the calls were made and may be billed all the same; the request's end would
    # release the reservation and their cost never reach the cap (the settle is queued
    # while the store is down; its task takes the charge before the commit's thread returns)
    s.on_spend(plan, cost)
    if plan.log is not None:  # first: a strict commit's 503 names the decision it charged
        plan.log.decided(record)
        plan.log.judge_cost_usd, plan.log.cascade = plan.judge_cost, plan.cascade
    await s.record(record)
    # the length and latency models learn after the answer has left (after_answer.py)
    length = usage.completion_tokens if observe_length and usage is not None else 0
    s.after_answer.defer(_learn, s, plan, record, length, decode_ms)
    return cost, baseline_cost


def _learn(
    s: Services, plan: Plan, record: DecisionRecord, length: int, decode_ms: float | None
) -> None:
    """The answer's length (`length` tokens, 0: none to learn) and every call's time."""
    model = record.chosen_model
    if length and plan.stats is not None:
        s.lengths.observe(model, plan.stats, length, task=plan.task, shape=plan.shape)
    observe_attempts(  # every call's time teaches the latency model (latency_slo.py)
        s.latency, plan.tenant, model, record.attempts, tokens=record.completion_tokens,
        answered=record.status == "ok", stream=record.stream, decode_ms=decode_ms,
        on_answer=s.latency_ratio, predicted_total_ms=_predicted_total(plan, model),
    )  # fmt: skip


def _predicted_total(plan: Plan, model: str) -> float | None:
    """The routed prediction of `model`'s total (ms, at the quantile), if the request had one."""
    guess = plan.predicted_ms.get(model) if plan.predicted_ms is not None else None
    return guess[1] if guess is not None else None


def _bypass_why(plan: Plan) -> str | None:
    return plan.cache.why if plan.cache is not None else None
