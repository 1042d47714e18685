"""One chat request, end to end: classify -> route -> call with failover -> record -> grade later.

Protocol-free: surfaces parse the wire format into a ChatRequest and render what this returns.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
import time
from collections.abc import AsyncGenerator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from arbiter.cascade import min_answer_rule, verified_escalation
from arbiter.classify import classify
from arbiter.difficulty import prompt_stats
from arbiter.errors import (
    ArbiterError,
    ClientDisconnected,
    ContextTooLong,
    PolicyDenied,
    UnknownModel,
    UpstreamError,
)
from arbiter.failover import run_with_failover
from arbiter.learning import Answered
from arbiter.principal import Principal
from arbiter.records import Attempt, Candidate, DecisionRecord
from arbiter.routing import RouteRequest
from arbiter.surfaces.openai import sse_error_event
from arbiter.types import ChatRequest, ChatResult, Usage, estimate_tokens
from arbiter.upstream.base import UpstreamStream
from arbiter.upstream.openai import parse_chunk

if TYPE_CHECKING:
    from arbiter.services import Services

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Plan:
    """What was decided before any upstream call."""

    decision_id: str
    tenant: str
    task: str
    mode: str
    models: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    reason: str
    easiness: float | None
    started: float
    principal: Principal
    cascade_first: str | None = None  # try this cheaper model first, escalate if it looks weak
    stats: bytes | None = None  # the prompt's text statistics (difficulty.prompt_stats)


@dataclass(slots=True)
class Completed:
    result: ChatResult
    headers: dict[str, str]


@dataclass(slots=True)
class Streamed:
    events: Relay
    headers: dict[str, str]

    async def aclose(self) -> None:
        """End the relay (idempotent): a relay not run to its end counts as a disconnect."""
        await self.events.aclose()


class DecisionIds:
    """Unique ids without a syscall per request: a random per-process prefix plus a counter.
    (os.urandom releases the GIL on every call, handing it to the recorder thread and stalling
    the event loop for up to a switch interval: visible in the p99.)"""

    def __init__(self) -> None:
        self._prefix = "dec_" + os.urandom(8).hex()
        self._next = itertools.count(int.from_bytes(os.urandom(3)))

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._next):08x}"


class Pipeline:
    def __init__(self, services: Services) -> None:
        self.s = services

    # -- planning ---------------------------------------------------------------------------
    def plan(self, req: ChatRequest, principal: Principal) -> Plan:
        s = self.s
        task = classify(req.messages, req.response_format, req.has_tools)
        started = time.perf_counter()
        decision_id = s.new_id()
        if req.model == "auto":
            stats = prompt_stats(req.prompt_text)
            easiness = s.difficulty.easiness_of(stats) if s.difficulty else None
            needs = set()
            if req.has_tools:
                needs.add("tools")
            if req.has_images:
                needs.add("vision")
            route = s.router_for(principal).decide(
                RouteRequest(
                    principal.tenant,
                    task,
                    req.prompt_tokens,
                    req.max_tokens,
                    frozenset(needs),
                    easiness,
                    stats,
                ),
                allowed=sorted(principal.allowed_models) if principal.allowed_models else None,
            )
            models = (route.chosen, *route.fallbacks)
            return Plan(
                decision_id,
                principal.tenant,
                task,
                "routed",
                models,
                route.candidates,
                route.reason,
                easiness,
                started,
                principal,
                self._cascade_first(req, task, route.chosen, route.candidates),
                stats,
            )
        model = s.registry.get(req.model)
        if model is None or not s.is_routable(req.model):
            raise UnknownModel(
                f"The model `{req.model}` does not exist or you do not have access to it.",
                param="model",
            )
        if principal.allowed_models is not None and req.model not in principal.allowed_models:
            raise PolicyDenied(f"Model `{req.model}` is not allowed for this key.", param="model")
        need = req.prompt_tokens + (req.max_tokens or 1)
        if need > model.context_window:
            raise ContextTooLong(
                f"This model's maximum context length is {model.context_window} tokens; "
                f"the request needs about {need}.",
                param="messages",
            )
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
            stats=prompt_stats(req.prompt_text),  # its answer length teaches routing too
        )

    def _cascade_first(
        self, req: ChatRequest, task: str, chosen: str, candidates: tuple[Candidate, ...]
    ) -> str | None:
        """For tasks configured to cascade (non-streaming only): `routing.cascade_first_model`
        (or else the cheapest eligible model), when it is eligible and cheaper than the routed
        choice."""
        r = self.s.settings.routing
        if req.stream or task not in r.cascade_tasks:
            return None
        eligible = [c for c in candidates if c.eligible]
        if r.cascade_first_model:
            first = next((c for c in eligible if c.model == r.cascade_first_model), None)
        else:
            first = min(eligible, key=lambda c: c.est_cost_usd, default=None)
        chosen_cost = next((c.est_cost_usd for c in eligible if c.model == chosen), 0.0)
        if first is None or first.model == chosen or first.est_cost_usd >= chosen_cost:
            return None
        return first.model

    async def _try_cascade(
        self, req: ChatRequest, plan: Plan, attempts: list[Attempt]
    ) -> tuple[ChatResult | None, float]:
        """Ask the cheap model first. Returns (its answer if good enough, the spend to add)."""
        s, cheap = self.s, plan.cascade_first
        assert cheap is not None
        started = time.perf_counter()
        try:
            result = await s.upstream_for(cheap).complete(req.body, s.registry[cheap])
        except ArbiterError as err:  # the cheap try failing is not the request failing
            attempts.append(Attempt(cheap, False, (time.perf_counter() - started) * 1000, err.code))
            return None, 0.0
        r = s.settings.routing
        if plan.task == "math" and s.math_verifier is not None:
            rule = verified_escalation(s.math_verifier, r.cascade_math_verifier)
        else:
            rule = min_answer_rule(r.cascade_min_answer_tokens.get(plan.task, 0))
        # Graders and the verifier scan the answer: CPU work, kept off the event loop.
        escalate, why = await asyncio.to_thread(
            rule,
            plan.task,
            req.prompt_text,
            result.content,
            result.finish_reason,
            req.response_format,
        )
        latency = (time.perf_counter() - started) * 1000
        if not escalate:
            attempts.append(Attempt(cheap, True, latency))
            plan.reason += f"; cascade: {cheap} answered first and its answer passed"
            return result, 0.0
        attempts.append(Attempt(cheap, True, latency, f"escalated: {why}"[:120]))
        # the escalated answer's length still teaches (a kept one is recorded, and seen, later)
        if plan.stats is not None and result.usage.completion_tokens:
            s.lengths.observe(cheap, plan.stats, result.usage.completion_tokens)
        plan.reason += f"; cascade: {cheap} tried first, escalated ({why})"
        u = result.usage
        spent = u.reported_cost_usd
        if spent is None:
            spent = s.registry[cheap].cost_usd(
                u.prompt_tokens or req.prompt_tokens,
                u.completion_tokens or estimate_tokens(result.content),
            )
        return None, spent

    # -- non-streaming ----------------------------------------------------------------------
    async def complete(self, req: ChatRequest, plan: Plan) -> Completed:
        """Answer in one piece, failing over as needed. Cancelled (the client left), it records
        the decision as `client_disconnected`; the upstream call was cancelled with it."""
        attempts: list[Attempt] = []
        try:
            return await self._complete(req, plan, attempts)
        except asyncio.CancelledError:
            gone = ClientDisconnected("the client disconnected before the answer")
            with anyio.CancelScope(shield=True):
                await self._record(req, plan, plan.models[0], None, attempts, gone, "")
            raise

    async def _complete(self, req: ChatRequest, plan: Plan, attempts: list[Attempt]) -> Completed:
        s = self.s
        extra = 0.0
        if plan.cascade_first is not None:
            cheap_answer, extra = await self._try_cascade(req, plan, attempts)
            if cheap_answer is not None:
                model = plan.cascade_first
                cost, baseline_cost = await self._record(
                    req, plan, model, cheap_answer.usage, attempts, None, cheap_answer.content
                )
                self._after(req, plan, model, cheap_answer.content, cheap_answer.finish_reason)
                return Completed(cheap_answer, self.headers(plan, model, cost, baseline_cost))
        try:
            model, result = await run_with_failover(
                plan.models,
                lambda m: s.upstream_for(m).complete(req.body, s.registry[m]),
                settings=s.settings.failover,
                breaker=s.breaker,
                attempts=attempts,
            )
        except ArbiterError as err:
            await self._record(req, plan, plan.models[0], None, attempts, err, "", extra=extra)
            raise
        cost, baseline_cost = await self._record(
            req, plan, model, result.usage, attempts, None, result.content, extra=extra
        )
        self._after(req, plan, model, result.content, result.finish_reason)
        return Completed(result, self.headers(plan, model, cost, baseline_cost))

    # -- streaming --------------------------------------------------------------------------
    async def stream(self, req: ChatRequest, plan: Plan) -> Streamed:
        """Fail over until an upstream produced its first content, then relay it as it comes.

        The caller should `await streamed.aclose()` when the response ends, however it ends."""
        s = self.s
        attempts: list[Attempt] = []
        try:
            model, upstream = await run_with_failover(
                plan.models,
                lambda m: s.upstream_for(m).open_stream(req.body, s.registry[m]),
                settings=s.settings.failover,
                breaker=s.breaker,
                attempts=attempts,
            )
        except ArbiterError as err:
            await self._record(req, plan, plan.models[0], None, attempts, err, "", stream=True)
            raise
        est = s.registry[model].cost_usd(req.prompt_tokens, req.max_tokens or 0)
        base_est = s.baseline_for(plan.principal).cost_usd(req.prompt_tokens, req.max_tokens or 0)
        headers = self.headers(plan, model, est, base_est)
        headers["x-arbiter-cost-final"] = "false"  # the real cost is in the decision record
        finish = functools.partial(self._finish_stream, req, plan, model, upstream, attempts)
        return Streamed(Relay(self, req, model, upstream, finish), headers)

    async def _relay(
        self,
        req: ChatRequest,
        model: str,
        upstream: UpstreamStream,
        outcome: _StreamOutcome,
        finish: _Finish,
    ) -> AsyncGenerator[bytes, None]:
        """Forward each upstream chunk as it arrives; end with `[DONE]` only when the upstream
        finished properly, else with one OpenAI-shaped error event. Never references the Relay,
        so dropping an unfinished Relay lets Python finalize this generator at once."""
        try:
            try:
                async for event in upstream.events():
                    if _inspect_chunk(event, model, req.include_usage, outcome):
                        yield b"data: " + event + b"\n\n"  # each chunk as it comes, never batched
                if not upstream.done:
                    raise UpstreamError(f"{model}: the stream ended without [DONE]")
                if outcome.finish is None:
                    raise UpstreamError(f"{model}: the stream ended without a finish_reason")
                final = b"data: [DONE]\n\n"
            except UpstreamError as err:
                outcome.failure = err
                self.s.breaker.failure(model)
                final = sse_error_event(err)
            outcome.complete = True
            yield final
        except (asyncio.CancelledError, GeneratorExit):
            if not outcome.complete:
                outcome.failure = ClientDisconnected("the client disconnected mid-stream")
            raise
        finally:
            with anyio.CancelScope(shield=True):  # record even while the response is cancelled
                await finish(outcome)

    async def _finish_stream(
        self,
        req: ChatRequest,
        plan: Plan,
        model: str,
        upstream: UpstreamStream,
        attempts: list[Attempt],
        outcome: _StreamOutcome,
    ) -> None:
        """Close the upstream, record the decision, and grade a complete answer (once)."""
        if outcome.finished:
            return
        outcome.finished = True
        await upstream.aclose()
        content = "".join(outcome.parts)
        failure = outcome.failure
        if isinstance(failure, UpstreamError):
            attempts.append(Attempt(model, False, outcome.elapsed_ms(), failure.code))
        await self._record(
            req, plan, model, upstream.usage, attempts, failure, content, stream=True
        )
        if failure is None:
            self._after(req, plan, model, content, outcome.finish)

    # -- shared -----------------------------------------------------------------------------
    def headers(self, plan: Plan, model: str, cost: float, baseline_cost: float) -> dict[str, str]:
        return {
            "x-arbiter-model": model,
            "x-arbiter-decision-id": plan.decision_id,
            "x-arbiter-task": plan.task,
            "x-arbiter-cost-usd": f"{cost:.8f}",
            "x-arbiter-baseline-cost-usd": f"{baseline_cost:.8f}",
        }

    async def _record(
        self,
        req: ChatRequest,
        plan: Plan,
        model: str,
        usage: Usage | None,
        attempts: list[Attempt],
        error: ArbiterError | None,
        content: str,
        *,
        stream: bool = False,
        extra: float = 0.0,
    ) -> tuple[float, float]:
        """Write the decision; `extra` is spend on earlier calls (an escalated cascade try)."""
        s = self.s
        m = s.registry[model]
        pt = usage.prompt_tokens if usage and usage.prompt_tokens else req.prompt_tokens
        ct = (
            usage.completion_tokens
            if usage and usage.completion_tokens
            else estimate_tokens(content)
        )
        registry_cost = m.cost_usd(pt, ct)
        source = "registry"
        cost = registry_cost
        if usage is not None and usage.reported_cost_usd is not None:
            cost, source = usage.reported_cost_usd, "upstream"
            s.alerts.check_price(plan.tenant, model, cost, registry_cost)
        if usage is None and error is not None and not content:
            cost = 0.0  # nothing answered, nothing billed (our best guess without usage)
        cost += extra
        baseline = s.baseline_for(plan.principal)
        baseline_cost = baseline.cost_usd(pt, ct)
        record = DecisionRecord(
            id=plan.decision_id,
            ts=time.time(),
            tenant=plan.tenant,
            task=plan.task,
            mode=plan.mode,  # type: ignore[arg-type]
            chosen_model=model,
            reason=plan.reason,
            candidates=plan.candidates,
            attempts=tuple(attempts),
            status="failed" if error else "ok",
            cost_usd=cost,
            baseline_model=baseline.name,
            baseline_cost_usd=baseline_cost,
            latency_ms=(time.perf_counter() - plan.started) * 1000,
            prompt_tokens=pt,
            completion_tokens=ct,
            stream=stream,
            difficulty=plan.easiness,
            key_id=plan.principal.key_id,
            error=error.code if error else None,
            cost_source=source,  # type: ignore[arg-type]
        )
        await s.record(record)
        s.on_spend(plan, cost)
        if plan.stats is not None and usage is not None and usage.completion_tokens:
            s.lengths.observe(model, plan.stats, usage.completion_tokens)
        return cost, baseline_cost

    def _after(
        self, req: ChatRequest, plan: Plan, model: str, content: str, finish: str | None
    ) -> None:
        self.s.learner.after_answer(
            Answered(
                plan.decision_id,
                plan.tenant,
                plan.task,
                model,
                req.prompt_text,
                content,
                finish,
                req.response_format,
                plan.easiness,
            )
        )


_Finish = Callable[["_StreamOutcome"], Coroutine[Any, Any, None]]


@dataclass(slots=True)
class _StreamOutcome:
    """What a relay saw; shared by the relay generator and its finisher."""

    started: float = field(default_factory=time.perf_counter)
    parts: list[str] = field(default_factory=list)
    finish: str | None = None
    failure: ArbiterError | None = None
    complete: bool = False  # the final event ([DONE] or the error event) was handed out
    finished: bool = False  # recorded

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


def _inspect_chunk(event: bytes, model: str, include_usage: bool, outcome: _StreamOutcome) -> bool:
    """Collect text and finish_reason from one chunk; False for a chunk the client must not get
    (usage it did not ask for). Raises UpstreamError for garbage or an upstream error event."""
    chunk = parse_chunk(event, model)
    choices = chunk.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        delta = choices[0].get("delta")
        text = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(text, str):
            outcome.parts.append(text)
        reason = choices[0].get("finish_reason")
        if isinstance(reason, str):
            outcome.finish = reason
        return True
    # we always ask the upstream for usage (for cost); the client gets it only if it asked
    return not (chunk.get("usage") is not None and not include_usage)


class Relay:
    """The client-facing SSE bytes of one streamed answer, in OpenAI's chunk format.

    Ends with `[DONE]`, or with one terminal error event. Cancelled mid-stream, closed with
    `aclose()` before its end, or dropped unfinished (Python finalizes the generator, which holds
    no reference back to this object), it closes the upstream and records `client_disconnected`.
    Only a relay never iterated needs `aclose()` to be recorded: the server should always call it.
    """

    __slots__ = ("_finish", "_gen", "_outcome")

    def __init__(
        self,
        pipeline: Pipeline,
        req: ChatRequest,
        model: str,
        upstream: UpstreamStream,
        finish: _Finish,
    ) -> None:
        self._outcome = _StreamOutcome()
        self._finish = finish
        self._gen = pipeline._relay(req, model, upstream, self._outcome, finish)

    def __aiter__(self) -> Relay:
        return self

    async def __anext__(self) -> bytes:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        await self._gen.aclose()  # mid-stream: its `finally` records the disconnect
        if not self._outcome.finished:  # never iterated: the client left before the first byte
            self._outcome.failure = ClientDisconnected("the client disconnected before the stream")
            await self._finish(self._outcome)


def judge_caller(services: Services) -> Callable[[list[dict[str, str]], str], Any]:
    """The LLM judge goes through the same upstream machinery, and its spend is recorded
    against the tenant whose answer it grades."""

    async def call(messages: list[dict[str, str]], tenant: str) -> str:
        s = services
        judge = s.settings.routing.judge_model
        assert judge is not None, "judge_caller is only wired when a judge model is configured"
        body: dict[str, Any] = {"messages": messages, "max_tokens": 200, "temperature": 0}
        attempts: list[Attempt] = []
        started = time.perf_counter()
        _, result = await run_with_failover(
            (judge,),
            lambda m: s.upstream_for(m).complete(body, s.registry[m]),
            settings=s.settings.failover,
            breaker=s.breaker,
            attempts=attempts,
        )
        m = s.registry[judge]
        cost = result.usage.reported_cost_usd
        if cost is None:
            cost = m.cost_usd(result.usage.prompt_tokens, result.usage.completion_tokens)
        await s.record(
            DecisionRecord(
                id=s.new_id(),
                ts=time.time(),
                tenant=tenant,
                task="judge",
                mode="judge",
                chosen_model=judge,
                reason="LLM judge call",
                candidates=(),
                attempts=tuple(attempts),
                status="ok",
                cost_usd=cost,
                baseline_model=judge,
                baseline_cost_usd=0.0,
                latency_ms=(time.perf_counter() - started) * 1000,
                prompt_tokens=result.usage.prompt_tokens,
                completion_tokens=result.usage.completion_tokens,
            )
        )
        return result.content

    return call
