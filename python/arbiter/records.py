"""Durable records the pipeline emits and the store persists. Plain frozen data, no behaviour.

These types are the contract between the request path (which creates them) and the store
(which writes them off the request path, in batches).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# the operator's tenant: alerts about the deployment rather than one tenant's traffic (the
# recorder's own, circuits, upstream configuration, discovery, latency, global caps). Admins and
# the dashboard read them whatever tenant they look at; no client key belongs to it (auth.py).
SYSTEM_TENANT = "_system"

# "judge" records the grader's own upstream calls, so their spend is never hidden.
# "cache" answers came from the response cache (arbiter.cache): cost 0, cache_saved_usd saved;
# "shadow" calls went to a challenger besides the served answer (shadow.py); "probe" calls are
# latency probes of a model no call has timed yet (shadow.py, before migration 0057: "shadow");
# "cascade_judge" is a cascade's in-request judge call (cascade_steps.judged): part of serving
# the request it grades, whose decision's cost includes it (the baseline would not have paid it)
DecisionMode = Literal[
    "routed", "passthrough", "judge", "cache", "shadow", "probe", "cascade_judge"
]
# Calls Arbiter makes to learn, not a tenant's requests: a tenant's stats, time series and
# savings leave them out and report their spend on its own line (store stats()["learning"]).
LEARNING_MODES: tuple[str, ...] = ("shadow", "probe", "judge")
# Calls whose cost a request's own decision already holds (kept for audit and budgets): in no
# tenant figure and no learning line, or they would count twice.
IN_REQUEST_MODES: tuple[str, ...] = ("cascade_judge",)
# Decisions that are not a tenant's requests: left out of its requests, cost and savings.
NOT_OWN_MODES: tuple[str, ...] = LEARNING_MODES + IN_REQUEST_MODES
DecisionStatus = Literal["ok", "failed"]
# Which signal produced a grade: client feedback; the answer's code run against tests in the
# sandbox; agreement with a reference answer; the automatic checks (schema, math, parse, tool
# call); the sampled LLM judge.
GraderKind = Literal["feedback", "execution", "reference", "auto", "judge"]
# THE precedence when several grades exist for one decision (the decision's effective grade is the
# highest): learning (learning.py), the store's reads (ORDER BY precedence_sql) and its roll-ups
# (rollup.py) all rank by this one table. The store keeps no copy of the numbers (migration 0011
# dropped grades.precedence), so they may change here alone.
GRADER_PRECEDENCE: dict[str, int] = {
    "judge": 1,
    "auto": 2,
    "reference": 3,
    "execution": 4,
    "feedback": 5,
}


def precedence(grader: str) -> int:
    """A grader's rank (higher wins); 0 for a grader this version does not know."""
    return GRADER_PRECEDENCE.get(grader, 0)


def precedence_sql(column: str) -> str:
    """SQL for ``precedence(column)``: a CASE over GRADER_PRECEDENCE (names are literals here)."""
    whens = " ".join(f"WHEN '{g}' THEN {n}" for g, n in GRADER_PRECEDENCE.items())
    return f"(CASE {column} {whens} ELSE 0 END)"


@dataclass(frozen=True, slots=True)
class Candidate:
    model: str
    score: float  # the value the policy compared (sampled quality for Thompson sampling)
    mean: float  # posterior mean quality for this prompt
    est_cost_usd: float
    eligible: bool = True
    why_not: str | None = None  # e.g. "context window 8192 < 9120 tokens"


@dataclass(frozen=True, slots=True)
class Attempt:
    model: str
    ok: bool
    latency_ms: float
    error: str | None = None  # error code, e.g. "upstream_timeout"
    status: int | None = None  # upstream HTTP status when there was one
    # a stream that broke after its first content (relay.broken_after_opening): when that
    # content came; latency_ms is then the whole call's
    ttft_ms: float | None = None
    # a failed call: whether it was charged as possibly billed (True: its worst case, or what
    # a cut stream may have cost) or as not billed ($0: refused, a whole error answer, never
    # sent: budget.may_be_billed); None for an answered call (priced from its answer) or one
    # never made (circuit open, paused)
    billed: bool | None = None
    # of latency_ms, how long the sidecar's own loop held the answer back (loop_lag.late_s: a
    # stall of ours): the upstream took between latency_ms - held_ms and latency_ms
    held_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    id: str
    ts: float  # unix seconds
    tenant: str
    task: str
    mode: DecisionMode
    chosen_model: str
    reason: str
    candidates: tuple[Candidate, ...]
    attempts: tuple[Attempt, ...]
    status: DecisionStatus
    cost_usd: float
    baseline_model: str
    baseline_cost_usd: float
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    stream: bool = False
    difficulty: float | None = None
    key_id: str | None = None
    error: str | None = None
    cost_source: Literal["upstream", "registry"] = "registry"
    cache_kind: Literal["exact", "semantic"] | None = None  # served from the response cache
    cache_saved_usd: float | None = None  # a hit: what the source answer cost
    # a hit: entry_id, source_decision_id, similarity, p_false (the feedback path reads them)
    cache_info: dict[str, Any] | None = None
    # charged its upstream's reported cost: its usage at the registry's prices, prompt-cache
    # parts at theirs (what cost_ratio.seed divides the report by at start); else None
    usage_cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class GradeRecord:
    decision_id: str
    ts: float
    tenant: str
    task: str
    model: str
    score: float  # in [0, 1]
    grader: GraderKind
    detail: str = ""
    # the graded decision's mode, as the grader knew it: /metrics counts the grades of
    # Arbiter's learning calls (a shadow call's, a latency probe's) apart from the tenants'
    # own. Not stored: the decision's row holds its mode, and the store's reads join on it.
    mode: DecisionMode = "routed"


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: str
    ts: float
    tenant: str
    # "quality_change" | "price_change" | "latency_change" (changepoint.py) | "circuit_open" |
    # "budget_threshold" | "budget_hold_charged" (budget.py: a dead sidecar's holds charged) |
    # "store_backlog"
    kind: str
    message: str
    model: str | None = None
    task: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # > 0: stored only when the store holds no alert of this kind and model from the last
    # `once_every_s` (one per deployment where workers and replicas share the store: each
    # process limits its own alerts too, but N workers would raise N)
    once_every_s: float = 0.0
    # with once_every_s: a key of `data` (a string value) that tells such alerts apart too
    # (cost_report_dropped's `side`: "under" and "past" are two alerts a window)
    once_by: str = ""


@dataclass(frozen=True, slots=True)
class PolicyDelta:
    """An additive change to one arm's statistics; replicas exchange these, so merges are sums."""

    tenant: str
    task: str
    model: str
    d_alpha: float
    d_beta: float
    d_n: float
    # the per-prompt slope (routing.PromptModel) as additive changes to its posterior
    d_slope_mean: float = 0.0
    d_slope_precision: float = 0.0
    d_slope_center: float = 0.0
    d_slope_seen: float = 0.0
    slope_center0: float | None = None  # the slope's starting center: the first writer's wins

    def plus(self, other: PolicyDelta) -> PolicyDelta:
        """Both changes in one (same arm)."""
        return PolicyDelta(
            self.tenant, self.task, self.model,
            self.d_alpha + other.d_alpha, self.d_beta + other.d_beta, self.d_n + other.d_n,
            self.d_slope_mean + other.d_slope_mean,
            self.d_slope_precision + other.d_slope_precision,
            self.d_slope_center + other.d_slope_center,
            self.d_slope_seen + other.d_slope_seen,
            self.slope_center0 if self.slope_center0 is not None else other.slope_center0,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ArmStats:
    tenant: str
    task: str
    model: str
    alpha: float  # evidence of good answers (sum of grades), prior excluded
    beta: float  # evidence of bad answers (sum of 1 - grade), prior excluded
    n: float
    # the per-prompt slope's learned offsets from its prior (summed over every replica)
    slope_mean: float = 0.0
    slope_precision: float = 0.0
    slope_center: float = 0.0
    slope_seen: float = 0.0
    slope_center0: float | None = None


Record = DecisionRecord | GradeRecord | AlertRecord | PolicyDelta
