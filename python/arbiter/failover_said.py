"""What a request's failover did, said in its decision's reason (`failover: oa-1 503, an-1
529, oa-2 answered`): the reason names the router's pick, which is not the model that answered
when the first failed, and the attempts alone do not say it in one line. A cascade's failed
first try says its own the same way (cascade_try.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from arbiter.records import Attempt

if TYPE_CHECKING:
    from arbiter.request_plan import Plan


def said(attempts: Sequence[Attempt]) -> str:
    """Each attempt in order: `model 503` (its upstream status, else its error code, as
    `circuit_open` for a call never made), `model answered` for one that answered."""
    return ", ".join(
        f"{a.model} answered" if a.ok else f"{a.model} {a.status or a.error or 'failed'}"
        for a in attempts
    )


def note(plan: Plan, attempts: Sequence[Attempt]) -> None:
    """The decision's reason says a failover that answered after a failure (none said when the
    first call answered)."""
    if any(not a.ok for a in attempts):
        plan.reason += f"; failover: {said(attempts)}"
