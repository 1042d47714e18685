"""A cascade's steps that need no call of their own: whether a request cascades and to which
first model (`cascade_first`, at planning), the in-request judge's predicted time (`judge_ms`),
and the verdicts on a first answer beyond its first choice (`later_choices`) or by the judge
(`judged`). The cheap call itself and its escalation are cascade_try.py's, their records
whole_answer.py's."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from arbiter import judge, shared_timeouts
from arbiter.answer_choices import choices_of
from arbiter.cascade import Escalate
from arbiter.cascade_choices import later_choices_escalation, several_choices
from arbiter.cascade_gain import skips_first_model
from arbiter.cascade_judge import hard_escalation, judge_for, judged_escalation
from arbiter.errors import ArbiterError
from arbiter.grading import INLINE_CHARS
from arbiter.judge_calls import JUDGE_MAX_TOKENS
from arbiter.latency_slo import NO_SLO, LatencySLO
from arbiter.records import Candidate
from arbiter.request_plan import Plan
from arbiter.routing import Router
from arbiter.routing_types import RouteDecision
from arbiter.types import ChatRequest, ChatResult

if TYPE_CHECKING:
    from arbiter.config import RoutingSettings
    from arbiter.services import Services

log = logging.getLogger("arbiter.pipeline")  # the pipeline's log lines, as before the move
# what a decision's reason says when the request's deadline cut the cascade's judge call
JUDGE_CUT = "cascade judge cut by the request's deadline"


def cascade_first(
    r: RoutingSettings,
    req: ChatRequest,
    task: str,
    chosen: str,
    candidates: tuple[Candidate, ...],
    slo: LatencySLO = NO_SLO,
    route: RouteDecision | None = None,
    easiness: float | None = None,
    judge_ms: float | Callable[[str], float] = 0.0,
) -> str | None:
    """For tasks configured to cascade (non-streaming only): the first eligible one of
    `routing.cascade_first_model` / `cascade_first_models` (or else the cheapest eligible
    model), when it is cheaper than the routed choice. `judge_ms`: the in-request judge's
    predicted call (`judge_ms`), which sits between the cheap try and an escalation; a
    function of the first model where the judge is that model (the self-judge)."""
    if req.stream or task not in r.cascade_tasks:
        return None
    if skips_first_model(r.cascade_prompt_gain, r.cascade_min_expected_gain, task, easiness):
        return None  # the prompt alone reaches the threshold: no cheap try (cascade_gain.py)
    eligible = [c for c in candidates if c.eligible]
    if wanted := r.first_models():
        by_model = {c.model: c for c in eligible}
        first = next((by_model[m] for m in wanted if m in by_model), None)
    else:
        first = min(eligible, key=lambda c: c.est_cost_usd, default=None)
    chosen_cost = next((c.est_cost_usd for c in eligible if c.model == chosen), 0.0)
    if first is None or first.model == chosen or first.est_cost_usd >= chosen_cost:
        return None
    predicted = route.latency_ms if route is not None else None
    if predicted is not None and slo.max_latency_ms is not None:
        # the cheap try, the judge reading it and an escalation must all fit in the SLO,
        # else no cascade
        judging = judge_ms(first.model) if callable(judge_ms) else judge_ms
        both = predicted[first.model][1] + judging + predicted[chosen][1]
        if both > slo.max_latency_ms:
            return None
    return first.model


def cheap_order(plan: Plan, cheap: str) -> tuple[str, ...]:
    """The models a cascade's cheap try may use, in order: `cheap`, then (a retryable failure
    of it) the other eligible first models cheaper than the escalation target: the configured
    `cascade_first_model(s)` in their order, else the eligible candidates by price. None under
    a latency SLO: `cascade_first` fitted only `cheap`'s try in it."""
    if plan.slo.max_latency_ms is not None:
        return (cheap,)
    eligible = {c.model: c for c in plan.candidates if c.eligible}
    target = plan.models[0]
    bar = eligible[target].est_cost_usd if target in eligible else 0.0
    wanted = plan.routing.first_models() if plan.routing is not None else []
    order = wanted or [c.model for c in sorted(eligible.values(), key=lambda c: c.est_cost_usd)]
    more = (m for m in order if m != cheap and m in eligible and eligible[m].est_cost_usd < bar)
    return (cheap, *more)


def judge_ms(
    r: RoutingSettings, router: Router, tenant: str, task: str, slo: LatencySLO, first: str = ""
) -> float:
    """The in-request judge's predicted total ms (its reply at most JUDGE_MAX_TOKENS), when
    the task has a `routing.cascade_judge_gain` line and the request a total-latency SLO;
    else 0 (no judge call, or nothing to fit it in). `first`: the cascade's first model (the
    judge under the self-judge)."""
    if (
        slo.max_latency_ms is None
        or r.cascade_judge_model is None
        or task not in r.cascade_judge_gain
    ):
        return 0.0
    model = judge_for(r.cascade_judge_model, first)
    if not model:
        return 0.0
    ms = router.predicted_total_ms(model, tenant, JUDGE_MAX_TOKENS)
    return 0.0 if ms is None else ms


def cut_at_clients_limit(req: ChatRequest, result: ChatResult) -> tuple[bool, str] | None:
    """A first answer whose every choice stopped at the output limit the client set: kept
    (False, why). The escalated call is sent that same limit, so its answer is cut there too:
    escalating paid both calls for the same truncated answer (a classifier's max_tokens 1 on
    every request). None otherwise: a limit Arbiter set (`limit_injected`) is no choice of the
    client's, and there the rules decide as before."""
    if req.max_tokens is None or req.limit_injected:
        return None
    choices = choices_of(result.body, result.protocol)
    if not choices or any(c.finish_reason != "length" for c in choices):
        return None
    return False, f"cut at the request's own max_tokens {req.max_tokens}, as an escalation would be"


async def later_choices(
    s: Services, req: ChatRequest, plan: Plan, result: ChatResult, rule: Escalate
) -> tuple[bool, str] | None:
    """cascade_choices.py: the choices after the first, through the task's rule (or, where
    the judge grades the first, its hard checks); None when they pass or n is 1."""
    choices = choices_of(result.body, result.protocol) if several_choices(result) else []
    if len(choices) < 2:
        return None
    judging = s.cascade_judge is not None
    judging = judging and plan.task in plan.routing.cascade_judge_gain
    check = functools.partial(
        later_choices_escalation, hard_escalation if judging else rule, plan.task,
        req.prompt_text, choices, req.response_format,
    )  # fmt: skip
    off_loop = sum(len(c.text) for c in choices[1:]) + len(req.prompt_text) > INLINE_CHARS
    return await asyncio.to_thread(check) if off_loop else check()


async def judged(
    s: Services,
    req: ChatRequest,
    plan: Plan,
    result: ChatResult,
    off_loop: bool,
    fix: float,
    deadline: float,
) -> tuple[bool, str] | None:
    """The judge in the cascade (cascade_judge.py): the hard checks, then the judge's score
    through the task's line. None when the task has no judge line or the judge gave no
    score (a failed, refused or, at the request's `deadline`, cut judge call costs the
    verdict, never the request)."""
    line = plan.routing.cascade_judge_gain.get(plan.task)
    if line is None or s.cascade_judge is None:
        return None
    hard = functools.partial(
        hard_escalation, plan.task, req.prompt_text, result.content, result.finish_reason,
        req.response_format,
    )  # fmt: skip
    escalate, why = await asyncio.to_thread(hard) if off_loop else hard()
    if escalate:
        return escalate, why
    try:
        async with shared_timeouts.timeout(max(deadline - time.monotonic(), 0.001)):
            reply = await s.cascade_judge(
                judge.build_judge_messages(req.prompt_text, result.content), plan.tenant,
                judge=judge_for(plan.routing.cascade_judge_model or "", result.model),
                on_cost=plan.add_judge_cost,
                # the caller pays it (x-arbiter-cost-usd holds it): on the request's caps,
                # whatever budgets.judge_scope says (the sampled grading judge's setting)
                caps=plan.charge.caps if plan.charge is not None else (),
            )  # fmt: skip
    except ArbiterError as err:  # BudgetExceeded (budgets.judge_scope) included
        log.warning("cascade judge call failed: %s", err.message)
        return None
    except TimeoutError:
        log.warning("cascade judge call cut: the request's deadline passed")
        # on the record (the decision feed's reason): the verdict fell to the task's own rule
        # because the deadline cut the judge, not because it failed or gave no score
        plan.reason += f"; {JUDGE_CUT}"
        return None
    score = judge.parse_judge_reply(reply)
    if score is None:
        log.warning("cascade judge reply had no score")
        return None
    r = plan.routing
    return judged_escalation(
        line, r.cascade_min_expected_gain, score, fix, r.cascade_judge_cost_exponent,
        r.cascade_cost_reference_usd,
    )  # fmt: skip
