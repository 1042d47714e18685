"""Cold start: the first 100 requests of a fresh router with and without the shipped priors.

Replays each recorded outcome table in ../shared/data/routing (all rows, seeded shuffles) through
the routing core with the sidecar's defaults (quality target 0.95, prior strength 8, the shipped
difficulty score), once with no priors and once with the priors `arbiter serve` gives each table
model by family (python/arbiter/models/priors.json, matched by name as for a discovered model).
Prints savings and quality against always-baseline on the first 100 requests (and the first 500)
and ends with one JSON line.
Run: .venv/bin/python bench/cold_start.py [--seeds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path
from typing import Any

from arbiter import priors
from arbiter.offline import outcome_table as ot
from arbiter.offline import replay as rp

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ARBITER_SHARED_DIR") or ROOT.parent / "shared")
DATA = SHARED / "data" / "routing"
TABLES = (
    ("gsm8k", "gsm8k.dev.jsonl.gz", "routellm.models.json"),
    ("mmlu", "mmlu.dev.jsonl.gz", "routellm.models.json"),
    ("alpaca_eval", "alpaca_eval.dev.jsonl.gz", "alpaca_eval.models.json"),
)
FIRST = (100, 500)


def first_n(table: ot.Table, res: rp.RunResult, seed: int, baseline: str, n: int) -> dict[str, Any]:
    n = min(n, len(table.rows))
    order = rp.replay_order(len(table.rows), seed)[:n]
    base_cost = sum(table.rows[i].outcomes[baseline].cost_usd for i in order)
    base_q = sum(table.rows[i].outcomes[baseline].quality for i in order) / n
    return {
        "savings_pct": 100.0 * (1 - res.cum_cost[n - 1] / base_cost),
        "quality": res.cum_quality[n - 1] / n,
        "baseline_quality": base_q,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--prior-strength", type=float, default=None, help="default: the router's 8")
    args = ap.parse_args()
    from arbiter import difficulty

    scorer = difficulty.load_default()
    book = priors.load(priors.BUILTIN)
    out: dict[str, Any] = {}
    for name, table_file, models_file in TABLES:
        table = ot.load_table(DATA / table_file, ot.load_models(DATA / models_file))
        easiness = [scorer.easiness(r.prompt) for r in table.rows] if scorer else None
        baseline = ot.default_baseline(table)
        matched = {m.id: book.for_model(m.id) for m in table.models}
        fams = {m.id: (f.name if (f := book.family_of(m.id)) else None) for m in table.models}
        row: dict[str, Any] = {"families": fams}
        for label, pri in (("no_priors", {}), ("shipped_priors", matched)):
            per_n: dict[int, list[dict[str, Any]]] = {n: [] for n in FIRST}
            for seed in range(args.seeds):
                cfg = rp.ReplayConfig(
                    seed=seed, baseline=baseline, priors=pri, prior_strength=args.prior_strength
                )
                res = rp.run(table, cfg, easiness=easiness)
                for n in FIRST:
                    per_n[n].append(first_n(table, res, seed, baseline, n))
            row[label] = {
                f"first_{n}": {k: round(statistics.fmean(r[k] for r in rows), 4) for k in rows[0]}
                for n, rows in per_n.items()
            }
        out[name] = row
        for label in ("no_priors", "shipped_priors"):
            f100 = row[label]["first_100"]
            print(
                f"{name:12s} {label:15s} first 100: savings {f100['savings_pct']:6.1f}%  "
                f"quality {f100['quality']:.3f} (baseline {f100['baseline_quality']:.3f})"
            )
    summary = {
        "seeds": args.seeds,
        "prior_strength": args.prior_strength or 8.0,
        "cold_start_savings_first_100": {
            t: {k: out[t][k]["first_100"]["savings_pct"] for k in ("no_priors", "shipped_priors")}
            for t in out
        },
        "quality_first_100": {
            t: {k: out[t][k]["first_100"]["quality"] for k in ("no_priors", "shipped_priors")}
            | {"baseline": out[t]["no_priors"]["first_100"]["baseline_quality"]}
            for t in out
        },
    }
    if args.prior_strength is None:
        (ROOT / "bench" / "results" / "cold_start.json").write_text(
            json.dumps(out, indent=1) + "\n"
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
