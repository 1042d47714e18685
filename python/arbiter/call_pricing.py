"""What one upstream call is priced at and what it cost: the model's settings as the request's
plan pinned them, the call's worst case, and its cost once answered (split from pipeline.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from arbiter import cost_ratio
from arbiter.budget import billed_cost
from arbiter.config import ModelSettings
from arbiter.request_plan import Plan, pin
from arbiter.server_tool_worst import fees, iterations
from arbiter.types import ChatRequest, Usage, estimate_tokens
from arbiter.upstream.usage_counts import call_limits, within_limit
from arbiter.worst_case import CallWorst, choices

if TYPE_CHECKING:
    from arbiter.services import Services


def shown_limits(m: ModelSettings | None, req: ChatRequest) -> tuple[int, int] | None:
    """What a usage relayed to the client is held to (relayed_usage.py): the call's output
    limit, every choice's, and its prompt bound, on model `m` (None: no limits)."""
    if m is None:
        return None
    out, prompt = call_limits(
        m.max_output_tokens, m.context_window, choices(req.body), req.max_tokens
    )
    return out, prompt * iterations(req.body, m.web_search_uses)


def pinned(s: Services, plan: Plan, model: str) -> ModelSettings:
    """`model`'s settings as `plan` pinned them (Plan.model): the price a call was
    reserved and sent at is the price it is charged, whatever a patch did meanwhile."""
    registry = s.registry
    return plan.model(model, registry.__getitem__, registry.price_factor)


def pinned_lookup(s: Services, plan: Plan) -> Callable[[str], ModelSettings]:
    """`pinned` for `plan` (a request's worst case looks its models up with it), holding the
    plan's two pin tables instead of the plan: the plan holds its charge, the charge its
    CallWorst, the CallWorst this lookup; one holding the plan made every model request a
    reference cycle (9-16 objects with the plan's candidates and log) that only the garbage
    collector freed, after the young collections had promoted them with the request in
    flight (bench/results/scale.md, tail21)."""
    return functools.partial(_pinned_in, s, plan.pinned, plan.factors)


def _pinned_in(
    s: Services, pins: dict[str, ModelSettings], factors: dict[str, float], model: str
) -> ModelSettings:
    registry = s.registry
    return pin(pins, factors, model, registry.__getitem__, registry.price_factor)


def pinned_factor(s: Services, plan: Plan, model: str) -> float:
    """The price factor `model`'s pinned prices carry (the configured prices times it)."""
    pinned(s, plan, model)
    return plan.factors[model]


def pin_prices(s: Services, plan: Plan) -> None:
    """Pin, as routing priced them, every model the request may call and its baseline: one
    price per request wherever it is read (the reservation, each call's cost, the baseline's
    cost, the cascade's predicted escalation, the price-drift detector's configured price),
    though a patch or an adopted price factor lands while it runs. Called in the same loop step
    as routing (the router's pool changes with the registry, synchronously: services.py)."""
    for model in plan.models:
        pinned(s, plan, model)
    if plan.cascade_first is not None:
        pinned(s, plan, plan.cascade_first)
    pinned(s, plan, s.baseline_for(plan.principal, plan.routing).name)


def worst_of(plan: Plan, model: str) -> Callable[[], float] | None:
    """The worst case of one call of `model` under `plan` at the registry's prices (for judging
    a reported cost: without the markup reports taught, cost_ratio.py)."""
    charge = plan.charge
    if charge is None:
        return None
    worst = charge.call_worst
    return functools.partial(worst.unmarked if isinstance(worst, CallWorst) else worst, model)


def believable(s: Services, plan: Plan, model: str, usage: Usage | None) -> Usage | None:
    """`usage`, its counts dropped when it counted more output than the call could generate
    or a prompt past what its model reads (usage_counts.within_limit: the call's every choice
    at its output limit; prompt_bound)."""
    worst = plan.charge.call_worst if plan.charge is not None else None
    if usage is None or not isinstance(worst, CallWorst):
        return usage
    m = pinned(s, plan, model)
    return within_limit(usage, worst.output_tokens(m), worst.prompt_limit(m))


def call_cost(
    s: Services,
    plan: Plan,
    model: str,
    usage: Usage | None,
    req: ChatRequest,
    content: str,
    cut: float | None = None,
) -> float:
    """What one answered call cost: the upstream's usage (or its reported cost) when it sent
    one, else what a stream we `cut` generated (cut_stream_cost.py), else the call's worst
    case (we cannot know what it billed)."""
    m = pinned(s, plan, model)
    if usage is not None and plan.counted_prompt:
        _learn_ratio(s, plan, model, usage, req)
    reported = usage is not None and usage.reported_cost_usd is not None
    billed = billed_cost(
        m, usage, worst_of(plan, model) if reported else None,
        s.billing_alerts.cost_report_dropped,
    )  # fmt: skip
    # OpenAI's web_search_options fee and a code execution container session, which no usage
    # counts (the worst case holds them: server_tool_worst.fees)
    fee = fees(req.body, m, None if usage is None else usage.code_executions)
    if billed is not None:
        if reported:  # a believed report teaches how much dearer its calls are (cost_ratio.py)
            assert usage is not None
            cost_ratio.observe(s.cost_ratios, model, m, usage, billed)
            return billed
        return billed + fee
    if cut is not None:
        return cut + fee
    if plan.charge is not None:
        return plan.charge.call_worst(model)
    return m.cost_usd(req.prompt_tokens_on(m.image_rule), estimate_tokens(content)) + fee


def _learn_ratio(s: Services, plan: Plan, model: str, usage: Usage, req: ChatRequest) -> None:
    """Teach `model`'s prompt ratio (prompt_ratio.py) the upstream's count of this call's
    prompt, where both counts are of the same text: no images (ours counts their ceiling
    apart), no earlier thinking a model keeps (ours leaves it out), a count the upstream gave."""
    if req.images or req.kept_thinking_tokens or usage.counts_dropped or usage.prompt_missing:
        return
    assert plan.counted_prompt is not None
    s.prompt_ratios.observe(model, plan.counted_prompt, usage.prompt_tokens)
