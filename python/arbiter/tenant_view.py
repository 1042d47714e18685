"""What a tenant's key is shown of the models it may not use (`[tenants.X] allowed_models`):
nothing. `/v1/models` lists only its models and `/v1/models/{id}` is a 404 for the others,
but a decision's candidates listed each of them ("not allowed for this tenant") and
`/arbiter/stats` showed their circuits, with failure counts other tenants' traffic caused.
The admin and dashboard keys see everything."""

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
