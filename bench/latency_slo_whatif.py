"""Where latency-aware routing loses against the oracle: the same requests re-routed offline with
parts of the router's prediction replaced by the truth.

Runs `bench/latency_slo.py`'s latency-aware arm once (same pool, workload, warm-up), then, with
the latency and answer-length models as they stand at the end, predicts every model's p-quantile
total for every request and applies the router's rule offline (the cheapest model that meets the
quality target and whose prediction fits the SLO; none fits: the fastest predicted of those).
Variants:
  * learned: the router's own prediction (should agree with most live picks);
  * true latency: the sim's profile (median TTFT and speed, their log spread) instead of the
    learned latency model; the answer length still predicted;
  * true length: each answer's real length (no spread) with the learned latency model;
  * both true: what a perfect latency and length model would pay (~ the quantile oracle);
  * per-task length: the length prediction shifted by a running mean of its error per task,
    with that error's variance (learned prequentially, in request order). Since 2026-12-05
    (s5) the router's own prediction is already corrected per task (`length_task`), so this
    row now measures a second, mean-based correction on top of it.
Each prints cost vs the oracle and SLO attainment at the quantile (bench/latency_slo.py's
definitions), plus the calibration of the learned prediction against the sim's draws.

    python bench/latency_slo_whatif.py [--requests 600] [--scale 0.1]

Last line: {"learned": [cost_vs_oracle, attainment], "true_latency": [...], ...}
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import math
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import latency_slo as B
from arbiter import config
from arbiter.classify import classify
from arbiter.difficulty import prompt_stats
from arbiter.latency import lognormal_sum_quantile, z_score
from arbiter.offline.sim.config import parse_config
from arbiter.offline.sim.runner import sim_running
from arbiter.output_length import token_log_moments
from arbiter.server import build_app
from arbiter.services import Services
from arbiter.toml_text import to_toml

Row = dict[str, Any]
Z = z_score(B.QUANTILE)
ORDER = sorted(B.POOL, key=lambda m: B.POOL[m][1])  # by output price


async def collect(n: int, scale: float, seed: int) -> tuple[list[B.Item], list[Row]]:
    """Run the latency-aware arm; per request and model: the learned prediction's parts."""
    items = B.build_items(n + B.WARMUP_PER_MODEL, seed, scale)
    warm, items = items[: B.WARMUP_PER_MODEL], items[B.WARMUP_PER_MODEL :]
    async with sim_running(parse_config(B.sim_settings(scale))) as sim:
        with tempfile.TemporaryDirectory() as tmp:
            doc = B.sidecar_settings(sim.base_url, Path(tmp) / "a.db", scale)
            settings = config.loads(to_toml(doc), env={})
            services = Services(settings, seed=seed)
            app = build_app(settings, services=services)
            await services.start()
            try:
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://127.0.0.1", timeout=120
                ) as client:
                    await B.warm_up(client, warm)
                    picks = await B.run_arm(client, items, scale, True, 4)
                rows = []
                for it, (model, took, _) in zip(items, picks, strict=True):
                    stats = prompt_stats("\n".join(str(m["content"]) for m in it.body["messages"]))
                    task = classify(it.body["messages"], it.body.get("response_format"))
                    per = {}
                    for name in B.POOL:
                        mu, var = services.lengths.log_moments(name, stats, task)
                        f = services.latency.estimate(name)
                        per[name] = {"mu": mu, "var": var, "tm": f.ttft_mu, "tv": f.ttft_var,
                                     "sm": f.speed_mu, "sv": f.speed_var}  # fmt: skip
                    rows.append({"pick": model, "took": took, "per": per})
                print("learned:", json.dumps(services.latency.snapshot()))
            finally:
                await services.stop()
    return items, rows


def predict_ms(p: dict[str, float], scale: float, max_tokens: int | None) -> float:
    """The router's p-quantile total (routing._predict_latency + LatencyModel.predict_ms)."""
    mu, var = token_log_moments(p["mu"], p["var"], Z)  # log(1 + tokens) -> log tokens
    if max_tokens:
        cap = math.log(max_tokens)
        if mu + Z * math.sqrt(var) > cap:
            mu = min(mu, cap)
            var = min(var, max((cap - mu) / Z, 0.1) ** 2)
    total = lognormal_sum_quantile(p["tm"], p["tv"], mu - p["sm"], var + p["sv"], Z)
    return total * 1000 / scale


def route(item: B.Item, per: dict[str, dict[str, float]], scale: float) -> str:
    ok = [m for m in ORDER if B.good_enough(m, item.task)]
    if item.slo_ms is None:
        return ok[0]
    pred = {m: predict_ms(per[m], scale, item.body.get("max_tokens")) for m in B.POOL}
    fits = [m for m in ok if pred[m] <= item.slo_ms]
    return fits[0] if fits else min(ok, key=lambda m: pred[m])  # none fits: over the bar


def score(items: list[B.Item], picks: list[str]) -> list[float]:
    """[cost vs the oracle, SLO attainment at the quantile]."""
    picks = [m if m in B.POOL else B.fastest_model() for m in picks]
    cost = sum(it.truth[m][3] for it, m in zip(items, picks, strict=True))
    oracle = sum(it.truth[B.oracle(it)][3] for it in items)
    feasible = [(it, m) for it, m in zip(items, picks, strict=True)
                if it.slo_ms is not None and B.reachable(it)]  # fmt: skip
    attained = np.mean([it.p_fit[m] >= B.QUANTILE for it, m in feasible])
    return [round(cost / oracle, 4), round(float(attained), 4)]


def variant(
    items: list[B.Item], rows: list[Row], scale: float, change: Callable[[str, B.Item, Any], None]
) -> list[str]:
    picks = []
    for it, row in zip(items, rows, strict=True):
        per = copy.deepcopy(row["per"])
        for name, p in per.items():
            change(name, it, p)
        picks.append(route(it, per, scale))
    return picks


def per_task_length(items: list[B.Item], rows: list[Row], scale: float) -> list[str]:
    """The length prediction corrected by its running error per task (prior: no error, worth
    5 answers; the last ~200 answers of the task), learned from each picked model's answer."""
    seen: dict[str, tuple[float, float, float]] = {}  # task -> (n, mean error, its variance)
    picks = []
    for it, row in zip(items, rows, strict=True):
        n, mean, var = seen.get(it.task, (0.0, 0.0, 0.0))
        per = copy.deepcopy(row["per"])
        for p in per.values():
            shift = n * mean / (n + 5.0)
            spread = (5.0 * p["var"] + n * (var + mean * mean)) / (n + 5.0) - shift * shift
            p["mu"], p["var"] = p["mu"] + shift, max(spread, 0.01)
        pick = route(it, per, scale)
        picks.append(pick)
        err = math.log1p(it.truth[pick][0]) - row["per"][pick]["mu"]
        n = min(n + 1.0, 200.0)
        d = err - mean
        mean += d / n
        var = (1 - 1 / n) * (var + d * d / n)
        seen[it.task] = (n, mean, var)
    return picks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=600)
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    scale = args.scale
    items, rows = asyncio.run(collect(args.requests, scale, args.seed))

    def true_latency(name: str, it: B.Item, p: dict[str, float]) -> None:
        _, _, ttft, tps, _ = B.POOL[name]
        p["tm"], p["tv"] = math.log(ttft / 1000 * scale), B.TTFT_SIGMA**2
        p["sm"], p["sv"] = math.log(tps / scale), B.SPEED_SIGMA**2

    def true_length(name: str, it: B.Item, p: dict[str, float]) -> None:
        p["mu"], p["var"] = math.log1p(it.truth[name][0]), 1e-6

    def both(name: str, it: B.Item, p: dict[str, float]) -> None:
        true_latency(name, it, p)
        true_length(name, it, p)

    live = [r["pick"] for r in rows]
    learned = variant(items, rows, scale, lambda *_: None)
    agree = np.mean([a == b for a, b in zip(live, learned, strict=True)])
    out = {
        "live": score(items, live),
        "learned": score(items, learned),
        "true_latency": score(items, variant(items, rows, scale, true_latency)),
        "true_length": score(items, variant(items, rows, scale, true_length)),
        "both_true": score(items, variant(items, rows, scale, both)),
        "per_task_length": score(items, per_task_length(items, rows, scale)),
        "quantile_oracle": score(items, [B.quantile_oracle(it) for it in items]),
    }
    # calibration of the learned prediction for the model each request went to: against the
    # sim's own draw (no sidecar overhead) and against what the client saw
    draw, seen = [], []
    for it, row in zip(items, rows, strict=True):
        m = row["pick"]
        if it.slo_ms is None or m not in B.POOL:
            continue
        guess = predict_ms(row["per"][m], scale, it.body.get("max_tokens"))
        draw.append(it.truth[m][1] * 1000 <= guess)
        seen.append(row["took"] * 1000 <= guess)
    print(f"offline rule agrees with {agree:.1%} of the live picks")
    for k, (cost, att) in out.items():
        print(f"  {k:16s} cost vs oracle {cost:.3f}   attainment {att:.4f}")
    print(
        f"calibration of the p{B.QUANTILE * 100:g} (SLO requests, chosen model): "
        f"{np.mean(draw):.3f} of the sim's draws, {np.mean(seen):.3f} of the client-seen times"
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
