"""What a tenant's key is shown of the models it may not use (`[tenants.X] allowed_models`):
nothing. `/v1/models` lists only its models and `/v1/models/{id}` is a 404 for the others,
but a decision's candidates listed each of them ("not allowed for this tenant") and
`/arbiter/stats` showed their circuits, with failure counts other tenants' traffic caused.
The admin and dashboard keys see everything. Nor is a tenant shown this process's counts that
span every tenant (the code sandbox's runs and queue, the recorder's backlog): other tenants'
volume."""

from __future__ import annotations

from typing import Any

from arbiter.principal import Principal
from arbiter.routing import NOT_ALLOWED


def own_decision(row: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """`row` as `principal` may read it: without candidates left out for not being allowed."""
    candidates = row.get("candidates")
    if principal.sees_all or principal.allowed_models is None or not candidates:
        return row
    row["candidates"] = [c for c in candidates if c.get("why_not") != NOT_ALLOWED]
    return row


def own_circuits(
    circuits: dict[str, dict[str, object]], principal: Principal
) -> dict[str, dict[str, object]]:
    """The circuits of the models `principal` may use (all of them for the admin)."""
    allowed = principal.allowed_models
    if principal.sees_all or allowed is None:
        return circuits
    return {model: state for model, state in circuits.items() if model in allowed}


# what a tenant's key is shown of the code sandbox: whether its code answers are run, not how
# many every tenant's answers made it run or wait for
_SANDBOX_FOR_TENANTS = ("available", "mechanism", "language", "reason")


def own_sandbox(stats: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """The sandbox's /arbiter/stats block as `principal` may read it."""
    if principal.sees_all:
        return stats
    return {key: stats[key] for key in _SANDBOX_FOR_TENANTS if key in stats}


def own_store(backlog: int, dropped: int, healthy: bool, principal: Principal) -> dict[str, Any]:
    """The recorder's /arbiter/stats block: its backlog and drops count every tenant's
    records, so a tenant's key is shown only whether the store is healthy."""
    if principal.sees_all:
        return {"backlog": backlog, "dropped": dropped, "healthy": healthy}
    return {"healthy": healthy}
