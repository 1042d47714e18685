"""The LLM judge's own upstream calls: through the same providers and failover as answers, in
the judge model's protocol, reserved and settled against `budgets.judge_scope` (a cascade's
in-request judge: against the request's own caps, as the caller pays it), and recorded as
decisions of mode `judge` so their spend is never hidden."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from typing import Protocol as CallShape

from arbiter.budget import BoundCap
from arbiter.canonical import Protocol
from arbiter.config import ModelSettings
from arbiter.dropped_usage import own_call_cost
from arbiter.failed_calls import record_failed_call
from arbiter.failover import run_with_failover
from arbiter.protocols.anthropic_encode import encode_request as encode_anthropic
from arbiter.protocols.openai import decode_request
from arbiter.records import Attempt, DecisionMode, DecisionRecord
from arbiter.types import ChatResult
from arbiter.worst_case import CallWorst

if TYPE_CHECKING:
    from arbiter.services import Services


def judge_body(
    messages: list[dict[str, str]], m: ModelSettings, protocol: Protocol
) -> dict[str, Any]:
    """The judge's request for model `m`, in the protocol its upstream speaks."""
    body: dict[str, Any] = {"model": m.upstream_model, "messages": messages, "temperature": 0}
    if protocol == "anthropic":
        canonical = decode_request({**body, "max_tokens": JUDGE_MAX_TOKENS})
        return encode_anthropic(canonical, m.upstream_model, default_max_tokens=JUDGE_MAX_TOKENS)
    body[m.max_tokens_param] = JUDGE_MAX_TOKENS
    return body


JUDGE_MAX_TOKENS = 200

log = logging.getLogger(__name__)


class PaidJudgeCall(CallShape):
    """A judge call: its reply's text; `judge` names the model to call (the cascade's self-judge:
    the first answer's own); `on_cost` is told what it cost (the cascade's judge adds it to the
    request's cost as the caller sees it: `Plan.judge_cost`); `caps`: the caps it is reserved
    and settled against, when not `budgets.judge_scope`'s (the cascade's judge: the request's
    own, as the caller pays it)."""

    def __call__(
        self,
        messages: list[dict[str, str]],
        tenant: str,
        judge: str | None = None,
        on_cost: Callable[[float], None] | None = None,
        caps: tuple[BoundCap, ...] | None = None,
    ) -> Awaitable[str]: ...


def judge_caller(
    services: Services, model: str | None = None, mode: DecisionMode = "judge"
) -> PaidJudgeCall:
    """The LLM judge goes through the same upstream machinery. Its spend is recorded against the
    tenant whose answer it grades, and reserved and settled against the caps of
    `budgets.judge_scope`; a call the caps refuse raises BudgetExceeded (the learner logs it and
    skips the grade: grading is best-effort). `model`: the judge to call (default
    `routing.judge_model`; the cascade's in-request judge is `routing.cascade_judge_model`).
    A call's own `judge` wins over both (the cascade's self-judge: the first answer's model).
    `mode`: its decision's (records.py): "judge", a learning call, or "cascade_judge", whose
    cost the graded request's own decision holds (`on_cost`)."""

    async def call(
        messages: list[dict[str, str]],
        tenant: str,
        judge: str | None = None,
        on_cost: Callable[[float], None] | None = None,
        caps: tuple[BoundCap, ...] | None = None,
    ) -> str:
        """`on_cost`: told the call's cost (the cascade's judge: the request's spend too);
        `caps`: PaidJudgeCall's."""
        s = services
        judge = judge or model or s.settings.routing.judge_model
        assert judge is not None, "judge_caller is only wired when a judge model is configured"
        m = s.registry[judge]
        body = judge_body(messages, m, s.protocol_of(judge))
        decision_id = s.new_id()
        worst = CallWorst(
            lambda name: s.registry[name], body, JUDGE_MAX_TOKENS,
            s.settings.budgets.image_tokens, learnt=s.prompt_ratios.tokens,
            markup=s.cost_ratios.factor,
        )  # fmt: skip
        if caps is None:
            caps = s.budgets.judge_caps(tenant, s.budgets.now())
        charge = await s.budgets.open(decision_id, caps, worst, (judge,))
        attempts: list[Attempt] = []
        started = time.perf_counter()

        async def send(model: str) -> ChatResult:
            return await s.budgets.call(
                charge, model, lambda: s.upstream_for(model).complete(body, s.registry[model])
            )

        try:
            _, result = await run_with_failover(
                (judge,), send, settings=s.settings.failover, breaker=s.breaker, attempts=attempts
            )
        except BaseException as err:
            await s.budgets.settle(decision_id, charge.committed)
            if on_cost is not None and charge.committed:  # a failed call may be billed
                on_cost(charge.committed)
            # what it may have cost is settled against the judge's caps: a decision says so
            await record_failed_call(
                s, decision_id=decision_id, tenant=tenant, task="judge", mode=mode, model=judge,
                reason="LLM judge call", err=err, cost_usd=charge.committed, started=started,
                attempts=tuple(attempts),
            )  # fmt: skip
            raise
        # a usage lacking a side (or all of it) counted from the reply, as an answer's is
        cost, u = await own_call_cost(s, judge, worst, result)
        cost += charge.committed
        await s.budgets.settle(decision_id, cost)
        await s.record(
            DecisionRecord(
                id=decision_id,
                ts=time.time(),
                tenant=tenant,
                task="judge",
                mode=mode,
                chosen_model=judge,
                reason="LLM judge call",
                candidates=(),
                attempts=tuple(attempts),
                status="ok",
                cost_usd=cost,
                baseline_model=judge,
                baseline_cost_usd=0.0,
                latency_ms=(time.perf_counter() - started) * 1000,
                prompt_tokens=u.prompt_tokens,
                completion_tokens=u.completion_tokens,
            )
        )
        if on_cost is not None:
            on_cost(cost)
        if result.finish_reason == "length":
            # cut at JUDGE_MAX_TOKENS: its last SCORE line may be cut too ("SCORE: 1" of "10")
            # or not its verdict yet; paid and recorded, but no verdict
            log.warning("judge reply cut at its token limit: no verdict", extra={"model": judge})
            return ""
        return result.content

    return call
