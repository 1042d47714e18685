"""bench/latency_slo.py's workload through the real `Router` offline: no sidecar, no host noise.

The live bench runs at --scale 0.1 in one process on a shared machine, so the sidecar's own time
and the host's load show up as model latency, ten times over; same-code runs of one seed differ
by 0.1-0.4 in cost vs the oracle at load 3-10 (bench/results/latency_slo.md, ninth session).
This replays the same requests, in order, through `routing.Router` (the bandit, the answer-length
model learning from every answer, the latency rule and its none-fits rule) with the sim's true
latency profile (median TTFT and speed and their log spreads, as `bench/latency_slo.py`'s POOL
states them) in place of the learned latency model, so what changes between two router
versions is the router alone. Grades: the sim's, for math, code and extraction (the sidecar's
automatic graders); open tasks get none (the bench has no judge). An answer later than its SLO
is cut: billed in full, not good, and teaches nothing. Definitions (cost vs the oracle,
attainment at the quantile over reachable SLOs, quality vs always-baseline) are the live
bench's.

    python bench/latency_slo_replay.py [--seeds 3 4 7 11 13 17] [--quality-target 0.9]

Prints each seed with plain and optimistic Thompson draws (`routing.optimistic`); the last line
is one JSON object: per arm, the mean over seeds.

`--stalls requests|model`: the latency model is the sidecar's own (`LatencyModel`, taught by
every answered call, with the change detector and its adoption as services._changed applies
it), and host stalls are injected into the times it *observes* (not the truth the oracle and
the scoring use): deterministic bursts of 3, 5 or 10 calls whose observed time is 2-10x, about
one burst per `STALL_EVERY` requests, over consecutive requests or one model's consecutive
calls (`Stalls`). Arms (optimistic draws), each without and with the stall gate
(`latency.outlier_z`, latency_outliers.py; "_before": without): learned without stalls, and
with stalls.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import latency_slo as live  # the live bench: its pool, workload and oracles
import latency_slo_streams as streams  # --stream-share: streams and first-token SLOs
from arbiter import changepoint, config
from arbiter.classify import classify
from arbiter.difficulty import prompt_stats_and_shape
from arbiter.latency import (
    ALL_TENANTS,
    Estimate,
    LatencyModel,
    LatencyPrior,
    lognormal_sum_quantile,
)
from arbiter.latency_coverage import CoverageTracker
from arbiter.latency_explore import LatencyExplore
from arbiter.latency_outliers import Outliers
from arbiter.latency_slo import material_ratio
from arbiter.offline.sim.config import parse_config
from arbiter.offline.sim.failures import messages_digest, request_rng
from arbiter.offline.sim.latency_profile import draw
from arbiter.offline.sim.state import prompt_tokens
from arbiter.output_length import OutputLength
from arbiter.routing import PoolModel, Router, RouteRequest, RouterParams
from arbiter.toml_text import to_toml

LENGTH_NEAR: int | None = None  # --length-near: latency.length_near_prompts (None: the config's)
EXPLORE_Z: float | None = None  # --explore-z: latency.explore_z (None: the config's)
SPREAD_POOL: float | None = None  # --spread-pool: latency.spread_pool_calls (None: the config's)
SPLIT_PRIOR: float | None = None  # --split-prior: latency.split_prior_calls (None: the config's)
# --spread-prior-pool on|off: latency.spread_prior_pool (None: the config's)
SPREAD_PRIOR_POOL: bool | None = None
# --stream-prior-distance on|off: latency.stream_prior_distance (None: the config's)
STREAM_PRIOR_DISTANCE: bool | None = None
# --length-task-prior-pool on|off: latency.length_task_prior_pool (None: the config's)
LENGTH_TASK_POOL: bool | None = None
# --late-good-ratio: routing.latency_late_good_ratio (None: the config's)
LATE_GOOD: float | None = None
# --fresh-draws: each request's calls take their own latency draw (see fresh_draws)
FRESH_DRAWS = False
# --stream-share: the share of requests sent as streams (latency_slo_streams; 0: none, the
# workload's definition)
STREAM_SHARE = 0.0
# issue 19's goals per run (a seed): the replay counts the seeds that meet them (slo26's rule)
GOAL_ATTAINMENT, GOAL_COST, GOAL_QUALITY = 0.99, 1.15, 0.95
STALL_EVERY = 60  # requests between injected host-stall bursts, on average
SECONDS_PER_REQUEST = 1.0  # the replay's clock (the live bench's pace in real time)


def _config_latency() -> config.LatencySettings:
    """The `[latency]` settings as the live bench configures the sidecar."""
    toml = to_toml(live.sidecar_settings("http://127.0.0.1:9", Path("unused.db"), 1.0))
    return config.loads(toml, env={}).latency


def _config_late_good() -> float:
    """`routing.latency_late_good_ratio` as the live bench configures the sidecar."""
    toml = to_toml(live.sidecar_settings("http://127.0.0.1:9", Path("unused.db"), 1.0))
    return config.loads(toml, env={}).routing.latency_late_good_ratio


def _config_near() -> int:
    """`latency.length_near_prompts` as the live bench configures the sidecar."""
    toml = to_toml(live.sidecar_settings("http://127.0.0.1:9", Path("unused.db"), 1.0))
    return config.loads(toml, env={}).latency.length_near_prompts


class ProfileLatency:
    """The sim's latency profile as the router's latency model (`LatencyModel.predict_ms`)."""

    explore = None  # the profile is known: nothing to explore (`LatencyModel.explore`)

    def predict_ms(
        self, model: str, tenant: str, z: float, tokens_mu: float, tokens_var: float
    ) -> tuple[float, float]:
        _, _, ttft_ms, tokens_per_s, _ = live.POOL[model]
        ttft = math.log(ttft_ms / 1000)
        sigma2, speed2 = live.TTFT_SIGMA**2, live.SPEED_SIGMA**2
        total = lognormal_sum_quantile(
            ttft, sigma2, tokens_mu - math.log(tokens_per_s), tokens_var + speed2, z
        )
        return 1000 * math.exp(ttft + z * live.TTFT_SIGMA), 1000 * total

    def estimate(self, model: str, tenant: str = ALL_TENANTS) -> Estimate:
        """The profile as a fit the router has seen (calls > 0: no latency probe for it; the
        router asks since the probes of d815e27, which broke this arm)."""
        _, _, ttft_ms, tokens_per_s, _ = live.POOL[model]
        return Estimate(
            math.log(ttft_ms / 1000), live.TTFT_SIGMA**2, math.log(tokens_per_s),
            live.SPEED_SIGMA**2, calls=1e9,
        )  # fmt: skip


class LearnedLatency:
    """The sidecar's latency model (its settings as the live bench configures them, at time
    scale 1) with the latency change detector, on a clock of SECONDS_PER_REQUEST per call."""

    def __init__(self, confirm: int | None, outliers: bool = True) -> None:
        toml = to_toml(live.sidecar_settings("http://127.0.0.1:9", Path("unused.db"), 1.0))
        lat = config.loads(toml, env={}).latency
        explore_z = lat.explore_z if EXPLORE_Z is None else EXPLORE_Z
        self.now = 0.0
        self.model = LatencyModel(
            half_life_s=lat.half_life_s,
            prior=LatencyPrior(lat.prior_ttft_ms, lat.prior_tokens_per_s, lat.prior_log_sd),
            prior_weight=lat.prior_weight, tenant_min_calls=lat.tenant_min_calls,
            clock=lambda: self.now,
            coverage=CoverageTracker(live.QUANTILE, lat.coverage_step)
            if lat.coverage_step > 0 else None,
            outliers=Outliers(z=lat.outlier_z) if outliers and lat.outlier_z > 0 else None,
            spread_pool_calls=lat.spread_pool_calls if SPREAD_POOL is None else SPREAD_POOL,
            split_prior_calls=lat.split_prior_calls if SPLIT_PRIOR is None else SPLIT_PRIOR,
            spread_prior_pool=lat.spread_prior_pool
            if SPREAD_PRIOR_POOL is None else SPREAD_PRIOR_POOL,
            explore=LatencyExplore(explore_z) if explore_z > 0 else None,
            stream_prior_distance=lat.stream_prior_distance
            if STREAM_PRIOR_DISTANCE is None else STREAM_PRIOR_DISTANCE,
        )  # fmt: skip
        self.h = changepoint.threshold_for(1.0)
        self.confirm = confirm
        self.detectors: dict[str, changepoint.LogLevelDetector] = {}
        self.adopted = 0

    def answered(
        self,
        model: str,
        seconds: float,
        tokens: int,
        predicted_ms: float | None,
        ttft_s: float | None = None,
    ) -> None:
        """One answered call as the sidecar sees it (latency_slo.observe_attempts); `ttft_s`:
        a stream's time to its first token."""
        f = self.model.estimate(model, "t")
        expected = math.exp(f.ttft_mu) + max(tokens, 1) / math.exp(f.speed_mu)
        det = self.detectors.get(model)
        if det is None:
            det = self.detectors[model] = changepoint.latency_detector(self.h, self.confirm)
        change = det.observe(material_ratio(seconds, expected), self.now)
        if change is not None:  # as services._changed adopts it
            g = self.model.estimate(model)
            m = change.magnitude
            self.model.adopt(model, ttft_ms=math.exp(g.ttft_mu) * m * 1000.0,
                             tokens_per_s=math.exp(g.speed_mu) / m)  # fmt: skip
            del self.detectors[model]
            self.adopted += 1
        if self.model.coverage is not None and predicted_ms is not None:
            self.model.coverage.observe(model, predicted_ms, seconds * 1000)
        self.model.observe_call(model, "t", elapsed_s=seconds, tokens=tokens, ttft_s=ttft_s)

    def cut(self, model: str, seconds: float, predicted_ms: float | None) -> None:
        """A call cut at its deadline: a lower bound on its time, a miss of the prediction."""
        if self.model.coverage is not None and predicted_ms is not None:
            self.model.coverage.observe(model, predicted_ms, seconds * 1000)
        self.model.observe_call(model, "t", elapsed_s=seconds, tokens=0, failed=True)


class Stalls:
    """Deterministic host-stall bursts per seed: about one per STALL_EVERY requests, each of
    3, 5 or 10 calls at one factor in 2-10x. `per_model`: a burst slows the next k calls of the
    model that answers the request it starts at (what that model's change detector sees as k
    consecutive slow calls); else the next k requests, whichever models answer them."""

    def __init__(self, n: int, seed: int, per_model: bool) -> None:
        rng = random.Random(seed * 7919 + 19)
        self.starts: dict[int, tuple[int, float]] = {}
        i = 0
        while i < n:
            if rng.random() < 1.0 / STALL_EVERY:
                self.starts[i] = (rng.choice((3, 5, 10)), rng.uniform(2.0, 10.0))
                i += 10
            else:
                i += 1
        self.per_model = per_model
        self.left: dict[str, tuple[int, float]] = {}  # model ("" = any) -> (calls left, factor)

    def factor(self, i: int, model: str) -> float:
        """The factor on request i's observed time, answered by `model`."""
        if i in self.starts:
            self.left[model if self.per_model else ""] = self.starts[i]
        key = model if self.per_model else ""
        left, f = self.left.get(key, (0, 1.0))
        if left <= 0:
            return 1.0
        self.left[key] = (left - 1, f)
        return f


def fresh_draws(items: list[live.Item]) -> list[live.Item]:
    """The items with each request's latency drawn anew (same answers, lengths, grades and
    `p_fit`). The live bench runs its sim with `same_draws_per_prompt`, so that the oracle's
    precomputed time is the call's: every repeat of a prompt to a model takes the same draw,
    with the sim's seed (11) whatever the bench's, so a router learns from one draw seen
    several times (and across seeds: ~a fifth of two seeds' prompts are shared) while the
    scoring (`p_fit`) counts each request as a fresh draw. Offline nothing needs the repeat:
    request i's draw is the sim's own stream at counter i + 1 (the live sim's counter is 0
    under that setting), so the learned latency and the per-call oracle see independent
    draws, as the scoring does. Not the live bench's figures: a replay-only measurement."""
    cfg = parse_config(live.sim_settings(1.0))
    out = []
    for i, it in enumerate(items):
        digest = messages_digest(it.body["messages"])
        truth = {}
        for name, (tokens, _, ok, usd) in it.truth.items():
            profile = cfg.models[name].latency
            assert profile is not None
            rng = request_rng(cfg.seed, name + "#latency", digest, i + 1)
            truth[name] = (tokens, draw(profile, rng, 0, 1.0).total_s(tokens), ok, usd)
        out.append(replace(it, truth=truth))
    return out


def replay(
    seed: int,
    optimistic: bool,
    learned: LearnedLatency | None = None,
    stalls: str = "",
    trace: Callable[[int, live.Item, RouteRequest, Any, Router], None] | None = None,
) -> dict[str, Any]:
    """One seed's figures. `trace`: called with each request (index, item, request, the
    router's decision, the router) after routing it and before anything learns from its
    answer (bench/latency_slo_misses.py reads what the router saw)."""
    items = live.build_items(600, seed, 1.0)
    if FRESH_DRAWS:
        items = fresh_draws(items)
    tasks = ("code", "math", "extraction", *live._OPEN)
    pool = [
        PoolModel(name, p[0], p[1], 32000, frozenset({"chat", "json", "json-schema", "tools"}),
                  {t: live.quality_of(name, t) for t in tasks})
        for name, p in live.POOL.items()
    ]  # fmt: skip
    params = RouterParams(
        baseline=live.BASELINE, quality_target=live.QUALITY_TARGET, prior_strength=200.0,
        latency_quantile=live.QUANTILE, optimistic=optimistic,
        latency_late_good_ratio=_config_late_good() if LATE_GOOD is None else LATE_GOOD,
    )  # fmt: skip
    pool_tasks = (
        _config_latency().length_task_prior_pool if LENGTH_TASK_POOL is None else LENGTH_TASK_POOL
    )
    lengths = OutputLength(
        350, near=LENGTH_NEAR if LENGTH_NEAR is not None else _config_near(), pool_tasks=pool_tasks
    )
    latency = ProfileLatency() if learned is None else learned.model
    router = Router(pool, params, seed=seed, lengths=lengths, latency=latency)  # type: ignore[arg-type]
    asked = []
    for it in items:
        text = "\n".join(str(m["content"]) for m in it.body["messages"])
        task = classify(it.body["messages"], it.body.get("response_format"))
        stats, shape = prompt_stats_and_shape(text)
        asked.append((stats, task, prompt_tokens(it.body["messages"]), shape))
    for name in live.POOL:  # the live bench's warm-up: its first 30 prompts to every model
        for it, (stats, task, _, shape) in zip(items[: live.WARMUP_PER_MODEL], asked, strict=False):
            lengths.observe(name, stats, it.truth[name][0], task=task, shape=shape)
            if learned is not None:  # the probes teach the latency model too (no stalls)
                learned.now += SECONDS_PER_REQUEST
                learned.answered(name, it.truth[name][1], it.truth[name][0], None)
    stalled = Stalls(len(items), seed, stalls == "model") if stalls else None
    cost = oracle_cost = good = baseline_good = expected = baseline_expected = 0.0
    met = reachable = ttft_met = ttft_reachable = 0
    controls = Controls(seed)
    plan = streams.plan(items, seed, STREAM_SHARE)
    for i, (it, (stats, task, tokens_in, shape)) in enumerate(zip(items, asked, strict=True)):
        s = plan[i]  # None: not a stream; a stream asks a first-token SLO, if any
        req = RouteRequest("t", task, tokens_in, it.body.get("max_tokens"), stats=stats,
                           max_latency_ms=it.slo_ms if s is None else None,
                           max_ttft_ms=None if s is None else s.ttft_slo_ms,
                           shape=shape)  # fmt: skip
        decision = router.decide(req)
        if trace is not None:
            trace(i, it, req, decision, router)
        model = decision.chosen
        tokens, seconds, ok, usd = it.truth[model]
        late = streams.late(it, s, model)
        if learned is not None:  # it learns what it observes: the truth, times any stall
            learned.now += SECONDS_PER_REQUEST
            guess = (decision.latency_ms or {}).get(model)
            predicted = guess[1] if guess is not None else None
            factor = stalled.factor(i, model) if stalled is not None else 1.0
            observed = seconds * factor
            if s is not None:  # a stream: its first token is seen apart from the rest
                first = s.ttft_s[model] * factor
                if s.ttft_slo_ms is not None and first * 1000 > s.ttft_slo_ms:
                    learned.cut(model, s.ttft_slo_ms / 1000, None)  # no first token by then
                else:
                    learned.answered(model, observed, tokens, predicted, ttft_s=first)
            elif it.slo_ms is not None and observed * 1000 > it.slo_ms:  # cut at the deadline
                learned.cut(model, it.slo_ms / 1000, predicted)
            else:
                learned.answered(model, observed, tokens, predicted)
        cost += usd
        oracle_cost += it.truth[streams.oracle(it, s)][3]
        controls.observe(it, s)
        good += ok and not late
        baseline_good += it.truth[live.BASELINE][2]
        # free of the grade draws: the pick's pass rate x its chance of being on time
        expected += live.quality_of(model, it.task) * streams.p_fit(it, s, model)
        baseline_expected += live.quality_of(live.BASELINE, it.task)
        if streams.has_slo(it, s) and streams.reachable(it, s):
            reachable += 1
            met += streams.p_fit(it, s, model) >= live.QUANTILE
            if s is not None:
                ttft_reachable += 1
                ttft_met += streams.p_fit(it, s, model) >= live.QUANTILE
        if not late:
            lengths.observe(model, stats, tokens, task=task, shape=shape)
            if it.task in ("math", "code", "extraction"):
                router.learn("t", task, model, float(ok))
    return {
        "cost_vs_oracle": round(cost / oracle_cost, 4),
        "slo_attainment": round(met / max(reachable, 1), 4),
        "quality_ratio": round(good / baseline_good, 4),
        "quality_ratio_expected": round(expected / baseline_expected, 4),
        **({} if learned is None else {"latency_adopted": learned.adopted}),
        **controls.row(oracle_cost, baseline_good),
        # beside quality_ratio (against always-baseline, whose answers are never late): the
        # same graded quality against the oracle's on these requests, whose own ratio is the
        # level a router obeying issue 19's rule can hope for (0.93-0.96 per seed)
        "quality_vs_oracle": round(good / max(controls.good["oracle"], 1e-9), 4),
        # with a stream share: attainment over the first-token SLOs alone (in slo_attainment too)
        **(
            {}
            if STREAM_SHARE <= 0
            else {
                "ttft_attainment": round(ttft_met / max(ttft_reachable, 1), 4),
                "ttft_slo_requests": ttft_reachable,
                **controls.ttft_row(),
            }
        ),
    }


class Controls:
    """The same requests' figures, in the same run, for three controls with the replay's
    definitions: the oracle (issue 19's rule on each call's true latency; its cost is the
    denominator, so only its attainment and quality), a router that picks a model uniformly
    at random (seeded per seed: the same picks whatever the router under test does), and
    always-fastest (issue 19's control (a): the model with the lowest median latency, the live
    bench's `fastest_model`, for every request)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed * 104729 + 7)
        self.names = list(live.POOL)
        self.fastest = live.fastest_model()
        self.cost = {"random": 0.0, "fastest": 0.0}
        self.good = {"oracle": 0.0, "random": 0.0, "fastest": 0.0}
        self.met = {"oracle": 0, "random": 0, "fastest": 0}
        self.reachable = 0
        # first-token SLOs (a stream share)
        self.ttft_met = {"oracle": 0, "random": 0, "fastest": 0}
        self.ttft_reachable = 0

    def observe(self, it: live.Item, s: streams.Stream | None = None) -> None:
        picks = {
            "oracle": streams.oracle(it, s),
            "random": self.rng.choice(self.names),
            "fastest": self.fastest,
        }
        reach = streams.has_slo(it, s) and streams.reachable(it, s)
        self.reachable += reach
        self.ttft_reachable += reach and s is not None
        for arm, m in picks.items():
            _, _, ok, usd = it.truth[m]
            late = streams.late(it, s, m)
            self.good[arm] += ok and not late
            hit = reach and streams.p_fit(it, s, m) >= live.QUANTILE
            self.met[arm] += hit
            self.ttft_met[arm] += hit and s is not None
            if arm in self.cost:
                self.cost[arm] += usd

    def ttft_row(self) -> dict[str, float]:
        n = max(self.ttft_reachable, 1)
        return {f"{arm}_ttft_attainment": round(v / n, 4) for arm, v in self.ttft_met.items()}

    def row(self, oracle_cost: float, baseline_good: float) -> dict[str, float]:
        n = max(self.reachable, 1)
        return {
            "oracle_attainment": round(self.met["oracle"] / n, 4),
            "oracle_quality": round(self.good["oracle"] / baseline_good, 4),
            "random_cost_vs_oracle": round(self.cost["random"] / oracle_cost, 4),
            "random_attainment": round(self.met["random"] / n, 4),
            "random_quality": round(self.good["random"] / baseline_good, 4),
            "fastest_cost_vs_oracle": round(self.cost["fastest"] / oracle_cost, 4),
            "fastest_attainment": round(self.met["fastest"] / n, 4),
            "fastest_quality": round(self.good["fastest"] / baseline_good, 4),
        }


def goal_counts(rows: list[dict[str, float]]) -> dict[str, int]:
    """How many seeds meet each of issue 19's goals, and all three (the ship rule's counts)."""
    under_att = sum(r["slo_attainment"] < GOAL_ATTAINMENT for r in rows)
    over_cost = sum(r["cost_vs_oracle"] > GOAL_COST for r in rows)
    under_q = sum(r["quality_ratio"] < GOAL_QUALITY for r in rows)
    met = sum(
        r["slo_attainment"] >= GOAL_ATTAINMENT
        and r["cost_vs_oracle"] <= GOAL_COST
        and r["quality_ratio"] >= GOAL_QUALITY
        for r in rows
    )
    return {
        "seeds_all_goals": met,
        "seeds_under_attainment": under_att,
        "seeds_over_cost": over_cost,
        "seeds_under_quality": under_q,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 7, 11, 13, 17])
    p.add_argument("--quality-target", type=float, default=live.QUALITY_TARGET)
    p.add_argument(
        "--stalls", choices=("requests", "model", "all"), default=None,
        help="learned latency, host-stall bursts over consecutive requests or one model's calls;"
        " all: the three arms a latency change is judged on (learned, stalls model, stalls"
        " requests; the gate on), with each arm's worst seed",
    )  # fmt: skip
    p.add_argument(
        "--fresh-draws", action="store_true",
        help="each request's latency drawn anew, not one draw per prompt (fresh_draws)",
    )  # fmt: skip
    p.add_argument(
        "--length-near", type=int, default=None,
        help="latency.length_near_prompts for the answer-length model (default: the config's)",
    )  # fmt: skip
    p.add_argument(
        "--explore-z", type=float, default=None,
        help="latency.explore_z for the learned arms (default: the config's)",
    )  # fmt: skip
    p.add_argument(
        "--spread-pool", type=float, default=None,
        help="latency.spread_pool_calls for the learned arms (default: the config's)",
    )  # fmt: skip
    p.add_argument(
        "--split-prior", type=float, default=None,
        help="latency.split_prior_calls for the learned arms (default: the config's)",
    )  # fmt: skip
    p.add_argument(
        "--spread-prior-pool", choices=("on", "off"), default=None,
        help="latency.spread_prior_pool for the learned arms (default: the config's)",
    )  # fmt: skip
    p.add_argument(
        "--stream-prior-distance", choices=("on", "off"), default=None,
        help="latency.stream_prior_distance for the learned arms (default: the config's)",
    )  # fmt: skip
    p.add_argument(
        "--length-task-prior-pool", choices=("on", "off"), default=None,
        help="latency.length_task_prior_pool (default: the config's)",
    )  # fmt: skip
    p.add_argument(
        "--late-good-ratio", type=float, default=None,
        help="routing.latency_late_good_ratio (default: the config's)",
    )  # fmt: skip
    p.add_argument(
        "--stream-share", type=float, default=0.0,
        help="the share of requests sent as streams, a first-token SLO in place of a total one"
        " (latency_slo_streams; default 0: the workload as defined, no streams)",
    )  # fmt: skip
    p.add_argument(
        "--arms", nargs="+", default=None,
        help="run only these of the chosen arms (e.g. learned: a quick first look on dev)",
    )  # fmt: skip
    args = p.parse_args()
    if args.stream_share and args.fresh_draws:
        p.error("--stream-share reads each call's TTFT from the sim's one draw per prompt;"
                " it does not combine with --fresh-draws")  # fmt: skip
    if not 0.0 <= args.stream_share <= 1.0:
        p.error("--stream-share must be in [0, 1]")
    global LENGTH_NEAR, FRESH_DRAWS, EXPLORE_Z, SPREAD_POOL, SPREAD_PRIOR_POOL, STREAM_SHARE
    global STREAM_PRIOR_DISTANCE, LENGTH_TASK_POOL, SPLIT_PRIOR, LATE_GOOD
    LATE_GOOD = args.late_good_ratio
    STREAM_SHARE = args.stream_share
    if args.length_task_prior_pool is not None:
        LENGTH_TASK_POOL = args.length_task_prior_pool == "on"
    if args.stream_prior_distance is not None:
        STREAM_PRIOR_DISTANCE = args.stream_prior_distance == "on"
    LENGTH_NEAR = args.length_near
    SPREAD_POOL = args.spread_pool
    SPLIT_PRIOR = args.split_prior
    if args.spread_prior_pool is not None:
        SPREAD_PRIOR_POOL = args.spread_prior_pool == "on"
    EXPLORE_Z = args.explore_z
    FRESH_DRAWS = args.fresh_draws
    live.QUALITY_TARGET = args.quality_target  # the router's and the oracles' bar, as live
    out: dict[str, dict[str, float]] = {}
    # (arm, optimistic draws, learned latency's detector confirmation or "profile", stalls,
    # stalls kept out of the latency sums by latency_outliers)
    arms: list[tuple[str, bool, int | str | None, str, bool]] = [
        ("plain", False, "profile", "", True), ("optimistic", True, "profile", "", True)
    ]  # fmt: skip
    if args.stalls == "all":
        arms = [("learned", True, None, "", True), ("stalls_model", True, None, "model", True),
                ("stalls_requests", True, None, "requests", True)]  # fmt: skip
    elif args.stalls:
        arms = [("learned_before", True, None, "", False), ("learned", True, None, "", True),
                ("stalls_before", True, None, args.stalls, False),
                ("stalls_now", True, None, args.stalls, True)]  # fmt: skip
    if args.arms:
        arms = [a for a in arms if a[0] in args.arms]
    for arm, optimistic, confirm, stalls, outliers in arms:
        rows = []
        for seed in args.seeds:
            learned = (
                None if confirm == "profile" else LearnedLatency(confirm, outliers)  # type: ignore[arg-type]
            )
            row = replay(seed, optimistic, learned, stalls)
            print(f"seed {seed} {arm}: {json.dumps(row)}")
            rows.append(row)
        out[arm] = {k: round(sum(r[k] for r in rows) / len(rows), 4) for k in rows[0]}
        out[arm]["max_cost_vs_oracle"] = max(r["cost_vs_oracle"] for r in rows)
        out[arm]["min_slo_attainment"] = min(r["slo_attainment"] for r in rows)
        out[arm].update(goal_counts(rows))
    shares = {} if STREAM_SHARE <= 0 else {"stream_share": STREAM_SHARE}
    print(json.dumps({"seeds": args.seeds, "quality_target": args.quality_target, **shares, **out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
