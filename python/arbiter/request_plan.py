"""One request's plan (the routed or named models, the decision, its SLO and cache lookup) and
what the pipeline hands back to a surface: a complete answer or an open stream (split from
pipeline.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from arbiter.budget import Charge
from arbiter.cache import answer as cached
from arbiter.cache.service import Lookup
from arbiter.canonical import Protocol
from arbiter.config import ModelSettings, RoutingSettings
from arbiter.latency_slo import NO_SLO, LatencySLO, can_finish, deadline_s
from arbiter.principal import Principal
from arbiter.records import Candidate
from arbiter.request_log import RequestLog
from arbiter.types import ChatResult

if TYPE_CHECKING:
    from arbiter.cache.live_answer import LeaderRelay
    from arbiter.live_follow import Follower
    from arbiter.relay import Relay


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
    shape: bytes | None = (
        None  # its hashed words (difficulty.prompt_stats_and_shape): its kind, for lengths
    )
    charge: Charge | None = None  # its spend: reserved before each upstream call (budget.py)
    # the prompt's tokens as the budget's tokenizer counted them (text and unviewed parts, no
    # images), when caps made it count them; None otherwise
    counted_prompt: int | None = None
    cache: Lookup | None = None  # what the response cache said (a miss may store the answer)
    log: RequestLog | None = None  # the request's log line, filled when it is recorded
    slo: LatencySLO = NO_SLO  # its latency SLOs (latency_slo.resolve)
    predicted_ms: Mapping[str, tuple[float, float]] | None = None  # (TTFT, total) per model
    latency_probe: str | None = None  # a model to call in the background for its speed
    # a cascade's outcome, for the caller's `x-arbiter-cascade` header: "passed" (the first
    # model's answer served), "escalated", "first-answer-served" (the escalation failed)
    cascade: str | None = None
    # the in-request judge's spend (its own `judge` decision): the caller paid it too, so
    # `x-arbiter-cost-usd` and the answer's `usage.cost` add it to the decision's cost
    judge_cost: float = 0.0
    # each model's settings (its prices) as this request first read them, to reserve for a call
    # or send one: an admin price patch (or an adopted price factor) landing mid-request does
    # not reprice the calls already reserved and sent; a model first read after it: new prices
    pinned: dict[str, ModelSettings] = field(default_factory=dict)
    # and the price factor each was pinned under (its settings' prices are the configured ones
    # times it): the price-drift detector's configured price is the pinned price over it
    factors: dict[str, float] = field(default_factory=dict)
    # the [routing] settings as the request first read them (at its plan): a config reload
    # landing mid-request (config_reload.py) does not move a cascade's thresholds, its judge's
    # line or its rules between its first call and its verdict; one request, one config
    routing: RoutingSettings = field(kw_only=True)

    def add_judge_cost(self, cost: float) -> None:
        self.judge_cost += cost

    def model(
        self,
        name: str,
        look: Callable[[str], ModelSettings],
        factor: Callable[[str], float] | None = None,
    ) -> ModelSettings:
        """`name`'s settings as pinned for this request (`look`: the registry's, at first;
        `factor`: its price factor then, pinned with them). `pin` is the same on the two
        tables (kept inline here: this is called several times a request)."""
        m = self.pinned.get(name)
        if m is None:
            m = self.pinned[name] = look(name)
            self.factors[name] = factor(name) if factor is not None else 1.0
        return m

    def deadline_s(self, configured: float) -> float:
        """Seconds left to answer: the configured deadline, or the SLO counted from the start
        of planning (a cascade's first try and the budget reservation spent some of it)."""
        if self.slo.max_latency_ms is None:
            return configured
        spent = time.perf_counter() - self.started
        return max(deadline_s(configured, self.slo) - spent, 0.001)

    def can_finish(self, deadline: float) -> Callable[[str], bool] | None:
        """For failover under an SLO: whether a fallback's prediction fits the time left (the
        first token's SLO, like the deadline, counted from the start of planning)."""
        if self.predicted_ms is None:
            return None
        return can_finish(self.predicted_ms, self.slo, deadline, time.perf_counter() - self.started)


def pin(
    pinned: dict[str, ModelSettings],
    factors: dict[str, float],
    name: str,
    look: Callable[[str], ModelSettings],
    factor: Callable[[str], float] | None = None,
) -> ModelSettings:
    """Plan.model on a plan's two pin tables (`Plan.pinned`, `Plan.factors`), for a holder that
    must not hold the plan itself (call_pricing.pinned_lookup); the two must stay the same."""
    m = pinned.get(name)
    if m is None:
        m = pinned[name] = look(name)
        factors[name] = factor(name) if factor is not None else 1.0
    return m


@dataclass(slots=True)
class Completed:
    result: ChatResult
    headers: dict[str, str]
    protocol: Protocol = "openai"  # the answering upstream's: `result.body` is in its format
    hit: bool = False  # served from the cache (a surface rendering its own shape says cost 0)


@dataclass(slots=True)
class Streamed:
    events: Relay | cached.Replay | LeaderRelay | Follower
    headers: dict[str, str]
    deadline: float  # time.monotonic() when the request's deadline passes

    async def aclose(self) -> None:
        """End the relay (idempotent): a relay not run to its end counts as a disconnect."""
        await self.events.aclose()
