"""Routing-quality bench: every dev outcome table through `arbiter.replay` with a sweep.

Prints, per table, Arbiter against the random router, always-strong/always-weak, the oracle and
RouteLLM's published anchors; writes bench/results/routing.json and routing.md. GSM8K and MMLU are
replayed on the difficulty model's held-out rows only; AlpacaEval (never trained on) in full.
Run: .venv/bin/python bench/routing.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from arbiter import replay as rp
from arbiter.cascade import load_verifier, should_escalate, verified_escalation
from arbiter.difficulty import load_default
from arbiter.train_difficulty import static_sweep

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "routing"
OUT = ROOT / "bench" / "results"
TABLES = (  # (name, table, models, split)
    ("gsm8k", "gsm8k.dev.jsonl.gz", "routellm.models.json", "heldout"),
    ("mmlu", "mmlu.dev.jsonl.gz", "routellm.models.json", "heldout"),
    ("alpaca_eval", "alpaca_eval.dev.jsonl.gz", "alpaca_eval.models.json", "all"),
)
ROUTELLM_BEST = {  # RouteLLM paper, GPT-4 vs Mixtral, best router per benchmark
    "gsm8k": {"apgr": 0.622, "cpt50": 33.6, "cpt80": 63.3},
    "mmlu": {"apgr": 0.603, "cpt50": 35.4, "cpt80": 70.3},
    "mt_bench": {"apgr": 0.802, "cpt50": 13.4, "cpt80": 31.3},
}
RANDOM = {"apgr": 0.5, "cpt50": 50.0, "cpt80": 80.0}  # expected curve PGR = c
# Cold-start priors from public benchmark results (not from these tables): GPT-4 technical report
# (MMLU 86.4%, GSM8K 92.0%) and the Mixtral of Experts paper (MMLU 70.6%, GSM8K 74.4%).
PRIORS = {
    "gpt-4-1106-preview": {"knowledge": 0.864, "math": 0.92},
    "mistralai/Mixtral-8x7B-Instruct-v0.1": {"knowledge": 0.706, "math": 0.744},
}
# per-prompt slope prior variance that trusts the shipped difficulty ranking; chosen on the
# GSM8K+MMLU non-held-out rows from {1e-6, 1e-4, 1e-3} (the router's default is 0.25)
PINNED_SLOPE_VAR = 1e-4
VERIFIER_THRESHOLDS = tuple(round(0.02 * k, 2) for k in range(1, 50))  # P(wrong) cut-offs
LEGEND = (
    "Rows: `arbiter` = the sidecar's router, default params, shipped difficulty score; "
    "`arbiter_pinned_slope` = the same with the per-prompt slope prior variance "
    f"{PINNED_SLOPE_VAR:g} (trusts the score's ranking; the sidecar default is 0.25); "
    "`arbiter_cascade` = router + rule-based escalation; `cascade_verifier` = cheap model first "
    "for every prompt, escalated when the math verifier's P(wrong) >= the swept threshold "
    "(both calls charged; strong % = prompts that reached the strong model).",
)
KEYS = ("apgr", "cpt50", "cpt80", "aiq", "aiq_hull", "aiq_oracle")


def _oracle_sweep(table: rp.Table, strong: str, weak: str) -> dict[str, float | None]:
    qs = np.asarray([r.outcomes[strong].quality for r in table.rows])
    qw = np.asarray([r.outcomes[weak].quality for r in table.rows])
    return static_sweep(-(qs - qw), qs, qw)


def _pick(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: doc[k] for k in KEYS if k in doc}
    if "escalations_pct" in doc:
        out |= {"escalations_pct_at_knob": doc["escalations_pct"]}
    return out


def bench_table(name: str, table_file: str, models_file: str, split: str) -> dict[str, Any]:
    table = rp.select_split(
        rp.load_table(DATA / table_file, rp.load_models(DATA / models_file)), split
    )
    scorer = load_default()
    easy = [scorer.easiness(r.prompt) for r in table.rows] if scorer else None
    knobs = list(rp.DEFAULT_SWEEP)
    t0 = time.perf_counter()
    runs: dict[str, dict[str, Any]] = {}
    runs["arbiter"] = rp.replay(table, rp.ReplayConfig(), knobs=knobs, easiness=easy)
    if easy is not None:
        runs["arbiter_pinned_slope"] = rp.replay(
            table, rp.ReplayConfig(slope_var=PINNED_SLOPE_VAR), knobs=knobs, easiness=easy
        )
    runs["arbiter_no_difficulty"] = rp.replay(table, rp.ReplayConfig(), knobs=knobs)
    has_text = all(o.response is not None for o in table.rows[0].outcomes.values())
    if has_text:
        runs["arbiter_cascade"] = rp.replay(
            table, rp.ReplayConfig(), knobs=knobs, easiness=easy, escalate=should_escalate
        )
    verifier = load_verifier()
    if has_text and verifier is not None and table.rows[0].task == "math":
        runs["cascade_verifier"] = rp.cascade_sweep(
            table,
            rp.ReplayConfig(),
            VERIFIER_THRESHOLDS,
            lambda t: verified_escalation(verifier, t),
        )
    if name in ("gsm8k", "mmlu"):
        runs["cold_start_priors"] = rp.replay(table, rp.ReplayConfig(priors=PRIORS), easiness=easy)
    base = runs["arbiter"]
    res: dict[str, Any] = {
        "rows": len(table.rows),
        "split": split,
        "baselines": base["baselines"],
        "models": base["models"],
        "random_router": RANDOM,
        "routers": {k: _pick(v) for k, v in runs.items() if "curve" in v},
        "curves": {k: v["curve"] for k, v in runs.items() if "curve" in v},
        "savings_first_500": {
            "no_priors": base["savings_first_500"],
            **(
                {"priors": runs["cold_start_priors"]["savings_first_500"]}
                if "cold_start_priors" in runs
                else {}
            ),
        },
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if len(table.models) == 2:
        weak = base["baselines"]["always_cheapest"]["model"]
        res["oracle_sweep"] = _oracle_sweep(table, base["baseline_model"], weak)
        res["routellm_best"] = ROUTELLM_BEST[name]
    else:
        hull, orc = base["aiq_hull"], base["aiq_oracle"]
        for r in res["routers"].values():
            r["gap_closed"] = round((r["aiq"] - hull) / (orc - hull), 4) if orc > hull else None
    return res


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def render(results: dict[str, Any]) -> str:
    lines = ["# Routing bench (arbiter replay, seed 0)", "", *LEGEND, ""]
    for name, r in results.items():
        b = r["baselines"]
        lines += [f"## {name} ({r['rows']} rows, split: {r['split']})", ""]
        refs = [("always-strong", b["always_baseline"]), ("always-weak", b["always_cheapest"]),
                ("oracle", b["oracle"])]  # fmt: skip
        lines.append("; ".join(f"{k} q={v['quality']:.4f} ${v['cost_usd']:.4f}" for k, v in refs))
        lines += [
            "",
            "| router | APGR | CPT50 % | CPT80 % | AIQ | AIQ hull | AIQ oracle | gap closed |",
        ]
        lines.append("|---|---|---|---|---|---|---|---|")
        rows = dict(r["routers"])
        rows["random (expected)"] = r["random_router"]
        if "oracle_sweep" in r:
            rows["oracle sweep"] = r["oracle_sweep"]
            rows["RouteLLM best (paper)"] = r["routellm_best"]
        for k, v in rows.items():
            cells = [
                v.get(c)
                for c in ("apgr", "cpt50", "cpt80", "aiq", "aiq_hull", "aiq_oracle", "gap_closed")
            ]
            lines.append(f"| {k} | " + " | ".join(_fmt(c) for c in cells) + " |")
        for label, curve in r["savings_first_500"].items():
            pts = ", ".join(
                f"{p['n']}: {p['savings_pct']:.1f}% "
                f"(q {p['quality']:.3f} vs {p['baseline_quality']:.3f})"
                for p in curve
            )
            lines.append(f"\nsavings vs always-strong, first requests, {label}: {pts}")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    if not DATA.exists():
        print(f"no data at {DATA}", file=sys.stderr)
        return 1
    results = {name: bench_table(name, t, m, s) for name, t, m, s in TABLES if (DATA / t).exists()}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "routing.json").write_text(json.dumps(results, indent=1) + "\n")
    md = render(results)
    (OUT / "routing.md").write_text(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
