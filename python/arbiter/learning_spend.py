"""Whether Arbiter's learning calls count against a tenant's budget, next to what they cost.

A tenant's /arbiter/stats reports its own requests in its headline figures (requests, cost,
savings) and Arbiter's calls to learn (shadow calls of challengers, latency probes, LLM judge
calls: records.LEARNING_MODES) on lines of their own (store stats()["learning"]). Those calls
are spent for the tenant's benefit but were never asked for, so whether they also drew on the
tenant's caps is a setting the operator chose; this says which, beside each line.
"""

from __future__ import annotations

from typing import Any

from arbiter.config import Settings


def learning_charged(learning: dict[str, Any], settings: Settings) -> None:
    """Add `charged_to_tenant_budget` to each mode's line of `learning` (in place): shadow calls
    and probes per `shadow.count_against_tenant`, judge calls per `budgets.judge_scope`; never
    while no cap is configured (nothing is charged to anything then)."""
    capped = bool(settings.budgets.caps)
    shadow = capped and settings.shadow.count_against_tenant
    charged = {
        "shadow": shadow,
        "probe": shadow,
        "judge": capped and settings.budgets.judge_scope == "tenant",
    }
    for mode, line in learning["by_mode"].items():
        line["charged_to_tenant_budget"] = charged.get(mode, False)
