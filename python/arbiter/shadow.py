"""Challenger models and shadow traffic.

A challenger (a new or named model: `[shadow] challengers`, or one an operator marks) is kept out
of `auto` routing. After a request is answered, a sampled share of eligible traffic is sent *also*
to a challenger, in the background: the client already has its answer, so a shadow call adds no
latency and its failure never reaches the client. The challenger's answer is graded by the same
graders and judge (learning.py) and taught to the policy as evidence for that model; each pair
(served answer, challenger answer) also feeds an A/B report. When the evidence says a challenger
meets the quality target on a task, with stated confidence, it is promoted: it enters routing for
that task. Operators can promote, pause, resume or retire a challenger through the admin API.

Spend: each shadow call is reserved before it is made against a daily cap of its own
(`shadow.budget_usd`, an account "shadow" in the budget system, shared by replicas through the
store), and against the tenant's caps only when `shadow.count_against_tenant`. Shadow calls are
recorded as decisions of mode `shadow` (latency probes: `probe`), which a tenant's stats report
apart from its own requests (records.LEARNING_MODES).

Latency probes use the same path: when the router sets a model aside under a latency SLO only
because of its latency prior (no call of it seen: `RouteDecision.latency_probe`), that model gets
one background call (one in flight per model) so its speed is learnt. Without it, a tenant whose
every request has an SLO never tries a cheaper model whose prior is slow, and pays a pricier one
for good. Every shadow call's time teaches the latency model, as a served call's does.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import statistics
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from arbiter import sampling
from arbiter.budget import BoundCap, window_bounds
from arbiter.config import CapSettings, ShadowSettings
from arbiter.dropped_usage import own_call_cost
from arbiter.errors import ArbiterError, InvalidRequest, UnknownModel, UpstreamError
from arbiter.failed_calls import record_failed_call
from arbiter.failover import CircuitBreaker, is_retryable, misconfiguration
from arbiter.learning import Answered
from arbiter.records import SYSTEM_TENANT, DecisionRecord, GradeRecord
from arbiter.routing import SHADOW_ONLY
from arbiter.routing_types import context_need
from arbiter.server_tools import acting, stored
from arbiter.upstream_body import (
    STRICT_SCHEMA,
    body_to_send,
    cross_protocol_blocks,
    wants_json,
    wants_strict_schema,
    wants_strict_tools,
)
from arbiter.worst_case import CallWorst, image_parts_off_loop, prompt_tokens_async

if TYPE_CHECKING:
    from arbiter.request_plan import Plan
    from arbiter.services import Services
    from arbiter.types import ChatRequest

log = logging.getLogger(__name__)

Status = Literal["challenger", "promoted", "paused", "retired"]
STATUSES: tuple[Status, ...] = ("challenger", "promoted", "paused", "retired")
ACTIONS = {"promote": "promoted", "pause": "paused", "resume": "challenger", "retire": "retired"}
_REMEMBER = 50_000  # shadow pairs whose grades are awaited
NEW_AFTER_S = 1.0  # listed this long after the upstream's first listing: a new model


@dataclass(slots=True)
class _Tally:
    """One challenger's A/B numbers on this replica (per task and overall)."""

    calls: int = 0
    failed: int = 0
    cost_usd: float = 0.0
    graded: int = 0
    grade_sum: float = 0.0
    grade_sq: float = 0.0
    pairs: int = 0
    diff_sum: float = 0.0  # challenger grade - served grade, on the same requests
    diff_sq: float = 0.0
    incumbent_sum: float = 0.0

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "calls": self.calls,
            "failed": self.failed,
            "cost_usd": round(self.cost_usd, 9),
            "graded": self.graded,
            "mean_grade": round(self.grade_sum / self.graded, 4) if self.graded else None,
            "pairs": self.pairs,
        }
        if self.pairs:
            mean = self.diff_sum / self.pairs
            var = max(self.diff_sq / self.pairs - mean * mean, 0.0)
            half = 1.96 * math.sqrt(var / self.pairs) if self.pairs > 1 else None
            out["incumbent_mean_grade"] = round(self.incumbent_sum / self.pairs, 4)
            out["grade_vs_incumbent"] = {
                "mean_difference": round(mean, 4),
                "ci95": None if half is None else [round(mean - half, 4), round(mean + half, 4)],
            }
        return out


@dataclass(slots=True)
class _Pair:
    challenger: str
    task: str
    served: float | None = None  # the served answer's grade, once known
    shadow: float | None = None


@dataclass(slots=True)
class Challengers:
    """Each challenger's status and promoted tasks: the config's list, then the store's rows
    (the promotion rule's and operators' changes, from any replica)."""

    configured: tuple[str, ...]
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    # models that are challengers unless the store says otherwise: the configured ones, and
    # (shadow.challenge_new_models) models a listing brought after it was first read
    defaults: dict[str, str] = field(default_factory=dict)  # model -> why

    def __post_init__(self) -> None:
        for name in self.configured:
            self.defaults[name] = "configured as a challenger"
        self.adopt({})

    def add_default(self, name: str, why: str) -> None:
        if name not in self.defaults:
            self.defaults[name] = why
            self.state.setdefault(name, {"status": "challenger", "tasks": [], "note": why})

    def adopt(self, rows: dict[str, dict[str, Any]]) -> None:
        fresh = {
            n: {"status": "challenger", "tasks": [], "note": why}
            for n, why in self.defaults.items()
        }
        fresh.update(
            {n: r for n, r in rows.items() if r.get("status") in STATUSES}  # unknown: ignore
        )
        self.state = fresh

    def blocked_for(self, task: str) -> dict[str, str]:
        """Models `auto` must not route `task` to, with why."""
        out = {}
        for name, st in self.state.items():
            status = st["status"]
            if status == "promoted" and (not st["tasks"] or task in st["tasks"]):
                continue
            if status == "challenger" and task in st["tasks"]:
                continue  # promoted for this task while it is still tried on others
            out[name] = f"{status}: {SHADOW_ONLY} for {task}"
        return out

    def unrouted(self) -> frozenset[str]:
        """Models `auto` routes no task to: challengers not promoted for any task, paused and
        retired ones (GET /v1/models lists them as not routed)."""
        return frozenset(
            name
            for name, st in self.state.items()
            if not (st["status"] == "promoted" or (st["status"] == "challenger" and st["tasks"]))
        )

    def targets(self) -> list[str]:
        """Challengers that get shadow traffic now."""
        return [n for n, st in self.state.items() if st["status"] == "challenger"]


class Shadow:
    def __init__(self, services: Services, rng: random.Random | None = None) -> None:
        self.s = services
        self.cfg: ShadowSettings = services.settings.shadow
        self.challengers = Challengers(tuple(self.cfg.challengers))
        self._rng = rng or random.Random()
        self._in_flight = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pairs: OrderedDict[str, tuple[str, str]] = OrderedDict()  # decision -> (pair, role)
        self._pending: dict[str, _Pair] = {}
        self._tally: dict[tuple[str, str], _Tally] = {}  # (challenger, task)
        self.skipped: dict[str, int] = {}  # why shadow calls were not made
        self._probing: set[str] = set()  # models with a latency probe in flight
        self.probes = 0  # latency probes made (calls started)
        self.active = bool(self.challengers.state)
        # this replica's challenger writes begun and done, under a lock the policy sync's
        # thread shares: refresh adopts only a read no write of ours was in flight across
        self._lock = threading.Lock()
        self._writes_begun = 0
        self._writes_done = 0

    # -- the request path (cheap: one dict check when there are no challengers) -----------------
    def blocked(self, task: str) -> dict[str, str] | None:
        return self.challengers.blocked_for(task) if self.active else None

    def after_answer(self, req: ChatRequest, plan: Plan, served: str) -> None:
        """Maybe send this answered request to a challenger too, in the background; and to
        the model its plan names for a latency probe."""
        # a copy would have the provider act again or store a second answer (server_tools.py):
        # never shadowed (read only when a copy would be made: most answers make none)
        if plan.latency_probe is not None:
            if (kept := _provider_side(req.body)) is not None:
                self._skip(kept)
            else:
                self._probe_latency(req, plan, plan.latency_probe)
        if not self.active or plan.mode != "routed":
            return
        rate = self.cfg.task_rates.get(plan.task, self.cfg.sample_rate)
        rate = self.cfg.tenant_rates.get(plan.tenant, rate)
        if rate <= 0.0 or self._rng.random() >= rate:
            return
        if (kept := _provider_side(req.body)) is not None:
            self._skip(kept)
            return
        # never a model the tenant may not use: its prompt would reach a provider the
        # operator kept it from ([tenants.X] allowed_models)
        allowed = plan.principal.allowed_models
        candidates = [
            m
            for m in self.challengers.targets()
            if m != served and (allowed is None or m in allowed) and self._fits(req, m)
        ]
        if not candidates:
            self._skip("no_eligible_challenger")
            return
        # a model its upstream asked to pause (Retry-After) or whose circuit is open is not
        # called for Arbiter's own learning: its limit is the clients' too
        candidates = [m for m in candidates if self._callable(m)]
        if not candidates:
            self._skip("upstream_paused")
            return
        if self._in_flight >= self.cfg.max_in_flight:
            self._skip("too_many_in_flight")
            return
        challenger = self._rng.choice(candidates)
        self._in_flight += 1
        shadow_id = self.s.new_id()
        # paired now: the served answer's grade may arrive before the shadow call ends
        self._remember(plan.decision_id, shadow_id, challenger, plan.task)
        task = asyncio.get_running_loop().create_task(self._run(req, plan, challenger, shadow_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _probe_latency(self, req: ChatRequest, plan: Plan, model: str) -> None:
        """One background call of `model`, whose latency no call has shown yet, to learn it."""
        if model in self._probing or self.s.latency.estimate(model).calls > 0:
            return  # one at a time: its answer is the evidence the next decision lacks
        if self._in_flight >= self.cfg.max_in_flight or not self._fits(req, model):
            self._skip("latency_probe_skipped")
            return
        if not self._callable(model):
            self._skip("upstream_paused")
            return
        self._probing.add(model)
        self._in_flight += 1
        self.probes += 1
        probe_id = self.s.new_id()
        why = f"latency probe of {model} (no call of it seen yet) for {plan.decision_id}"
        task = asyncio.get_running_loop().create_task(
            self._run(req, plan, model, probe_id, why, "probe")
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _t: self._probing.discard(model))

    def _fits(self, req: ChatRequest, model: str) -> bool:
        m = self.s.registry.get(model)
        if m is None:
            return False
        if req.has_tools and "tools" not in m.capabilities:
            return False
        if req.has_images and "vision" not in m.capabilities:
            return False
        if sampling.sets_both(req.body) and sampling.ONE_SAMPLER in m.capabilities:
            # the request's temperature with top_p: a guaranteed 400 from this model (routing
            # rules it out the same way, request_checks.py); the skip is counted, by name
            self._skip("temperature_or_top_p")
            return False
        # structured output, as routing rules it (route_plan.py): a strict schema crossing
        # protocols needs the model's own structured outputs; and what its protocol can carry
        if wants_json(req) and "json" not in m.capabilities:
            return False
        if req.protocol != self.s.protocol_of(model):
            strict = wants_strict_schema(req) or wants_strict_tools(req)
            if strict and STRICT_SCHEMA not in m.capabilities:
                return False
            if cross_protocol_blocks(req, (model,), self.s.protocol_of):
                return False
        need = context_need(
            req.prompt_tokens_on(m.image_rule), req.kept_thinking_tokens, req.max_tokens,
            m.capabilities,
        )  # fmt: skip
        return need <= m.context_window

    def _skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    def _callable(self, model: str) -> bool:
        breaker = self.s.breaker
        return not breaker.held(model) and breaker.available(model)

    # -- one shadow call (background) -------------------------------------------------------
    async def _run(
        self,
        req: ChatRequest,
        plan: Plan,
        challenger: str,
        shadow_id: str,
        why: str = "",
        mode: Literal["shadow", "probe"] = "shadow",
    ) -> None:
        try:
            await self._call(req, plan, challenger, shadow_id, why, mode)
        except Exception:  # never reaches the client; logged and counted
            self._skip("failed")
            log.warning(
                "shadow call failed",
                extra={"model": challenger, "decision_id": plan.decision_id},
                exc_info=True,
            )
        finally:
            self._in_flight -= 1

    async def _call(
        self,
        req: ChatRequest,
        plan: Plan,
        challenger: str,
        decision_id: str,
        why: str,
        mode: Literal["shadow", "probe"],
    ) -> None:
        s = self.s
        m = s.registry[challenger]
        body = dict(await body_to_send(req, m, s.protocol_of(challenger)))
        body.pop("stream", None)  # the client's stream was its own; a shadow call is whole
        body.pop("stream_options", None)
        counted = req.budget_body or req.body
        # the served request's count when it made one; else counted as it does, a long prompt
        # in a thread (on the loop, it stalled every request in flight)
        prompt = plan.counted_prompt
        if prompt is None:
            prompt = await prompt_tokens_async(counted, 0) + req.unviewed_tokens
        worst = CallWorst(
            s.registry.__getitem__, counted, req.max_tokens, s.budgets.image_tokens, prompt,
            req.unviewed_tokens, req.kept_thinking_tokens, learnt=s.prompt_ratios.tokens,
            markup=s.cost_ratios.factor,
            images=await image_parts_off_loop(counted), sent=req.body,
        )  # fmt: skip
        now = s.budgets.now()
        start, end = window_bounds("day", now)
        caps: tuple[BoundCap, ...] = (
            BoundCap(
                "shadow", start, end, self.cfg.budget_usd,
                CapSettings("global", self.cfg.budget_usd, "day", "shadow"),
            ),
        )  # fmt: skip
        if self.cfg.count_against_tenant:
            caps += s.budgets.caps_for(plan.principal, now)
        try:
            charge = await s.budgets.open(decision_id, caps, worst, (challenger,))
        except ArbiterError as err:  # over the shadow budget (or the store is down): skip
            self._skip(err.code)
            return
        tally = self._tally.setdefault((challenger, plan.task), _Tally())
        tally.calls += 1
        started = time.perf_counter()
        try:
            result = await s.budgets.call(
                charge, challenger, lambda: s.upstream_for(challenger).complete(body, m)
            )
        except BaseException as err:
            tally.failed += 1
            _tell_breaker(s.breaker, challenger, err)
            await s.budgets.settle(decision_id, charge.committed)
            # what it may have cost is settled against its caps: a decision says so
            await record_failed_call(
                s, decision_id=decision_id, tenant=plan.tenant, task=plan.task, mode=mode,
                model=challenger, reason=why or f"shadow of {plan.decision_id}", err=err,
                cost_usd=charge.committed, started=started, key_id=plan.principal.key_id,
                difficulty=plan.easiness,
            )  # fmt: skip
            raise
        elapsed = time.perf_counter() - started
        s.breaker.success(challenger)
        # a whole (non-streamed) call's time, as a served one teaches it (latency_slo.py)
        s.latency.observe_call(
            challenger, plan.tenant, elapsed_s=elapsed, tokens=result.usage.completion_tokens
        )
        # a usage lacking a side (or all of it) counted from the answer, as a served one's is
        cost, priced = await own_call_cost(s, challenger, worst, result)
        cost += charge.committed
        await s.budgets.settle(decision_id, cost)
        tally.cost_usd += cost
        await s.record(
            DecisionRecord(
                id=decision_id,
                ts=time.time(),
                tenant=plan.tenant,
                task=plan.task,
                mode=mode,
                chosen_model=challenger,
                reason=why or f"shadow of {plan.decision_id}",
                candidates=(),
                attempts=(),
                status="ok",
                cost_usd=cost,
                baseline_model=challenger,
                baseline_cost_usd=0.0,
                latency_ms=elapsed * 1000,
                prompt_tokens=priced.prompt_tokens,
                completion_tokens=priced.completion_tokens,
                difficulty=plan.easiness,
                key_id=plan.principal.key_id,
            )
        )
        s.learner.after_answer(
            Answered(
                decision_id,
                plan.tenant,
                plan.task,
                challenger,
                req.prompt_text,
                result.content,
                result.finish_reason,
                req.response_format,
                plan.easiness,
                mode=mode,
            )
        )

    def _remember(self, served_id: str, shadow_id: str, challenger: str, task: str) -> None:
        self._pending[shadow_id] = _Pair(challenger, task)
        self._pairs[served_id] = (shadow_id, "served")
        self._pairs[shadow_id] = (shadow_id, "shadow")
        while len(self._pairs) > _REMEMBER:
            _, (pair_id, _) = self._pairs.popitem(last=False)
            self._pending.pop(pair_id, None)

    def is_shadow_call(self, decision_id: str) -> bool:
        """Whether `decision_id` is one of this replica's recent shadow calls."""
        hit = self._pairs.get(decision_id)
        return hit is not None and hit[1] == "shadow"

    # -- grades (learning.py calls this for every grade) --------------------------------------
    def on_grade(self, g: GradeRecord) -> None:
        hit = self._pairs.get(g.decision_id)
        if hit is None:
            return
        pair_id, role = hit
        pair = self._pending.get(pair_id)
        if pair is None:
            return
        first = pair.shadow is None if role == "shadow" else pair.served is None
        if role == "shadow":
            pair.shadow = g.score
        else:
            pair.served = g.score
        tally = self._tally.setdefault((pair.challenger, pair.task), _Tally())
        if role == "shadow" and first:
            tally.graded += 1
            tally.grade_sum += g.score
            tally.grade_sq += g.score * g.score
        if pair.shadow is not None and pair.served is not None and first:
            d = pair.shadow - pair.served
            tally.pairs += 1
            tally.diff_sum += d
            tally.diff_sq += d * d
            tally.incumbent_sum += pair.served
        if role == "shadow" and self.cfg.auto_promote:
            self._maybe_promote(g.tenant, pair.challenger, pair.task, tally)

    def _maybe_promote(self, tenant: str, challenger: str, task: str, tally: _Tally) -> None:
        """Promote for `task` when the lower confidence bound of the challenger's mean shadow
        grade (its grades' own spread: judge scores vary less than pass/fail) clears the bar
        the router holds models to there: quality_target x the baseline's expected grade."""
        st = self.challengers.state.get(challenger)
        if st is None or st["status"] != "challenger" or task in st["tasks"]:
            return
        n = tally.graded
        if n < self.cfg.promote_min_graded:
            return
        router = self.s.router_for_tenant(tenant)
        pool = router.pool
        if router.params.baseline not in pool:
            return
        mean = tally.grade_sum / n
        sd = max(math.sqrt(max(tally.grade_sq / n - mean * mean, 0.0) * n / (n - 1)), 0.05)
        z = statistics.NormalDist().inv_cdf(self.cfg.promote_confidence)
        lower = mean - z * sd / math.sqrt(n)
        ba, bb = router.posterior(tenant, task, pool[router.params.baseline])
        bar = router.params.quality_target * ba / (ba + bb)
        log.debug("promotion check %s %s: lower %.3f bar %.3f", challenger, task, lower, bar)
        if lower < bar:
            return
        note = (
            f"promoted for {task}: grade {mean:.2f} (lower {self.cfg.promote_confidence:.0%} "
            f"bound {lower:.2f}) over {n} graded shadow answers meets the bar {bar:.2f}"
        )
        tasks = [*st["tasks"], task]
        with self._lock:
            self.challengers.state[challenger] = {**st, "tasks": tasks, "note": note}
            self._writes_begun += 1
        # a promotion changes routing for every tenant: the operator's alert, naming whose
        # grades earned it
        data = {"grade": mean, "lower": lower, "bar": bar, "tenant": tenant}
        message = f"{challenger}: {note}"
        self.s.alerts.emit(
            SYSTEM_TENANT, "challenger_promoted", message, model=challenger, task=task, data=data
        )
        self._persist(challenger, "challenger", tasks, note)

    def _persist(self, model: str, status: str, tasks: list[str], note: str) -> None:
        """Write a change already begun (counted) in memory, in the background."""
        loop = asyncio.get_running_loop()
        task = loop.create_task(asyncio.to_thread(self._write, model, status, tasks, note))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _write(self, model: str, status: str, tasks: list[str], note: str) -> None:
        """The store write of a begun change (blocking); done however it ends."""
        try:
            self.s.store.set_challenger(model, status, tasks, note, time.time())
        finally:
            with self._lock:
                self._writes_done += 1

    def on_pool_changed(self) -> None:
        """With `challenge_new_models`, a model a listing brings after the upstream's first
        listing starts as a challenger (before any request can be routed to it)."""
        if not self.cfg.challenge_new_models:
            return
        found = self.s.registry.discovered()
        first: dict[str, float] = {}
        for d in found.values():
            first[d.upstream] = min(first.get(d.upstream, d.first_seen_ts), d.first_seen_ts)
        for name, d in found.items():
            if d.first_seen_ts > first[d.upstream] + NEW_AFTER_S:
                self.challengers.add_default(name, f"new in upstream {d.upstream}'s listing")
        self.active = bool(self.challengers.state)

    # -- admin ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Adopt the store's challenger rows (called on every policy sync, in its thread).
        Not a read that a write of this replica's was in flight across (begun before it and not
        done, or begun since): it may lack the write, and would undo in memory a promotion the
        store has not got yet (the next grade promoted, and alerted, again); the next sync
        adopts."""
        with self._lock:
            begun, done = self._writes_begun, self._writes_done
        rows = self.s.store.challengers()
        with self._lock:
            if done != begun or self._writes_begun != begun:
                return
            self.challengers.adopt(rows)
            self.active = bool(self.challengers.state)

    async def act(self, model: str, action: str, tasks: list[str] | None) -> dict[str, Any]:
        if self.s.registry.get(model) is None:
            raise UnknownModel(f"The model `{model}` is not in the registry.", param="model")
        if action not in ACTIONS:
            raise InvalidRequest(f"'action' must be one of {', '.join(ACTIONS)}.", param="action")
        status = ACTIONS[action]
        note = f"{action} by an operator"
        st = self.challengers.state.get(model, {"status": "challenger", "tasks": [], "note": ""})
        new_tasks = (
            list(tasks) if tasks is not None else ([] if action == "promote" else st["tasks"])
        )
        with self._lock:
            self._writes_begun += 1
        await asyncio.to_thread(self._write, model, status, new_tasks, note)
        with self._lock:
            self.challengers.state[model] = {"status": status, "tasks": new_tasks, "note": note}
            self.active = True
        return {"model": model, "status": status, "tasks": new_tasks}

    def report(self) -> list[dict[str, Any]]:
        out = []
        for name, st in sorted(self.challengers.state.items()):
            per_task = {
                task: t.as_json() for (m, task), t in sorted(self._tally.items()) if m == name
            }
            total = _Tally()
            for (m, _), t in self._tally.items():
                if m == name:
                    for f in _Tally.__slots__:
                        setattr(total, f, getattr(total, f) + getattr(t, f))
            out.append(
                {
                    "model": name,
                    "status": st["status"],
                    "promoted_tasks": st["tasks"],
                    "decision": st.get("note", ""),
                    **total.as_json(),
                    "tasks": per_task,
                }
            )
        return out

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


Observer = Callable[[GradeRecord], None]


def _tell_breaker(breaker: CircuitBreaker, model: str, err: BaseException) -> None:
    """A failed shadow call or probe is evidence about its model, as a served call's failure
    is (failover.run_with_failover): an upstream's Retry-After pauses it, a 401/403/404 or a
    redirect is a misconfiguration, an outage counts against its circuit; the copy's own
    4xx says nothing about the model. A challenger failing every call was called on every
    routed request."""
    if isinstance(err, UpstreamError) and err.retry_after_s:
        breaker.hold(model, err.retry_after_s)
    if (config := misconfiguration(err)) is not None:
        breaker.misconfigured(model, *config)
    elif is_retryable(err):
        breaker.failure(model)


def _provider_side(body: dict[str, Any]) -> str | None:
    """Why a copy of this request must not be made (the skip's name), or None."""
    if acting(body) is not None:
        return "server_tools"
    return "stored" if stored(body) is not None else None
