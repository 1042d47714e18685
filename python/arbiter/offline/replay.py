"""`arbiter replay`: run a recorded outcome table through the sidecar's routing core, offline.

Online and honest: prompts in a seeded shuffled order, each decision made before its outcome is
seen, and the router is fed only the chosen model's recorded quality. No HTTP, no store.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from arbiter.cascade import Escalate
from arbiter.cascade_gain import skips_first_model
from arbiter.cascade_judge import (
    SELF_JUDGE,
    SELF_JUDGE_ERROR,
    hard_escalation,
    judged_escalation,
)
from arbiter.difficulty import prompt_stats
from arbiter.offline import as_sidecar as sf
from arbiter.offline import baseline_choice
from arbiter.offline import replay_controls as ctl
from arbiter.offline.as_sidecar import SidecarCascade
from arbiter.offline.modelled_judge import ModelledJudge
from arbiter.offline.outcome_table import (
    Outcome,
    Row,
    Table,
    cheapest_model,
    default_baseline,
    shuffled_labels,
)
from arbiter.offline.routing_metrics import aiq, apgr, cpt, nondecreasing_hull, pgr
from arbiter.output_length import LengthPrior, OutputLength, fit_prior
from arbiter.routing import Router
from arbiter.routing_types import PoolModel, RouteRequest, RouterParams

log = logging.getLogger(__name__)

TENANT = "replay"
DEFAULT_KNOB = 0.95
# quality targets swept with --sweep: dense where two-model ratios live, sparse at the ends
DEFAULT_SWEEP: tuple[float, ...] = (
    0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55,
    *(round(0.6 + 0.0125 * k, 4) for k in range(33)),  # 0.6 .. 1.0, where two-model ratios live
    1.05, 1.1, 1.25, 1.5,
)  # fmt: skip
# cost weights swept with --objective cost_weight: quality given up to save $1 per 1,000
# requests, 1e-3 .. 1e3 in as many log-spaced points as DEFAULT_SWEEP (a curve's AIQ depends on
# how many points it has, so both objectives get the same number)
COST_WEIGHT_SWEEP: tuple[float, ...] = tuple(
    float(f"{10 ** (-3 + 6 * k / (len(DEFAULT_SWEEP) - 1)):.4g}") for k in range(len(DEFAULT_SWEEP))
)
DEFAULT_COST_WEIGHT = 0.1
# answer-length cut-offs (tokens) swept by --cascade-first with --sweep: 1 .. 4096, log-spaced
SHORT_ANSWER_THRESHOLDS: tuple[float, ...] = tuple(
    float(t) for t in sorted({round(4096 ** (k / 48)) for k in range(49)})
)
OBJECTIVES = ("quality_target", "cost_weight")
# what a --routing-config sweep may turn: the router's two objectives, or the cascade's check
SWEEP_KNOBS = (*OBJECTIVES, "verifier", "min_answer_tokens", "gain")
VERIFIER_THRESHOLDS: tuple[float, ...] = tuple(round(0.02 * k, 2) for k in range(1, 50))
# expected-gain thresholds (routing.cascade_min_expected_gain, in the lines' unit: judge points
# in examples/routing/chat.toml): -1 .. 6, dense over 0 .. 2 where its open-ended line lies
GAIN_THRESHOLDS: tuple[float, ...] = tuple(
    sorted({round(-1 + 0.5 * k, 2) for k in range(15)} | {round(0.05 * k, 2) for k in range(41)})
)
FEEDBACK = ("sidecar", "labels")
SAVINGS_CHECKPOINTS: tuple[int, ...] = (25, 50, 100, 200, 300, 400, 500)
RANDOM_HULL_SEEDS = 10  # seeds averaged for `aiq_random_hull`
# a two-model sweep's PGR metrics: null (not NaN) when the table has no quality gap
PGR_KEYS = ("apgr", "cpt50", "cpt80", "cpt50_usd", "cpt80_usd",
            "apgr_cost", "cpt50_cost_pct", "cpt80_cost_pct")  # fmt: skip
AIQ_KEYS = ("aiq", "aiq_hull", "aiq_oracle")
# below this many rows a sweep's curve has no point between the two pure ends (one row: each
# request goes to one model or the other), so its APGR, CPT and AIQ are fixed by construction
MIN_CURVE_ROWS = 2


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    # the router's quality target (share of the baseline's quality), or with objective
    # "cost_weight" its cost weight (RouterParams.cost_weight)
    knob: float = DEFAULT_KNOB
    seed: int = 0
    baseline: str | None = None  # default: the most expensive model on the table
    explore: float = 1.0
    priors: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    # None: the router's default per-prompt slope prior (learns fast, adapts to any traffic).
    # A small variance pins the slope near its prior: trusts the shipped difficulty score's
    # ranking on traffic like its training data (`RouterParams.slope_prior_var`).
    slope_var: float | None = None
    # None: the router's default pseudo-count weight of the priors (`RouterParams.prior_strength`).
    # Priors measured on many prompts (e.g. a train split, `table_priors`) deserve more weight.
    prior_strength: float | None = None
    objective: str = "quality_target"  # or "cost_weight": what `knob` sets
    # per-model output-length priors (e.g. fitted on a train split: `length_priors`)
    length_priors: Mapping[str, LengthPrior] = field(default_factory=dict)
    # "labels": the router learns every call's recorded quality. "sidecar": only the returned
    # answer is graded, by what the sidecar would grade it with (as_sidecar.py)
    feedback: str = "labels"
    judge_rate: float = 0.0  # sidecar feedback: share of ungradable answers the judge sees
    judge_error: float = sf.JUDGE_ERROR
    # the cascade's in-request judge's flip error; None = judge_error, or SELF_JUDGE_ERROR for
    # a self-judge (cascade_judge_model = "first": biased toward its own answers)
    cascade_judge_error: float | None = None
    # the router's parameters from a [routing] section (`--routing-config`); None = the
    # defaults with the fields above. The knob still overrides the objective's value.
    params: RouterParams | None = None
    # the sidecar's cascade (routing.cascade_*); with objective "verifier", "min_answer_tokens"
    # or "gain" the knob is its threshold
    cascade: SidecarCascade | None = None
    # whether a person named `baseline` (--baseline, routing.baseline); None: named iff set. A
    # --routing-config replay fills `baseline` with the default's pick when routing.baseline is
    # unset, so it says which it was here (`baseline_chosen_by`).
    baseline_named: bool | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    knob: float
    requests: int
    cost_usd: float
    quality: float
    calls: Mapping[str, int]  # calls per model (a cascade makes two calls for one request)
    answered_by: Mapping[str, int]  # whose answer the request finally returned
    escalations: int
    cum_cost: tuple[float, ...]  # running cost after each request, in replay order
    cum_quality: tuple[float, ...]
    overridden: int = 0  # requests whose router choice the cascade replaced (or never asked)


# -- one online run --------------------------------------------------------------------------
def replay_order(n: int, seed: int) -> list[int]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


def table_priors(table: Table) -> dict[str, dict[str, float]]:
    """Warm-start priors measured on a table: model -> task -> mean recorded quality.

    Meant for the rows of one split (e.g. `select_split(t, "train")`) to warm-start a replay of
    another (`--write-priors`, then `--priors` with `--split heldout`).
    """
    sums: dict[str, dict[str, float]] = {m.id: {} for m in table.models}
    counts: dict[str, int] = {}
    for r in table.rows:
        counts[r.task] = counts.get(r.task, 0) + 1
        for m in table.models:
            per = sums[m.id]
            per[r.task] = per.get(r.task, 0.0) + r.outcomes[m.id].quality
    return {
        m: {task: round(v / counts[task], 6) for task, v in sorted(per.items())}
        for m, per in sums.items()
    }


def length_priors(table: Table) -> dict[str, LengthPrior]:
    """Per model, the output-length regression fitted on a table's rows (e.g. its train split)."""
    stats = [r.stats if r.stats is not None else prompt_stats(r.prompt) for r in table.rows]
    return {
        m.id: fit_prior(stats, [r.outcomes[m.id].completion_tokens for r in table.rows])
        for m in table.models
    }


def priors_document(table: Table) -> dict[str, Any]:
    """What `--write-priors` writes: quality per model and task, and output-length priors."""
    return {
        "quality": table_priors(table),
        "output_length": {m: p.to_json() for m, p in length_priors(table).items()},
    }


def parse_priors(
    doc: Mapping[str, Any],
) -> tuple[dict[str, dict[str, float]], dict[str, LengthPrior]]:
    """A --priors file: `priors_document`'s shape, or a bare model -> task -> quality map."""
    if "quality" not in doc and "output_length" not in doc:
        quality = doc
        lengths: Mapping[str, Any] = {}
    else:
        quality = doc.get("quality", {})
        lengths = doc.get("output_length", {})
    q = {str(m): {str(t): float(v) for t, v in per.items()} for m, per in quality.items()}
    return q, {str(m): LengthPrior.from_json(p) for m, p in lengths.items()}


def cascade_judge_error(cfg: ReplayConfig) -> float:
    """The modelled in-request judge's flip error: as set, else a self-judge's larger default
    (it grades its own answers: biased, blind where they are), else the sidecar judge's."""
    if cfg.cascade_judge_error is not None:
        return cfg.cascade_judge_error
    casc = cfg.cascade
    return (
        SELF_JUDGE_ERROR if casc is not None and casc.judge_model == SELF_JUDGE else cfg.judge_error
    )


def _router(table: Table, cfg: ReplayConfig, baseline: str) -> Router:
    pool = [
        PoolModel(m.id, m.price_in_per_mtok, m.price_out_per_mtok, 1 << 40, frozenset(),
                  dict(cfg.priors.get(m.id, {})))
        for m in table.models
    ]  # fmt: skip
    if cfg.params is not None:
        params = replace(cfg.params, baseline=baseline)
        if cfg.objective == "cost_weight":
            params = replace(params, cost_weight=cfg.knob)
        elif cfg.objective == "quality_target":
            params = replace(params, quality_target=cfg.knob, cost_weight=0.0)
    elif cfg.objective == "cost_weight":
        params = RouterParams(baseline=baseline, cost_weight=cfg.knob, explore=cfg.explore)
    else:
        params = RouterParams(baseline=baseline, quality_target=cfg.knob, explore=cfg.explore)
    if cfg.slope_var is not None:
        cap = max(params.slope_precision_cap, 1.0 / cfg.slope_var)
        params = replace(params, slope_prior_var=cfg.slope_var, slope_precision_cap=cap)
    if cfg.prior_strength is not None:
        params = replace(params, prior_strength=cfg.prior_strength)
    lengths = OutputLength(params.expected_output_tokens, cfg.length_priors)
    return Router(pool, params, seed=cfg.seed, lengths=lengths)


def run(
    table: Table,
    cfg: ReplayConfig,
    *,
    easiness: Sequence[float | None] | None = None,
    escalate: Escalate | None = None,
    tick: Callable[[], None] | None = None,
    cheap_first: str | None = None,
    auto_grades: dict[tuple[str, str], float | None] | None = None,
) -> RunResult:
    """One online pass over the table; `easiness[i]` is row i's difficulty score (or None).

    With `cheap_first`, every request goes to that model first (a pure cascade: `escalate`
    alone decides which requests also reach the baseline); the router still learns.
    """
    baseline = cfg.baseline or default_baseline(table)
    router = _router(table, cfg, baseline)
    calls = dict.fromkeys((m.id for m in table.models), 0)
    answered = dict(calls)
    cost = qual = 0.0
    escalations = overridden = 0
    cum_cost: list[float] = []
    cum_q: list[float] = []

    labels = cfg.feedback == "labels"
    grader = sf.SidecarGrader(cfg.seed, cfg.judge_rate, cfg.judge_error, auto_grades=auto_grades)
    casc = cfg.cascade
    judged = (
        ModelledJudge(table, casc.judge_model, cascade_judge_error(cfg), cfg.seed)
        if casc is not None and casc.judge_lines
        else None
    )

    def pay(usd: float) -> None:
        """Spend beside the table's calls (the cascade judge's)."""
        nonlocal cost
        cost += usd

    def call(row: Row, model: str, e: float | None) -> Outcome:
        """One upstream call: paid for, its answer length seen; with label feedback, graded."""
        nonlocal cost
        out = row.outcomes[model]
        calls[model] += 1
        cost += out.cost_usd
        if labels:
            router.learn(TENANT, row.task, model, out.quality, easiness=e)
        if row.stats is not None:
            router.lengths.observe(model, row.stats, out.completion_tokens)
        return out

    for i in replay_order(len(table.rows), cfg.seed):
        row = table.rows[i]
        e = easiness[i] if easiness is not None else None
        req = RouteRequest(TENANT, row.task, row.prompt_tokens, None, easiness=e, stats=row.stats)
        if cfg.cascade is not None and cheap_first is None:
            model, out, escalated, over = _sidecar_request(
                router, req, row, cfg, baseline, call, e, judged, pay
            )
            escalations += escalated
            overridden += over
        else:
            model = cheap_first or router.decide(req).chosen
            overridden += cheap_first is not None  # the router is never asked
            out = call(row, model, e)
            if escalate is not None and model != baseline and out.response is not None:
                esc, _why = escalate(row.task, row.prompt, out.response, "stop", None)
                if esc:  # within the same request: the cheap call is paid for, then the baseline
                    escalations += 1
                    model = baseline
                    out = call(row, model, e)
        answered[model] += 1
        qual += out.quality
        if not labels:  # only the answer returned is graded, as the sidecar grades it
            score = grader.grade(row, model, out)
            if score is not None:
                router.learn(TENANT, row.task, model, score, easiness=e)
        cum_cost.append(cost)
        cum_q.append(qual)
        if tick is not None:
            tick()
    n = len(table.rows)
    return RunResult(cfg.knob, n, cost, qual / n, calls, answered, escalations,
                     tuple(cum_cost), tuple(cum_q), overridden)  # fmt: skip


def _sidecar_request(
    router: Router,
    req: RouteRequest,
    row: Row,
    cfg: ReplayConfig,
    baseline: str,
    call: Callable[[Row, str, float | None], Outcome],
    e: float | None,
    judged: ModelledJudge | None = None,
    pay: Callable[[float], None] | None = None,
) -> tuple[str, Outcome, int, int]:
    """One request as the pipeline serves it: route, then (for a cascade task) try the cascade's
    first model when it is cheaper than the choice and escalate to the choice when its answer
    fails the check (route_plan.plan_request / cascade_first / cascade_try).
    -> (model, outcome, escalated 0|1, overridden 0|1: routing.cascade_all replaced the router's
    choice with the baseline, so what the router learnt did not matter to this request)"""
    casc = cfg.cascade
    assert casc is not None
    decision = router.decide(req)
    chosen = decision.chosen
    if row.task not in casc.tasks:
        return chosen, call(row, chosen, e), 0, 0
    eligible = {c.model: c.est_cost_usd for c in decision.candidates if c.eligible}
    over = int(casc.all and baseline in eligible)
    first = casc.first or min(eligible, key=lambda m: eligible[m])

    def cascades(to: str) -> bool:
        return first != to and first in eligible and eligible[first] < eligible[to]

    at = cfg.knob if cfg.objective == "gain" else casc.min_gain  # one threshold, both stages
    if skips_first_model(casc.prompt_lines, at, row.task, e):  # the prompt alone: no cheap try
        chosen = baseline if over else chosen
        return chosen, call(row, chosen, e), 0, over
    # cascade_all's baseline is the escalation's: with no cascade to it, the router's choice
    over = int(over and cascades(baseline))
    chosen = baseline if over else chosen
    if not cascades(chosen):
        return chosen, call(row, chosen, e), 0, over
    out = call(row, first, e)
    if out.response is None:  # no recorded text to check (e.g. MMLU's letters): kept
        return first, out, 0, over
    line = casc.judge_lines.get(row.task)
    if line is not None and judged is not None:  # the judge in the cascade (cascade_judge.py)
        esc, _why = hard_escalation(row.task, row.prompt, out.response, "stop", None)
        if not esc:
            score, usd = judged.read(row, first, out)
            if pay is not None:
                pay(usd)
            esc, _why = judged_escalation(
                line, at, score, eligible[chosen], casc.judge_cost_exponent,
                casc.cost_reference_usd,
            )  # fmt: skip
        return (chosen, call(row, chosen, e), 1, over) if esc else (first, out, 0, over)
    knob = cfg.knob if cfg.objective in ("verifier", "min_answer_tokens", "gain") else None
    rule = casc.rule(row.task, knob if cfg.objective == "verifier" else None,
                     knob if cfg.objective == "min_answer_tokens" else None,
                     knob if cfg.objective == "gain" else None,
                     eligible[chosen])  # fmt: skip
    esc, _why = rule(row.task, row.prompt, out.response, "stop", None)
    if not esc:
        return first, out, 0, over
    return chosen, call(row, chosen, e), 1, over


# -- reference points ------------------------------------------------------------------------
def oracle(table: Table) -> tuple[float, float]:
    """Per prompt the best quality, ties to the cheaper model: (cost_usd, mean quality)."""
    cost = qual = 0.0
    for r in table.rows:
        best = max(r.outcomes.values(), key=lambda o: (o.quality, -o.cost_usd))
        cost += best.cost_usd
        qual += best.quality
    return cost, qual / len(table.rows)


def oracle_frontier(table: Table, steps: int = 60) -> list[tuple[float, float]]:
    """The oracle's cost/quality frontier: per prompt argmax quality - lam * cost, over lam.

    Ties go to the cheaper model, then to the earlier one in the row's outcomes. One numpy pass
    per lam (a per-row Python loop took ~0.4 ms a row for 62 lams: 83 s on 200,000 rows); the
    sums run in row order, as the loop's did, so the figures are the same to the last bit."""
    models = list(table.rows[0].outcomes)
    costs = np.asarray([[r.outcomes[m].cost_usd for m in models] for r in table.rows])
    quals = np.asarray([[r.outcomes[m].quality for m in models] for r in table.rows])
    per_prompt = max(table.model_cost(m.id) for m in table.models) / len(table.rows)
    rows = np.arange(len(table.rows))
    points = [oracle(table)]
    for k in range(steps + 1):
        lam = 0.0 if k == 0 else 10 ** (-3 + 7 * k / steps) / max(per_prompt, 1e-12)
        score = quals - lam * costs
        best = score == score.max(axis=1, keepdims=True)
        cheapest = np.where(best, costs, np.inf)
        pick = np.argmax(best & (cheapest == cheapest.min(axis=1, keepdims=True)), axis=1)
        # cumsum adds in row order, as the per-row loop did (np.sum is pairwise: last bits differ)
        cost = float(np.cumsum(costs[rows, pick])[-1])
        qual = float(np.cumsum(quals[rows, pick])[-1])
        points.append((cost, qual / len(table.rows)))
    return points


def random_hull_mix(table: Table, n_points: int, seed: int) -> list[tuple[float, float]]:
    """A router with no information: (cost, quality) at `n_points` costs evenly spaced along the
    single-model hull, each prompt sent at random to one of the two hull models around that cost.

    Its expected curve is the hull itself; the AIQ of its sampled points exceeds the hull's only
    by sampling noise (the convex hull of noisy points keeps the lucky ones). That excess is the
    bar a router's AIQ must clear before it says anything about routing.
    """
    singles = {(table.model_cost(m.id), table.model_quality(m.id)): m.id for m in table.models}
    hull = [singles[p] for p in nondecreasing_hull(list(singles))]
    if len(hull) < 2:
        return []
    costs = np.asarray([[r.outcomes[m].cost_usd for m in hull] for r in table.rows])
    quals = np.asarray([[r.outcomes[m].quality for m in hull] for r in table.rows])
    hx = costs.sum(0)
    rng = np.random.default_rng(seed)
    rows = np.arange(len(table.rows))
    points = []
    for c in np.linspace(hx[0], hx[-1], n_points + 2)[1:-1]:
        i = min(int(np.searchsorted(hx, c, side="right")) - 1, len(hull) - 2)
        share = (c - hx[i]) / (hx[i + 1] - hx[i])
        pick = np.where(rng.random(len(rows)) < share, i + 1, i)
        points.append((float(costs[rows, pick].sum()), float(quals[rows, pick].mean())))
    return points


def _point(cost: float, quality: float) -> dict[str, float]:
    return {"cost_usd": round(cost, 6), "quality": round(quality, 6)}


# -- reports ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Refs:
    baseline: str
    cheapest: str
    base: tuple[float, float]  # (cost, quality) always-baseline
    cheap: tuple[float, float]
    oracle: tuple[float, float]
    two_models: bool
    # oracle_frontier(table): computed once per table, not once per sweep_metrics call (the
    # random control reads 10 draws' metrics on the same table)
    frontier: tuple[tuple[float, float], ...] = ()

    @property
    def has_gap(self) -> bool:
        """PGR is the share of the quality gap between the cheapest model and the baseline that
        routing recovers: with no gap (all labels equal, say) or an inverted one (the cheapest
        model scores higher, so sending everything to it is best and a lower APGR is better) no
        point has a PGR and APGR/CPT are null, not NaN or a figure that reads backwards."""
        return self.two_models and self.base[1] > self.cheap[1]


def _refs(table: Table, baseline: str) -> _Refs:
    cheap = cheapest_model(table)
    return _Refs(
        baseline,
        cheap,
        (table.model_cost(baseline), table.model_quality(baseline)),
        (table.model_cost(cheap), table.model_quality(cheap)),
        oracle(table),
        len(table.models) == 2,
        tuple(oracle_frontier(table)),
    )


def _pct(x: float, n: int) -> float:
    return round(100.0 * x / n, 4) if n else 0.0


def savings_curve(
    table: Table, res: RunResult, cfg: ReplayConfig, baseline: str
) -> list[dict[str, float]]:
    """Savings against always-baseline on the first n requests of the replay order."""
    order = replay_order(len(table.rows), cfg.seed)
    out = []
    base_cost = base_q = 0.0
    marks = set(SAVINGS_CHECKPOINTS)
    for n, i in enumerate(order, start=1):
        base_cost += table.rows[i].outcomes[baseline].cost_usd
        base_q += table.rows[i].outcomes[baseline].quality
        if n in marks:
            saved = 1 - res.cum_cost[n - 1] / base_cost if base_cost else 0.0
            out.append({
                "n": n,
                "savings_pct": round(100.0 * saved, 3),
                "quality": round(res.cum_quality[n - 1] / n, 4),
                "baseline_quality": round(base_q / n, 4),
            })  # fmt: skip
    return out


def summarize(table: Table, res: RunResult, refs: _Refs) -> dict[str, Any]:
    n = res.requests
    doc: dict[str, Any] = {
        "requests": n,
        "cost_usd": round(res.cost_usd, 6),
        "quality": round(res.quality, 6),
        "model_share": {m: _pct(k, n) for m, k in res.answered_by.items()},
        "calls": dict(res.calls),
        "escalations_pct": _pct(res.escalations, n),
        "savings_pct": round(100.0 * (1 - res.cost_usd / refs.base[0]), 3) if refs.base[0] else 0.0,
        "baselines": {
            "always_baseline": {"model": refs.baseline, **_point(*refs.base)},
            "always_cheapest": {"model": refs.cheapest, **_point(*refs.cheap)},
            "oracle": _point(*refs.oracle),
        },
        "models": {
            m.id: _point(table.model_cost(m.id), table.model_quality(m.id)) for m in table.models
        },
    }
    if refs.two_models:
        doc["pgr"] = _pgr(res.quality, refs)
    return doc


def curve_point(res: RunResult, refs: _Refs) -> dict[str, Any]:
    pt: dict[str, Any] = {
        "knob": res.knob,
        "strong_pct": _pct(res.calls[refs.baseline], res.requests),
        "cost_usd": round(res.cost_usd, 6),
        "quality": round(res.quality, 6),
        "escalations_pct": _pct(res.escalations, res.requests),
    }
    if refs.two_models:
        pt["pgr"] = _pgr(res.quality, refs)
    return pt


def _pgr(quality: float, refs: _Refs) -> float | None:
    return round(pgr(quality, refs.cheap[1], refs.base[1]), 6) if refs.has_gap else None


def sweep_metrics(table: Table, curve: list[dict[str, Any]], refs: _Refs) -> dict[str, Any]:
    """APGR/CPT (two-model tables) and AIQ from the sweep's points plus both pure ends."""
    anchor: dict[str, Any] = {
        "knob": None, "anchor": "always_baseline", "strong_pct": 100.0,
        "cost_usd": round(refs.base[0], 6), "quality": round(refs.base[1], 6),
        "escalations_pct": 0.0,
    }  # fmt: skip
    low: dict[str, Any] = {
        **anchor, "anchor": "always_cheapest", "strong_pct": 0.0,
        "cost_usd": round(refs.cheap[0], 6), "quality": round(refs.cheap[1], 6),
    }  # fmt: skip
    if refs.two_models:
        anchor["pgr"], low["pgr"] = (1.0, 0.0) if refs.has_gap else (None, None)
    # the knob's two ends (send everything to one model) belong to every curve
    pts = [low, *curve, anchor]
    for p in pts:  # the dollar axis: share of the all-baseline cost (both cascade calls charged)
        p["cost_pct"] = round(100.0 * p["cost_usd"] / refs.base[0], 4) if refs.base[0] else 0.0
    costs = [table.model_cost(m.id) for m in table.models]
    c_min, c_max = min(costs), max(costs)
    out: dict[str, Any] = {"curve": pts}
    if len(table.rows) < MIN_CURVE_ROWS:
        # every point of any router's curve is one of the two pure ends: APGR 0.5 and CPT 50%
        # (and AIQ the hull's) by construction, whatever the router; null, and notes say why
        out |= dict.fromkeys((*PGR_KEYS, "aiq"))
        out["curve_cost"] = [
            {"cost_pct": p["cost_pct"], "pgr": p.get("pgr"), "knob": p["knob"]} for p in pts
        ]
        if c_max > c_min:
            singles = [(table.model_cost(m.id), table.model_quality(m.id)) for m in table.models]
            out["aiq_hull"] = round(aiq(singles, c_min, c_max), 6)
            out["aiq_oracle"] = round(aiq(refs.frontier, c_min, c_max), 6)
        return out
    if refs.two_models and not refs.has_gap:
        out |= dict.fromkeys(PGR_KEYS)
        out["curve_cost"] = [
            {"cost_pct": p["cost_pct"], "pgr": None, "knob": p["knob"]} for p in pts
        ]
    elif refs.two_models:
        by_c = [(p["strong_pct"] / 100.0, p["pgr"]) for p in pts]
        by_usd = [(p["cost_usd"], p["pgr"]) for p in pts]
        c50, c80 = cpt(by_c, 0.5), cpt(by_c, 0.8)
        u50, u80 = cpt(by_usd, 0.5), cpt(by_usd, 0.8)
        out |= {
            "apgr": round(apgr(by_c), 4),
            "cpt50": None if c50 is None else round(100 * c50, 2),
            "cpt80": None if c80 is None else round(100 * c80, 2),
            "cpt50_usd": None if u50 is None else round(u50, 6),
            "cpt80_usd": None if u80 is None else round(u80, 6),
        }
        out |= cost_axis(pts)
    if c_max > c_min:
        cq = [(p["cost_usd"], p["quality"]) for p in pts]
        singles = [(table.model_cost(m.id), table.model_quality(m.id)) for m in table.models]
        out |= {
            "aiq": round(aiq(cq, c_min, c_max), 6),
            "aiq_hull": round(aiq(singles, c_min, c_max), 6),
            "aiq_oracle": round(aiq(refs.frontier, c_min, c_max), 6),
        }
        if not refs.two_models and len(singles) > 1:
            # the noise floor: a random mix along the hull, as many points as this sweep
            noise = [
                aiq([*singles, *random_hull_mix(table, len(curve), s)], c_min, c_max)
                for s in range(RANDOM_HULL_SEEDS)
            ]
            out["aiq_random_hull"] = round(sum(noise) / len(noise), 6)
    return out


def cost_axis(pts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The dollar axis of a two-model curve: PGR against the share of the all-baseline cost.

    `apgr_cost` integrates PGR over cost share 0..1 as `apgr` does over the call share, so a
    router that buys its quality with long (expensive) prompts scores lower here than there.
    """
    curve_cost = [{"cost_pct": p["cost_pct"], "pgr": p["pgr"], "knob": p["knob"]} for p in pts]
    if not any(p["cost_pct"] for p in pts):  # a free baseline: no dollar axis
        return {**dict.fromkeys(("apgr_cost", "cpt50_cost_pct", "cpt80_cost_pct")),
                "curve_cost": curve_cost}  # fmt: skip
    by_cost = [(p["cost_pct"] / 100.0, p["pgr"]) for p in pts]
    c50, c80 = cpt(by_cost, 0.5), cpt(by_cost, 0.8)
    return {
        "apgr_cost": round(apgr(by_cost), 4),
        "cpt50_cost_pct": None if c50 is None else round(100 * c50, 2),
        "cpt80_cost_pct": None if c80 is None else round(100 * c80, 2),
        "curve_cost": curve_cost,
    }


# -- orchestration and CLI -------------------------------------------------------------------
def replay(
    table: Table,
    cfg: ReplayConfig,
    *,
    knobs: Sequence[float] | None = None,
    easiness: Sequence[float | None] | None = None,
    escalate: Escalate | None = None,
    progress: bool = False,
    cheap_first: str | None = None,
    sweep_escalate: Callable[[float], Escalate] | None = None,
    controls: bool = False,
) -> dict[str, Any]:
    """Run one replay at cfg.knob (plus a sweep over `knobs`) and build the JSON report.

    With `cheap_first` every request asks that model first (a cascade: `escalate` decides);
    with `sweep_escalate` the sweep's knob is the escalation rule's, not the router's. With
    `controls` a sweep also reports the shuffled-labels and random-router controls
    (replay_controls), measured here on the same table.
    """
    from tqdm import tqdm

    baseline = cfg.baseline or default_baseline(table)
    if baseline not in {m.id for m in table.models}:
        raise ValueError(f"baseline {baseline!r} has no outcomes on this table")
    named = cfg.baseline is not None if cfg.baseline_named is None else cfg.baseline_named
    chosen_by = baseline_choice.chosen_by(table, baseline, named=named)
    cfg = replace(cfg, baseline=baseline)
    refs = _refs(table, baseline)
    runs = (1 + len(knobs or ())) + (len(knobs or ()) if controls else 0)
    with tqdm(total=runs * len(table.rows), disable=not progress, unit="req", leave=False) as bar:
        tick = bar.update if progress else None
        grades: dict[tuple[str, str], float | None] = {}  # every run's, main and controls'
        main_run = run(
            table, cfg, easiness=easiness, escalate=escalate, tick=tick, cheap_first=cheap_first,
            auto_grades=grades,
        )  # fmt: skip
        doc = {
            "knob": cfg.knob,
            "objective": cfg.objective,
            "feedback": cfg.feedback,
            "seed": cfg.seed,
            "baseline_model": baseline,
            "baseline_chosen_by": chosen_by,
            **summarize(table, main_run, refs),
            "savings_first_500": savings_curve(table, main_run, cfg, baseline),
            "router_overridden": main_run.overridden,
        }
        notes = []
        if main_run.overridden:
            notes.append(feedback_note(main_run.overridden, main_run.requests))
        weaker = baseline_choice.stronger_note(table, baseline, chosen_by)
        if weaker:
            notes.append(weaker)
        if notes:
            doc["notes"] = notes
        if knobs:

            def sweep(t: Table) -> dict[str, Any]:
                t_refs = refs if t is table else _refs(t, baseline)
                curve = []
                for k in knobs:
                    kc = replace(cfg, knob=k)
                    rule = sweep_escalate(k) if sweep_escalate is not None else escalate
                    res = run(
                        t, kc, easiness=easiness, escalate=rule, tick=tick,
                        cheap_first=cheap_first, auto_grades=grades,
                    )  # fmt: skip
                    curve.append(curve_point(res, t_refs))
                return sweep_metrics(t, curve, t_refs)

            doc |= sweep(table)
            if controls:
                shuffled = ctl.headline(sweep(shuffled_labels(table, cfg.seed)))
                doc["controls"] = {
                    "shuffled_labels": shuffled | {"seed": cfg.seed},
                    "random": _random_control(table, refs, doc),
                }
    return doc


def feedback_note(overridden: int, requests: int) -> str:
    """Why --feedback changes nothing (or less than it seems) when the cascade overrides the
    router: feedback trains the router's choice, and routing.cascade_all (or --cascade-first)
    replaces it."""
    note = (
        f"feedback: no effect on {overridden} of {requests} requests: the cascade "
        "(routing.cascade_all, or --cascade-first) sent each to its first model and then the "
        "baseline, never to the router's choice, which is what --feedback trains"
    )
    return note + (": both feedbacks give the same figures" if overridden == requests else "")


def _random_control(table: Table, refs: _Refs, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The random router's figures on this table (replay_controls.random_router); on more than
    two models the random mix along the hull that `aiq_random_hull` already measured."""
    if not refs.two_models:
        return {k: None for k in ctl.CONTROL_KEYS} | {
            "aiq": doc.get("aiq_random_hull"),
            "draws": RANDOM_HULL_SEEDS,
        }

    def column(model: str, what: str) -> np.ndarray:
        return np.asarray([getattr(r.outcomes[model], what) for r in table.rows])

    return ctl.random_router(
        len(table.rows),
        column(refs.baseline, "cost_usd"),
        column(refs.cheapest, "cost_usd"),
        column(refs.baseline, "quality"),
        column(refs.cheapest, "quality"),
        lambda pts: sweep_metrics(table, pts, refs),
        lambda q: _pgr(q, refs),
    )


def cascade_sweep(
    table: Table,
    cfg: ReplayConfig,
    thresholds: Sequence[float],
    make_escalate: Callable[[float], Escalate],
    first: str | None = None,
) -> dict[str, Any]:
    """Cheap-first cascade swept over its escalation threshold (the knob of each curve point).

    Every request is answered by `first` (default: the cheapest model), then escalated to the
    baseline when the rule says so; both calls are charged, and `strong_pct` is the share of
    requests that reached the baseline. Two-model tables get APGR/CPT on that axis, every table AIQ.
    """
    baseline = cfg.baseline or default_baseline(table)
    cheap = first or cheapest_model(table)
    refs = _refs(table, baseline)
    curve = []
    for t in thresholds:
        kc = replace(cfg, knob=t, baseline=baseline)
        res = run(table, kc, escalate=make_escalate(t), cheap_first=cheap)
        curve.append(curve_point(res, refs))
    return {"baseline_model": baseline, "first_model": cheap, **sweep_metrics(table, curve, refs)}


# the command line lives in replay_cli (which imports this module)
if __name__ == "__main__":
    from arbiter.offline.replay_cli import main as _main

    raise SystemExit(_main())
