"""Where bench/latency_slo.py's SLO misses and excess cost come from, request by request.

Replays the learned arm of `bench/latency_slo_replay.py` (the sidecar's latency model, no host
stalls, optimistic draws) and, for each SLO request the router sent to a model whose true chance
of meeting the SLO is under the quantile (a miss, on a reachable SLO), splits the routed
prediction's error against the truth at the answer's true length into two factors:

  * learned: the learned latency fit read at the true length, over the sim's true profile read
    at it (what the latency model gets wrong);
  * length: the true profile read at the length model's prediction (as the router reads it),
    over the same at the true length (what the answer-length model gets wrong);

and flags a **knife edge**: a miss whose chance without the sim's stalls (the 0.5% of +2 s that
the scored `p_fit` includes) is at the quantile, i.e. one a router knowing the profile and the
length exactly would make too, unless its quantile counted the stall share.

Cost: the router's and the quantile oracle's (issue 19's rule on each model's true chance of
meeting the SLO, at the true length: the best a calibrated router can do) against the per-call
oracle (the bench's denominator), so a seed whose quantile oracle is itself near 1.15 shows it.

    python bench/latency_slo_misses.py [--seeds 41 47]

Excess cost (s18/slo21): each SLO request the router sent to a dearer model than the quantile
oracle's, with the router's predicted total for the oracle's model and, where that prediction
was over the SLO (the router read it as too slow: "latency"; else "other", e.g. quality), the
same two factors for the oracle's model; per seed, the excess grouped by task, SLO and swap.

Prints each excess and each miss, then per seed one line; the last line is one JSON object
(per seed).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import latency_slo as live
import latency_slo_replay as replay_mod
from arbiter.latency import lognormal_sum_quantile, z_score
from arbiter.output_length import token_log_moments
from arbiter.routing import Router, RouteRequest


def true_total_ms(model: str, tokens_mu: float, tokens_var: float, z: float) -> float:
    """The sim's profile (no stalls) at standard score z, for a log-normal answer length."""
    _, _, ttft_ms, tps, _ = live.POOL[model]
    t = math.log(ttft_ms / 1000)
    s2, v2 = live.TTFT_SIGMA**2, live.SPEED_SIGMA**2
    return 1000 * lognormal_sum_quantile(t, s2, tokens_mu - math.log(tps), tokens_var + v2, z)


def chance_without_stalls(seed: int, model: str, tokens: int, slo_ms: float) -> float:
    """`Item.p_fit` without the stall term: the same draws as `latency_slo.build_items`."""
    draws = np.random.default_rng(seed)
    z1, z2 = draws.standard_normal(4000), draws.standard_normal(4000)
    _, _, ttft, tps, _ = live.POOL[model]
    t = ttft / 1000 * np.exp(live.TTFT_SIGMA * z1) + tokens / (tps * np.exp(live.SPEED_SIGMA * z2))
    return float(np.mean(t <= slo_ms / 1000))


def seed_report(seed: int) -> dict[str, Any]:
    z = z_score(live.QUANTILE)
    misses: list[dict[str, Any]] = []
    usd = {"router": 0.0, "quantile_oracle": 0.0, "oracle": 0.0}
    excess: list[dict[str, Any]] = []  # SLO requests routed dearer than the quantile oracle

    def factors(router: Router, req: RouteRequest, it: live.Item, m: str) -> dict[str, Any]:
        """Model m's predicted p90 against the truth at the answer's true length, split."""
        assert router.latency is not None and req.stats is not None
        mu, var = token_log_moments(*router.lengths.log_moments(m, req.stats, req.task), z)
        exact = math.log(max(it.truth[m][0], 1))
        truth = true_total_ms(m, exact, 0.0, z)
        learned = router.latency.predict_ms(m, "t", z, exact, 0.0)[1]
        fit = router.latency.estimate(m, "t")
        return {
            "true_p90_ms": round(truth), "learned_factor": round(learned / truth, 3),
            "length_factor": round(true_total_ms(m, mu, var, z) / truth, 3),
            "tokens": it.truth[m][0], "length_median": round(math.exp(mu), 1),
            "length_log_sd": round(math.sqrt(var), 3), "calls": round(fit.calls),
            "ttft_log_sd": round(math.sqrt(fit.ttft_var), 3),
            "speed_log_sd": round(math.sqrt(fit.speed_var), 3),
        }  # fmt: skip

    def trace(i: int, it: live.Item, req: RouteRequest, decision: Any, router: Router) -> None:
        m = decision.chosen
        q = live.quantile_oracle(it)
        usd["router"] += it.truth[m][3]
        usd["quantile_oracle"] += it.truth[q][3]
        usd["oracle"] += it.truth[live.oracle(it)][3]
        if it.truth[m][3] > it.truth[q][3] and it.slo_ms is not None:
            # dearer than the quantile oracle under an SLO: did the router read q as too slow?
            seen = (decision.latency_ms or {}).get(q)
            excess.append({
                "i": i, "task": it.task, "slo_ms": it.slo_ms, "model": m, "quantile_oracle": q,
                "excess_usd": it.truth[m][3] - it.truth[q][3],
                "q_predicted_ms": None if seen is None else round(seen[1]),
                "q_p_fit": round(it.p_fit[q], 3),
                **({} if seen is None or seen[1] <= it.slo_ms else factors(router, req, it, q)),
            })  # fmt: skip
        if it.slo_ms is None or not live.reachable(it) or it.p_fit[m] >= live.QUANTILE:
            return
        misses.append({
            "i": i, "task": it.task, "slo_ms": it.slo_ms, "model": m, "quantile_oracle": q,
            "p_fit": round(it.p_fit[m], 3),
            "p_fit_without_stalls": round(chance_without_stalls(seed, m, it.truth[m][0],
                                                                it.slo_ms), 3),
            "predicted_ms": round((decision.latency_ms or {})[m][1]),
            **factors(router, req, it, m),
        })  # fmt: skip

    row = replay_mod.replay(seed, True, replay_mod.LearnedLatency(None, True), "", trace)
    o = usd["oracle"]
    for e in excess:
        e["excess_vs_oracle"] = round(e.pop("excess_usd") / o, 4)
        print(f"seed {seed} excess: {json.dumps(e)}")
    groups: dict[str, float] = {}
    for e in excess:
        why = (
            "latency"
            if e["q_predicted_ms"] is not None and e["q_predicted_ms"] > e["slo_ms"]
            else "other"
        )
        k = f"{e['task']}@{e['slo_ms']:g}:{e['quantile_oracle']}->{e['model']}:{why}"
        groups[k] = round(groups.get(k, 0.0) + e["excess_vs_oracle"], 4)
    for m in misses:
        m["knife_edge"] = m["p_fit_without_stalls"] >= live.QUANTILE
        print(f"seed {seed} miss: {json.dumps(m)}")
    out = {
        "cost_vs_oracle": row["cost_vs_oracle"], "slo_attainment": row["slo_attainment"],
        "quantile_oracle_cost_vs_oracle": round(usd["quantile_oracle"] / o, 4),
        "router_vs_quantile_oracle": round(usd["router"] / usd["quantile_oracle"], 4),
        "misses": len(misses), "knife_edges": sum(m["knife_edge"] for m in misses),
        "miss_models": sorted({f"{m['model']}@{m['slo_ms']:g}:{m['task']}" for m in misses}),
        "excess_by_kind": dict(sorted(groups.items(), key=lambda kv: -kv[1])),
    }  # fmt: skip
    print(f"seed {seed}: {json.dumps(out)}")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[41, 47])
    args = p.parse_args()
    print(json.dumps({str(s): seed_report(s) for s in args.seeds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
