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
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import latency_slo as live  # the live bench: its pool, workload and oracles
from arbiter.classify import classify
from arbiter.difficulty import prompt_stats
from arbiter.latency import lognormal_sum_quantile
from arbiter.offline.sim.state import prompt_tokens
from arbiter.output_length import OutputLength
from arbiter.routing import PoolModel, Router, RouteRequest, RouterParams


class ProfileLatency:
    """The sim's latency profile as the router's latency model (`LatencyModel.predict_ms`)."""

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


def replay(seed: int, optimistic: bool) -> dict[str, Any]:
    items = live.build_items(600, seed, 1.0)
    tasks = ("code", "math", "extraction", *live._OPEN)
    pool = [
        PoolModel(name, p[0], p[1], 32000, frozenset({"chat", "json", "tools"}),
                  {t: live.quality_of(name, t) for t in tasks})
        for name, p in live.POOL.items()
    ]  # fmt: skip
    params = RouterParams(
        baseline=live.BASELINE, quality_target=live.QUALITY_TARGET, prior_strength=200.0,
        latency_quantile=live.QUANTILE, optimistic=optimistic,
    )  # fmt: skip
    lengths = OutputLength(350)
    router = Router(pool, params, seed=seed, lengths=lengths, latency=ProfileLatency())  # type: ignore[arg-type]
    asked = []
    for it in items:
        text = "\n".join(str(m["content"]) for m in it.body["messages"])
        task = classify(it.body["messages"], it.body.get("response_format"))
        asked.append((prompt_stats(text), task, prompt_tokens(it.body["messages"])))
    for name in live.POOL:  # the live bench's warm-up: its first 30 prompts to every model
        for it, (stats, task, _) in zip(items[: live.WARMUP_PER_MODEL], asked, strict=False):
            lengths.observe(name, stats, it.truth[name][0], task=task)
    cost = oracle_cost = good = baseline_good = 0.0
    met = reachable = 0
    for it, (stats, task, tokens_in) in zip(items, asked, strict=True):
        req = RouteRequest("t", task, tokens_in, it.body.get("max_tokens"), stats=stats,
                           max_latency_ms=it.slo_ms)  # fmt: skip
        model = router.decide(req).chosen
        tokens, seconds, ok, usd = it.truth[model]
        late = it.slo_ms is not None and seconds * 1000 > it.slo_ms
        cost += usd
        oracle_cost += it.truth[live.oracle(it)][3]
        good += ok and not late
        baseline_good += it.truth[live.BASELINE][2]
        if it.slo_ms is not None and live.reachable(it):
            reachable += 1
            met += it.p_fit[model] >= live.QUANTILE
        if not late:
            lengths.observe(model, stats, tokens, task=task)
            if it.task in ("math", "code", "extraction"):
                router.learn("t", task, model, float(ok))
    return {
        "cost_vs_oracle": round(cost / oracle_cost, 4),
        "slo_attainment": round(met / max(reachable, 1), 4),
        "quality_ratio": round(good / baseline_good, 4),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 7, 11, 13, 17])
    p.add_argument("--quality-target", type=float, default=live.QUALITY_TARGET)
    args = p.parse_args()
    live.QUALITY_TARGET = args.quality_target  # the router's and the oracles' bar, as live
    out: dict[str, dict[str, float]] = {}
    for arm, optimistic in (("plain", False), ("optimistic", True)):
        rows = []
        for seed in args.seeds:
            row = replay(seed, optimistic)
            print(f"seed {seed} {arm}: {json.dumps(row)}")
            rows.append(row)
        out[arm] = {k: round(sum(r[k] for r in rows) / len(rows), 4) for k in rows[0]}
    print(json.dumps({"seeds": args.seeds, "quality_target": args.quality_target, **out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
