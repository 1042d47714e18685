"""One upstream call of a request: its body in the model's protocol, traced when telemetry is on,
under the request's charge (split from pipeline.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from arbiter import telemetry
from arbiter.call_pricing import pinned
from arbiter.config import ModelSettings
from arbiter.request_plan import Plan
from arbiter.types import ChatRequest
from arbiter.upstream_body import body_to_send

if TYPE_CHECKING:
    from arbiter.services import Services

_T = TypeVar("_T")


async def call_upstream(
    s: Services,
    req: ChatRequest,
    plan: Plan,
    model: str,
    send: Callable[[dict[str, Any], ModelSettings], Awaitable[_T]],
) -> _T:
    """One upstream call in `model`'s protocol, under the request's charge (Budgets.call:
    reserved before it is made, what a failed call may have cost committed)."""
    m = pinned(s, plan, model)  # the prices it is sent at are the prices it is charged
    protocol = s.protocol_of(model)
    body = await body_to_send(req, m, protocol)

    def call() -> Awaitable[_T]:
        return send(body, m)

    if telemetry.TRACER is not None:
        params = {"max_tokens": req.max_tokens, "temperature": body.get("temperature"),
                  "top_p": body.get("top_p")}  # fmt: skip
        untraced = call

        def call() -> Awaitable[_T]:
            return telemetry.attempt(
                untraced, operation="chat", provider=protocol, model=model,
                upstream_model=m.upstream_model, params=params,
            )  # fmt: skip

    if plan.charge is None:
        return await call()
    return await s.budgets.call(plan.charge, model, call)
