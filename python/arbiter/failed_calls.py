"""The decision of one of Arbiter's own calls (a shadow call, a latency probe, a judge call) that
failed: recorded with what it may have cost.

Such a call is settled against its caps like any other (a failure the upstream may have billed,
a 5xx, a reset, a timeout, commits the call's worst case: budget.py), but only answered calls
were recorded, so that spend was in a cap's `spent_usd` and nowhere else: a tenant's cap (the
judge's default `judge_scope`, or `shadow.count_against_tenant`) went down with no decision, no
stats line (`learning.by_mode.*.failed` stayed 0) and no export row to explain it. Recorded as
`status: "failed"` with the cost settled, the decisions add up to the caps' spend again.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from arbiter.errors import ArbiterError
from arbiter.records import Attempt, DecisionMode, DecisionRecord

if TYPE_CHECKING:
    from arbiter.services import Services

log = logging.getLogger(__name__)


def error_code(err: BaseException) -> str:
    """The code a failed call's decision names: the error's own, else its kind."""
    if isinstance(err, ArbiterError):
        return err.code
    return "cancelled" if type(err).__name__ == "CancelledError" else "internal_error"


async def record_failed_call(
    services: Services,
    *,
    decision_id: str,
    tenant: str,
    task: str,
    mode: DecisionMode,
    model: str,
    reason: str,
    err: BaseException,
    cost_usd: float,
    started: float,
    attempts: tuple[Attempt, ...] = (),
    key_id: str | None = None,
    difficulty: float | None = None,
) -> None:
    """Record the failed call `decision_id` (`started`: its time.perf_counter() at the start).
    Never raises: the caller re-raises the call's own error, which a failed write must not hide."""
    record = DecisionRecord(
        id=decision_id,
        ts=time.time(),
        tenant=tenant,
        task=task,
        mode=mode,
        chosen_model=model,
        reason=reason,
        candidates=(),
        attempts=attempts,
        status="failed",
        cost_usd=cost_usd,
        baseline_model=model,
        baseline_cost_usd=0.0,
        latency_ms=(time.perf_counter() - started) * 1000,
        prompt_tokens=0,
        completion_tokens=0,
        difficulty=difficulty,
        key_id=key_id,
        error=error_code(err),
    )
    try:
        await services.record(record)
    except Exception:  # strict durability's commit failed: logged there; the call's error wins
        log.warning("failed %s call %s not recorded", mode, decision_id, exc_info=True)
