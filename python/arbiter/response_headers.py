"""A routed answer's response headers: Arbiter's (model, decision, cost, baseline, predicted
latency) and the answering upstream's request id and rate limits (split from pipeline.py)."""

from __future__ import annotations

from arbiter.ratelimit_names import Surface, for_surface
from arbiter.request_log import cost_headers
from arbiter.request_plan import Plan


def headers_for(
    plan: Plan,
    model: str,
    cost: float,
    baseline_cost: float,
    upstream: dict[str, str] | None = None,
    dropped: str | None = None,
    surface: Surface = "openai",
) -> dict[str, str]:
    """The response's headers: Arbiter's, and the answering upstream's request id and
    rate-limit headers (`upstream`: http.forwarded_headers). `dropped`: the request's fields
    the answering model's protocol has no place for (upstream_body.dropped_fields)."""
    out = cost_headers({
        "x-arbiter-model": model,
        "x-arbiter-decision-id": plan.decision_id,
        "x-arbiter-task": plan.task,
        "x-arbiter-baseline-cost-usd": f"{baseline_cost:.8f}",
    }, cost + plan.judge_cost, plan.judge_cost, plan.cascade)  # fmt: skip
    if upstream:
        out.update(for_surface(upstream, surface))  # the other protocol's names renamed
        if plan.log is not None:
            plan.log.upstream_request_id = upstream.get("x-request-id")
    if dropped is not None:
        out["x-arbiter-dropped"] = dropped
    guess = plan.predicted_ms.get(model) if plan.predicted_ms is not None else None
    if guess is not None:  # under an SLO: the answering model's (TTFT, total) at the quantile
        out["x-arbiter-predicted-ttft-ms"] = f"{guess[0]:.1f}"
        out["x-arbiter-predicted-latency-ms"] = f"{guess[1]:.1f}"
    return out
