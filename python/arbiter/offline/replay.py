"""`arbiter replay`: run a recorded outcome table through the sidecar's routing core, offline.

Online and honest: prompts in a seeded shuffled order, each decision made before its outcome is
seen, and the router is fed only the chosen model's recorded quality. No HTTP, no store.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from arbiter.cascade import Escalate
from arbiter.difficulty import prompt_stats
from arbiter.offline import as_sidecar as sf
from arbiter.offline.as_sidecar import SidecarCascade
from arbiter.offline.outcome_table import (
    Outcome,
    Row,
    Table,
    cheapest_model,
    default_baseline,
    load_models,
    load_table,
    select_split,
)
from arbiter.offline.routing_metrics import aiq, apgr, cpt, nondecreasing_hull, pgr
from arbiter.output_length import LengthPrior, OutputLength, fit_prior
from arbiter.routing import PoolModel, Router, RouteRequest, RouterParams

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
SWEEP_KNOBS = (*OBJECTIVES, "verifier", "min_answer_tokens")
VERIFIER_THRESHOLDS: tuple[float, ...] = tuple(round(0.02 * k, 2) for k in range(1, 50))
FEEDBACK = ("sidecar", "labels")
SAVINGS_CHECKPOINTS: tuple[int, ...] = (25, 50, 100, 200, 300, 400, 500)
RANDOM_HULL_SEEDS = 10  # seeds averaged for `aiq_random_hull`


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
    # the router's parameters from a [routing] section (`--routing-config`); None = the
    # defaults with the fields above. The knob still overrides the objective's value.
    params: RouterParams | None = None
    # the sidecar's cascade (routing.cascade_*); with objective "verifier" or
    # "min_answer_tokens" the knob is its threshold
    cascade: SidecarCascade | None = None


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
    escalations = 0
    cum_cost: list[float] = []
    cum_q: list[float] = []

    labels = cfg.feedback == "labels"
    grader = sf.SidecarGrader(cfg.seed, cfg.judge_rate, cfg.judge_error)

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
            model, out, escalated = _sidecar_request(router, req, row, cfg, baseline, call, e)
            escalations += escalated
        else:
            model = cheap_first or router.decide(req).chosen
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
                     tuple(cum_cost), tuple(cum_q))  # fmt: skip


def _sidecar_request(
    router: Router,
    req: RouteRequest,
    row: Row,
    cfg: ReplayConfig,
    baseline: str,
    call: Callable[[Row, str, float | None], Outcome],
    e: float | None,
) -> tuple[str, Outcome, int]:
    """One request as the pipeline serves it: route, then (for a cascade task) try the cascade's
    first model when it is cheaper than the choice and escalate to the choice when its answer
    fails the check (pipeline.plan / _cascade_first / _try_cascade). -> (model, outcome, 0|1)"""
    casc = cfg.cascade
    assert casc is not None
    decision = router.decide(req)
    chosen = decision.chosen
    if row.task not in casc.tasks:
        return chosen, call(row, chosen, e), 0
    eligible = {c.model: c.est_cost_usd for c in decision.candidates if c.eligible}
    if casc.all and baseline in eligible:
        chosen = baseline
    first = casc.first or min(eligible, key=lambda m: eligible[m])
    if first == chosen or first not in eligible or eligible[first] >= eligible[chosen]:
        return chosen, call(row, chosen, e), 0
    out = call(row, first, e)
    if out.response is None:  # no recorded text to check (e.g. MMLU's letters): kept
        return first, out, 0
    knob = cfg.knob if cfg.objective in ("verifier", "min_answer_tokens") else None
    rule = casc.rule(row.task, knob if cfg.objective == "verifier" else None,
                     knob if cfg.objective == "min_answer_tokens" else None)  # fmt: skip
    esc, _why = rule(row.task, row.prompt, out.response, "stop", None)
    if not esc:
        return first, out, 0
    return chosen, call(row, chosen, e), 1


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
    """The oracle's cost/quality frontier: per prompt argmax quality - lam * cost, over lam."""
    per_prompt = max(table.model_cost(m.id) for m in table.models) / len(table.rows)
    points = [oracle(table)]
    for k in range(steps + 1):
        lam = 0.0 if k == 0 else 10 ** (-3 + 7 * k / steps) / max(per_prompt, 1e-12)
        cost = qual = 0.0
        for r in table.rows:
            o = max(r.outcomes.values(), key=lambda o: (o.quality - lam * o.cost_usd, -o.cost_usd))
            cost += o.cost_usd
            qual += o.quality
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


def _refs(table: Table, baseline: str) -> _Refs:
    cheap = cheapest_model(table)
    return _Refs(
        baseline,
        cheap,
        (table.model_cost(baseline), table.model_quality(baseline)),
        (table.model_cost(cheap), table.model_quality(cheap)),
        oracle(table),
        len(table.models) == 2,
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
        doc["pgr"] = round(pgr(res.quality, refs.cheap[1], refs.base[1]), 6)
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
        pt["pgr"] = round(pgr(res.quality, refs.cheap[1], refs.base[1]), 6)
    return pt


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
        anchor["pgr"], low["pgr"] = 1.0, 0.0
    # the knob's two ends (send everything to one model) belong to every curve
    pts = [low, *curve, anchor]
    for p in pts:  # the dollar axis: share of the all-baseline cost (both cascade calls charged)
        p["cost_pct"] = round(100.0 * p["cost_usd"] / refs.base[0], 4) if refs.base[0] else 0.0
    costs = [table.model_cost(m.id) for m in table.models]
    c_min, c_max = min(costs), max(costs)
    out: dict[str, Any] = {"curve": pts}
    if refs.two_models:
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
            "aiq_oracle": round(aiq(oracle_frontier(table), c_min, c_max), 6),
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
    by_cost = [(p["cost_pct"] / 100.0, p["pgr"]) for p in pts]
    c50, c80 = cpt(by_cost, 0.5), cpt(by_cost, 0.8)
    return {
        "apgr_cost": round(apgr(by_cost), 4),
        "cpt50_cost_pct": None if c50 is None else round(100 * c50, 2),
        "cpt80_cost_pct": None if c80 is None else round(100 * c80, 2),
        "curve_cost": [
            {"cost_pct": p["cost_pct"], "pgr": p["pgr"], "knob": p["knob"]} for p in pts
        ],
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
) -> dict[str, Any]:
    """Run one replay at cfg.knob (plus a sweep over `knobs`) and build the JSON report.

    With `cheap_first` every request asks that model first (a cascade: `escalate` decides);
    with `sweep_escalate` the sweep's knob is the escalation rule's, not the router's.
    """
    from tqdm import tqdm

    baseline = cfg.baseline or default_baseline(table)
    if baseline not in {m.id for m in table.models}:
        raise ValueError(f"baseline {baseline!r} has no outcomes on this table")
    cfg = replace(cfg, baseline=baseline)
    refs = _refs(table, baseline)
    runs = 1 + len(knobs or ())
    with tqdm(total=runs * len(table.rows), disable=not progress, unit="req", leave=False) as bar:
        tick = bar.update if progress else None
        main_run = run(
            table, cfg, easiness=easiness, escalate=escalate, tick=tick, cheap_first=cheap_first
        )
        doc = {
            "knob": cfg.knob,
            "objective": cfg.objective,
            "feedback": cfg.feedback,
            "seed": cfg.seed,
            "baseline_model": baseline,
            **summarize(table, main_run, refs),
            "savings_first_500": savings_curve(table, main_run, cfg, baseline),
        }
        if knobs:
            curve = []
            for k in knobs:
                kc = replace(cfg, knob=k)
                rule = sweep_escalate(k) if sweep_escalate is not None else escalate
                res = run(
                    table, kc, easiness=easiness, escalate=rule, tick=tick, cheap_first=cheap_first
                )
                curve.append(curve_point(res, refs))
            doc |= sweep_metrics(table, curve, refs)
    return doc


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


PLOT_NEEDS = (
    "a .png plot needs matplotlib (pip install 'arbiter[plot]'); "
    "a .svg path needs nothing: --plot curve.svg"
)


def plot_problem(path: Path) -> str | None:
    """Why `--plot path` cannot be written, asked before the replay runs; None when it can."""
    if path.suffix.lower() == ".svg":
        return None
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return PLOT_NEEDS
    return None


def plot(doc: Mapping[str, Any], path: Path, title: str) -> None:
    """Cost/quality picture: the router's sweep, each single model, the oracle. An .svg path is
    drawn by arbiter itself; anything else by matplotlib (the `plot` extra)."""
    if path.suffix.lower() == ".svg":
        from arbiter.offline.svg_plot import render

        path.write_text(render(doc, title), encoding="utf-8")
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    curve = sorted(doc.get("curve", []), key=lambda p: p["cost_usd"])
    if curve:
        ax.plot(
            [p["cost_usd"] for p in curve], [p["quality"] for p in curve], "o-", label="arbiter"
        )
    ax.plot([doc["cost_usd"]], [doc["quality"]], "*", ms=12, label=f"arbiter @ {doc['knob']}")
    for name, m in doc["models"].items():
        ax.plot([m["cost_usd"]], [m["quality"]], "s", ms=5)
        ax.annotate(name.split("/")[-1], (m["cost_usd"], m["quality"]), fontsize=7)
    o = doc["baselines"]["oracle"]
    ax.plot([o["cost_usd"]], [o["quality"]], "D", label="oracle")
    ax.set_xscale("symlog", linthresh=max(1e-6, min(m["cost_usd"] for m in doc["models"].values())))
    ax.set_xlabel("cost (USD)")
    ax.set_ylabel("mean quality")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="arbiter replay", description=__doc__)
    ap.add_argument("table", type=Path, help="outcome table, JSONL or JSONL.gz")
    ap.add_argument("--models", type=Path, required=True, help="models file with prices")
    ap.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default="quality_target",
        help="what the knob sets: the quality target (cheapest model keeping that share of the "
        "baseline's quality) or the cost weight (best value: quality given up to save $1 per "
        "1,000 requests)",
    )
    ap.add_argument(
        "--knob",
        type=float,
        default=None,
        help=f"the objective's value (default: target {DEFAULT_KNOB}, cost weight "
        f"{DEFAULT_COST_WEIGHT})",
    )
    ap.add_argument("--sweep", action="store_true", help="sweep the knob")
    ap.add_argument("--knobs", type=str, default=None, help="comma-separated knobs for --sweep")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baseline", default=None, help="baseline model (default: most expensive)")
    ap.add_argument("--explore", type=float, default=1.0, help="0 = greedy, 1 = Thompson sampling")
    ap.add_argument(
        "--slope-var",
        type=float,
        default=None,
        help="per-prompt slope prior variance (small = trust the difficulty score)",
    )
    ap.add_argument(
        "--priors",
        type=Path,
        default=None,
        help="JSON from --write-priors (quality per model and task, output-length priors), "
        "or a bare model -> task -> p(good) map",
    )
    ap.add_argument(
        "--prior-strength",
        type=float,
        default=None,
        help="pseudo-count weight of the priors (router default 8)",
    )
    ap.add_argument(
        "--write-priors",
        type=Path,
        default=None,
        help="write the selected split's mean quality per model and task and each model's "
        "output-length fit as a --priors file, then exit (e.g. from --split train, to "
        "warm-start a --split heldout replay)",
    )
    ap.add_argument(
        "--difficulty",
        default="default",
        help="ONNX difficulty model path, 'default' (shipped) or 'none'",
    )
    ap.add_argument(
        "--split",
        choices=("all", "train", "heldout"),
        default="all",
        help="replay only the difficulty model's train or held-out rows",
    )
    ap.add_argument("--cascade", action="store_true", help="escalate weak-looking cheap answers")
    ap.add_argument(
        "--cascade-min-tokens",
        type=int,
        default=0,
        help="with --cascade: answers shorter than this many tokens escalate too (the sidecar's "
        "routing.cascade_min_answer_tokens)",
    )
    ap.add_argument(
        "--cascade-first",
        default=None,
        help="with --cascade: ask this model first for every prompt (the sidecar's "
        "routing.cascade_first_model); --sweep then sweeps --cascade-min-tokens",
    )
    ap.add_argument(
        "--cascade-verifier",
        type=float,
        default=0.0,
        help="with --cascade: math answers escalate when the shipped verifier's P(wrong) >= "
        "this (the sidecar's routing.cascade_math_verifier); with --cascade-first and --sweep "
        "the threshold is swept",
    )
    ap.add_argument(
        "--routing-config",
        type=Path,
        default=None,
        help="a TOML file with a [routing] section as in the sidecar's config (or a whole "
        "sidecar config): the replay runs those settings (router, priors file, difficulty, "
        "cascade, verifier, judge), with tasks from the sidecar's classifier",
    )
    ap.add_argument(
        "--sweep-knob",
        choices=("auto", *SWEEP_KNOBS),
        default="auto",
        help="with --routing-config --sweep: what the sweep turns (auto: the math verifier's "
        "threshold when the config cascades math with it, else the short-answer cut-off when "
        "it sets one, else the cost weight when > 0, else the quality target)",
    )
    ap.add_argument(
        "--feedback",
        choices=FEEDBACK,
        default="sidecar",
        help="what the router learns from: 'sidecar' (default, the honest one: only the returned "
        "answer, graded as the sidecar would grade it, judge sampled and noisy) or 'labels' "
        "(every call's recorded quality: an upper bound no live router gets)",
    )
    ap.add_argument(
        "--judge-error",
        type=float,
        default=None,
        help="sidecar feedback: the judge's chance of a wrong verdict (default 0.15)",
    )
    ap.add_argument(
        "--tasks",
        choices=("auto", "classifier", "table"),
        default="auto",
        help="each row's task: the sidecar's classifier (default with --routing-config) or the "
        "table's label (default otherwise)",
    )
    ap.add_argument(
        "--via-sidecar",
        action="store_true",
        help="run through a live sim + sidecar over HTTP (one knob, no sweep/cascade)",
    )
    ap.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    ap.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="write the cost/quality curve here: .svg (no dependency) or .png (matplotlib)",
    )
    ap.add_argument("--no-progress", action="store_true")
    return ap.parse_args(argv)  # fmt: skip


def _load_easiness(spec: str, table: Table) -> list[float | None] | None:
    if spec == "none":
        return None
    from arbiter import difficulty

    scorer = difficulty.load_default() if spec == "default" else difficulty.Difficulty(Path(spec))
    if scorer is None:
        log.warning("no difficulty model available; routing without per-prompt scores")
        return None
    return [scorer.easiness(r.prompt) for r in table.rows]


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    problem = plot_problem(args.plot) if args.plot else None
    if problem:  # before the replay runs, not after
        print(f"arbiter replay: --plot {args.plot}: {problem}", file=sys.stderr)
        return 2
    try:
        table = select_split(load_table(args.table, load_models(args.models)), args.split)
        priors, lengths = parse_priors(
            orjson.loads(args.priors.read_bytes()) if args.priors else {}
        )
        by_cost = args.objective == "cost_weight"
        default_knobs = COST_WEIGHT_SWEEP if by_cost else DEFAULT_SWEEP
        knobs = [float(k) for k in args.knobs.split(",")] if args.knobs else list(default_knobs)
        knob = (
            args.knob
            if args.knob is not None
            else (DEFAULT_COST_WEIGHT if by_cost else DEFAULT_KNOB)
        )
        if by_cost and min([knob, *knobs]) <= 0:
            raise ValueError("cost weights must be > 0")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        print(f"arbiter replay: {err}", file=sys.stderr)
        return 2
    if args.write_priors:
        text = orjson.dumps(priors_document(table), option=orjson.OPT_INDENT_2).decode()
        args.write_priors.write_text(text + "\n")
        print(text)
        return 0
    if (
        args.cascade_first or args.cascade_min_tokens or args.cascade_verifier
    ) and not args.cascade:
        print(
            "arbiter replay: --cascade-first/--cascade-min-tokens/--cascade-verifier need "
            "--cascade",
            file=sys.stderr,
        )
        return 2
    if args.tasks == "classifier" or (args.tasks == "auto" and args.routing_config):
        table = classified(table)
    feedback = {"feedback": args.feedback}
    if args.judge_error is not None:
        if not 0.0 <= args.judge_error <= 1.0:
            print("arbiter replay: --judge-error must be in [0, 1]", file=sys.stderr)
            return 2
        feedback["judge_error"] = args.judge_error
    if args.routing_config is not None:
        return _main_routing_config(args, table, feedback)
    escalate: Escalate | None = None
    sweep_escalate: Callable[[float], Escalate] | None = None
    if args.cascade:
        from arbiter.cascade import min_answer_rule

        escalate = min_answer_rule(args.cascade_min_tokens)
        verifier = None
        if args.cascade_verifier:
            from arbiter.cascade import load_verifier, verified_escalation

            verifier = load_verifier()
            if verifier is None or not 0.0 < args.cascade_verifier <= 1.0:
                print("arbiter replay: --cascade-verifier needs a threshold in (0, 1] and the "
                      "shipped verifier", file=sys.stderr)  # fmt: skip
                return 2
            escalate = verified_escalation(verifier, args.cascade_verifier)
        if args.cascade_first:
            if args.cascade_first not in {m.id for m in table.models}:
                print(f"arbiter replay: no outcomes for {args.cascade_first!r}", file=sys.stderr)
                return 2
            sweep_escalate = min_answer_rule
            if verifier is not None:
                v = verifier
                sweep_escalate = lambda t: verified_escalation(v, t)  # noqa: E731
            if not args.knobs:
                knobs = list(VERIFIER_THRESHOLDS if verifier else SHORT_ANSWER_THRESHOLDS)
    cfg = ReplayConfig(
        knob,
        args.seed,
        args.baseline,
        args.explore,
        priors,
        slope_var=args.slope_var,
        prior_strength=args.prior_strength,
        objective=args.objective,
        length_priors=lengths,
        **feedback,
    )
    if args.via_sidecar:
        return _main_via_sidecar(args, table, cfg)
    try:
        doc = replay(
            table, cfg, knobs=knobs if args.sweep else None,
            easiness=_load_easiness(args.difficulty, table), escalate=escalate,
            cheap_first=args.cascade_first, sweep_escalate=sweep_escalate,
            progress=not args.no_progress and sys.stderr.isatty(),
        )  # fmt: skip
    except ValueError as err:
        print(f"arbiter replay: {err}", file=sys.stderr)
        return 2
    doc = {"table": str(args.table), "split": args.split, "cascade": args.cascade, **doc}
    if args.cascade:
        doc |= {"cascade_first": args.cascade_first, "cascade_min_tokens": args.cascade_min_tokens}
    text = orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()
    if args.out:
        args.out.write_text(text + "\n")
    if args.plot:
        plot(doc, args.plot, args.table.name)
    print(text)
    return 0


def classified(table: Table) -> Table:
    """The table with each row's task as the sidecar's classifier names it from the prompt."""
    from arbiter.classify import classify

    rows = tuple(
        replace(r, task=classify([{"role": "user", "content": r.prompt}])) for r in table.rows
    )
    return Table(rows, table.models)


def from_routing(r: Any, table: Table, seed: int = 0, **feedback: Any) -> tuple[ReplayConfig, bool]:
    """A replay of a [routing] section (config.RoutingSettings) on a table: (its config, whether
    the difficulty score is on). The priors file, cascade and judge are read as the sidecar
    reads them (services.py); the table's models stand in for the pool."""
    from arbiter import priors as priors_mod
    from arbiter.cascade import load_verifier

    book = priors_mod.load(r.priors_file)
    ids = [m.id for m in table.models]
    baseline = r.baseline or default_baseline(table)
    params = RouterParams(
        baseline=baseline,
        quality_target=r.quality_target,
        explore=r.explore,
        evidence_cap=r.evidence_cap,
        prior_strength=r.prior_strength,
        default_prior=r.default_prior,
        expected_output_tokens=r.expected_output_tokens,
        cost_weight=r.cost_weight,
    )
    cascade = None
    if r.cascade_tasks:
        verifier = load_verifier() if r.cascade_math_verifier > 0 else None
        cascade = SidecarCascade(
            frozenset(r.cascade_tasks), r.cascade_first_model, r.cascade_all,
            dict(r.cascade_min_answer_tokens), r.cascade_math_verifier, verifier,
        )  # fmt: skip
    by_cost = r.cost_weight > 0
    cfg = ReplayConfig(
        knob=r.cost_weight if by_cost else r.quality_target,
        seed=seed,
        baseline=baseline,
        explore=r.explore,
        priors={m: book.for_model(m) for m in ids},
        prior_strength=r.prior_strength,
        objective="cost_weight" if by_cost else "quality_target",
        length_priors={m: p for m, p in book.lengths.items() if m in ids},
        judge_rate=r.judge_sample_rate if r.judge_model else 0.0,
        params=params,
        cascade=cascade,
        **feedback,
    )
    return cfg, bool(r.difficulty)


def sweep_knob(cfg: ReplayConfig, asked: str = "auto") -> tuple[str, list[float]]:
    """What a --routing-config sweep turns, and its values."""
    casc = cfg.cascade
    if asked == "auto":
        if casc is not None and casc.verifier is not None and "math" in casc.tasks:
            asked = "verifier"
        elif casc is not None and casc.min_answer_tokens:
            asked = "min_answer_tokens"
        else:
            asked = cfg.objective
    values = {
        "verifier": VERIFIER_THRESHOLDS,
        "min_answer_tokens": SHORT_ANSWER_THRESHOLDS,
        "cost_weight": COST_WEIGHT_SWEEP,
        "quality_target": DEFAULT_SWEEP,
    }[asked]
    return asked, list(values)


def _main_routing_config(
    args: argparse.Namespace, table: Table, feedback: Mapping[str, Any]
) -> int:
    from arbiter.config import load_routing
    from arbiter.errors import ConfigError

    clash = [f for f, on in (
        ("--objective", args.objective != "quality_target"), ("--explore", args.explore != 1.0),
        ("--slope-var", args.slope_var is not None), ("--priors", args.priors is not None),
        ("--prior-strength", args.prior_strength is not None), ("--cascade*", args.cascade),
        ("--via-sidecar", args.via_sidecar),
    ) if on]  # fmt: skip
    if clash:
        print(f"arbiter replay: {', '.join(clash)}: set by --routing-config", file=sys.stderr)
        return 2
    try:
        routing = load_routing(args.routing_config, [m.id for m in table.models])
        cfg, use_difficulty = from_routing(routing, table, args.seed, **feedback)
    except ConfigError as err:
        print(f"arbiter replay: {err}", file=sys.stderr)
        return 2
    kind, knobs = sweep_knob(cfg, args.sweep_knob)
    if kind == "verifier" and (cfg.cascade is None or cfg.cascade.verifier is None):
        print("arbiter replay: sweeping the verifier needs routing.cascade_math_verifier > 0 "
              "and math in routing.cascade_tasks", file=sys.stderr)  # fmt: skip
        return 2
    if args.knobs:
        knobs = [float(k) for k in args.knobs.split(",")]
    if args.sweep and kind != cfg.objective:
        cfg = replace(cfg, objective=kind)  # the main run keeps the configured value
        cfg = replace(cfg, knob=_configured(routing, kind, cfg.knob))
    if args.knob is not None:
        cfg = replace(cfg, knob=args.knob)
    easiness = _load_easiness(args.difficulty if use_difficulty else "none", table)
    try:
        doc = replay(
            table, cfg, knobs=knobs if args.sweep else None, easiness=easiness,
            progress=not args.no_progress and sys.stderr.isatty(),
        )  # fmt: skip
    except ValueError as err:
        print(f"arbiter replay: {err}", file=sys.stderr)
        return 2
    doc = {"table": str(args.table), "split": args.split, "routing_config":
           str(args.routing_config), "sweep_knob": kind if args.sweep else None, **doc}  # fmt: skip
    text = orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()
    if args.out:
        args.out.write_text(text + "\n")
    if args.plot:
        plot(doc, args.plot, args.table.name)
    print(text)
    return 0


def _configured(routing: Any, kind: str, default: float) -> float:
    """The config's own value of a cascade knob (the main run's point of a cascade sweep)."""
    if kind == "verifier":
        return float(routing.cascade_math_verifier)
    if kind == "min_answer_tokens":
        return float(max(routing.cascade_min_answer_tokens.values(), default=0))
    return default


def _main_via_sidecar(args: argparse.Namespace, table: Table, cfg: ReplayConfig) -> int:
    import tempfile

    from arbiter.offline.replay_http import replay_via_sidecar

    if args.sweep or args.cascade or args.split != "all" or args.difficulty != "default":
        print("arbiter replay: --via-sidecar runs one knob on the whole table", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="arbiter-replay-") as tmp:
        doc = replay_via_sidecar(table, args.table, args.models, cfg, Path(tmp))
    text = orjson.dumps({"table": str(args.table), **doc}, option=orjson.OPT_INDENT_2).decode()
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
