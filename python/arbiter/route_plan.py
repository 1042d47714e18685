"""A request's plan, before any upstream call: its task, its latency SLO, and for `auto` the
routed models (the router's decision, what the request needs and what it may not use, a
cascade's first model) or the named model's checks for a pass-through (split from pipeline.py)."""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

from arbiter import cascade_steps, latency_slo, prompt_score
from arbiter.cascade_gain import skips_first_model
from arbiter.classify import classify
from arbiter.errors import ContextTooLong, NoCapableModel
from arbiter.latency_slo import NO_SLO, LatencySLO
from arbiter.principal import Principal
from arbiter.prompt_score import PromptScore
from arbiter.request_checks import (
    blocked_for,
    named_in_refusal,
    named_model,
    needs_of,
    too_long_for_every_model,
)
from arbiter.request_plan import Plan
from arbiter.routing_types import RouteRequest
from arbiter.types import ChatRequest
from arbiter.worst_case import billed_apart

if TYPE_CHECKING:
    from arbiter.services import Services


def plan_request(
    s: Services,
    req: ChatRequest,
    principal: Principal,
    asked: LatencySLO = NO_SLO,
    scored: PromptScore | None = None,
) -> Plan:
    """`scored`: the prompt's score, when worked out off the loop (a long prompt)."""
    routing = s.settings.routing  # pinned on the plan: the request's [routing] to its end
    task = classify(req.messages, req.response_format, req.has_tools)
    slo = latency_slo.resolve(asked, s.settings, principal.tenant, task)
    started = time.perf_counter()
    decision_id = s.new_id()
    if req.model == "auto":
        scored = scored or prompt_score.score(req.prompt_text, s.difficulty)  # one pass
        stats, shape, easiness = scored.stats, scored.shape, scored.easiness
        blocked = blocked_for(s, req, task, principal)
        router = s.router_for(principal)
        try:
            route = router.decide(
                RouteRequest(
                    principal.tenant,
                    task,
                    req.prompt_tokens,
                    req.max_tokens,
                    needs_of(req),
                    easiness,
                    stats,
                    slo.max_latency_ms,
                    slo.max_ttft_ms,
                    req.kept_thinking_tokens,
                    req.images,
                    shape,
                    *billed_apart(req),
                ),
                allowed=sorted(principal.allowed_models) if principal.allowed_models else None,
                blocked=blocked,
            )
        except ContextTooLong as err:  # routing's words; the field to lower is the caller's
            raise too_long_for_every_model(err, req, s.pool) from err
        except NoCapableModel as err:
            named = named_in_refusal(err, req, s.pool)  # the field it cannot serve
            if named is err:
                raise
            raise named from err
        chosen = route.chosen
        r = routing
        judge_ms = functools.partial(  # of the first model: the self-judge's own
            cascade_steps.judge_ms, r, router, principal.tenant, task, slo
        )
        first = functools.partial(
            cascade_steps.cascade_first, r, req, task, candidates=route.candidates,
            route=route, easiness=easiness, judge_ms=judge_ms,
        )  # fmt: skip
        cheap = first(chosen, slo=slo)
        if r.cascade_all and task in r.cascade_tasks and not req.stream:
            # a cascade for every request of the task: the first model, then the baseline;
            # a prompt the gain model finds hard goes to the baseline alone. One with no
            # cascade for another cause (an SLO without room for both calls, no first model
            # that can serve it, as an Anthropic-protocol one for `n` > 1) keeps the router's
            # choice, which its reason names (the baseline alone was called, dearer)
            base = router.params.baseline
            if base != chosen and any(c.model == base and c.eligible for c in route.candidates):
                to_base = first(base, slo=slo)
                hard = skips_first_model(
                    r.cascade_prompt_gain, r.cascade_min_expected_gain, task, easiness
                )
                if to_base is not None or hard:
                    chosen, cheap = base, to_base
        models = (chosen, *(m for m in (route.chosen, *route.fallbacks) if m != chosen))
        reason = route.reason
        if s.recent_changes:  # a detected change the router is acting on: say so
            reason += s.change_notes(c.model for c in route.candidates)
        return Plan(
            decision_id,
            principal.tenant,
            task,
            "routed",
            models,
            route.candidates,
            reason,
            easiness,
            started,
            principal,
            cheap,
            stats,
            shape=shape,
            slo=slo,
            predicted_ms=route.latency_ms,
            latency_probe=route.latency_probe if s.settings.latency.probe_unseen else None,
            routing=routing,
        )
    named_model(s, req, principal)
    # its answer teaches lengths too
    scored = scored or prompt_score.score(req.prompt_text, None)
    stats, shape = scored.stats, scored.shape
    return Plan(
        decision_id,
        principal.tenant,
        task,
        "passthrough",
        (req.model,),
        (),
        f"pass-through: the client asked for {req.model}",
        None,
        started,
        principal,
        stats=stats,
        shape=shape,
        slo=slo,
        routing=routing,
    )
