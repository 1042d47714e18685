"""Routing bench, round five: GSM8K on both axes (a mild cost term on v2's P(wrong): verifier v4).

v4 (`cascade.Verifier` with `math_value.CostHead`, `offline/train_verifier_cost.py`,
`models/verifier_math_v4.json`) is v2's P(the cheap answer is wrong), unchanged, divided by the
strong call's expected relative cost ** alpha: the cost a log-linear model of the prompt's and
the cheap answer's lengths (no peeking at the strong answer). Alpha was chosen on GSM8K's 397
train rows (`difficulty.split_of` buckets 0-5) only: 20 x 5-fold CV per alpha, and 100 bootstrap
resamples of the train rows for the gain of each alpha over alpha 0 (v2's order); the largest
lower bound (mean - 1 sd) of the gain in min(APGR calls, APGR $) chose alpha 0.5 (its threshold
0.32: the cheapest whose out-of-fold train PGR is at least v2's at math.toml's 0.3). Read once on
the 257 held-out rows:
- the static frontier (escalate the k top-scored cheap answers, every k; cascade charged: the
  cheap call on every prompt) for v2, v4 and, to read the trade-off, every alpha tried, each with
  its shuffled-labels control (PERMUTATIONS) and a random ranking; the bootstrap sd of the
  held-out difference v4 - v2;
- the sidecar's replay of `examples/routing/math.toml` (`arbiter replay --routing-config
  math.toml --sweep`: tasks from the classifier, sidecar feedback) with the shipped v2 and with
  v4 swapped in, each with its shuffled control, the random router, and the shipped config at
  replay seeds 1 and 2.

Writes bench/results/routing_round5_gsm8k.json and a round-five section of
bench/results/routing.md. Run: python bench/routing_round5_gsm8k.py [--no-write] [--render-only]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from results_page import write_section

sys.path.insert(0, str(Path(__file__).resolve().parent))

import routing_round2 as r2
import routing_round4_math_chat as r4
from arbiter.cascade import (
    VERIFIER_FEATURES,
    VERIFIER_V2,
    VERIFIER_V4,
    Verifier,
    load_verifier,
    verifier_features,
)
from arbiter.difficulty import load, load_default
from arbiter.math_value import CostHead
from arbiter.offline import cost_frontier as cf
from arbiter.offline import outcome_table as ot
from arbiter.offline import replay_cli
from arbiter.offline import train_verifier as tv
from arbiter.offline import train_verifier_cost as tc

DATA, OUT = r2.DATA, r2.OUT
MARK = "<!-- round five: gsm8k -->"
KEYS = r4.KEYS
WEAK = tv.WEAK
REPLAY_SEEDS = (1, 2)


def _with_alpha(v: Verifier, alpha: float) -> Verifier:
    assert v.cost is not None
    return replace(v, cost=CostHead(v.cost.log_cost, v.cost.cost_ref, alpha))


def _replay(held: ot.Table, verifiers: dict[str, Verifier]) -> dict[str, Any]:
    table = replay_cli.classified(held)
    shuffled = [ot.shuffled_labels(table, p) for p in range(2)]
    rows: dict[str, Any] = {}
    seeds: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        body = r2._body("math.toml", ot.default_baseline(table))
        for i, (name, v) in enumerate(verifiers.items()):
            cfg, diff = r2._config(body, table, Path(tmp), feedback="sidecar")
            assert cfg.cascade is not None
            cfg = replace(cfg, cascade=replace(cfg.cascade, verifier=v))
            scorer = None if diff == "none" else load(diff) if diff else load_default()
            easy = [scorer.easiness(r.prompt) for r in table.rows] if scorer else None
            real = r2._sweep(table, cfg, easy)
            ctrl = [r2._sweep(t, cfg, easy) for t in shuffled]
            rows[name] = {"real": {k: real[k] for k in KEYS}, "shuffled_labels": r4._mean(ctrl)}
            if i == 0:  # the shipped one: the replay's order of requests (seed 0 above)
                for s in REPLAY_SEEDS:
                    doc = r2._sweep(table, replace(cfg, seed=s), easy)
                    seeds[f"seed {s}"] = {k: doc[k] for k in KEYS}
    return {
        "math_rows": sum(1 for r in table.rows if r.task == "math"),
        "rows": len(table.rows),
        "threshold": cfg.cascade.verifier_threshold,
        "configs": rows,
        "seeds_shipped": seeds,
        "random_router": r2._random_router(table, tv.STRONG, WEAK),
    }


def _diagnosis(held: ot.Table, v2: Verifier, v4: Verifier) -> dict[str, Any]:
    """Where the cost term's loss comes from (read on held-out rows, chosen on nothing): the
    order by the true label (is the cheap answer wrong) or by v2's P(wrong), over v4's predicted
    or the true strong cost ** alpha; and the correlation of predicted with true log cost."""
    assert v4.cost is not None
    pair = r4._pair(held)
    wrong = (pair.q_weak < 0.5) + 1e-6 * np.random.default_rng(0).random(len(held.rows))
    p = np.asarray([v2.p_wrong(r.prompt, r.outcomes[WEAK].response or "") for r in held.rows])
    lp, la = VERIFIER_FEATURES.index("log_prompt_len"), VERIFIER_FEATURES.index("log_answer_len")
    feats = [verifier_features(r.prompt, r.outcomes[WEAK].response or "") for r in held.rows]
    pred = np.asarray([v4.cost.relative_cost(x[lp], x[la]) for x in feats])
    out: dict[str, Any] = {
        "corr_log_cost": round(float(np.corrcoef(np.log(pred), np.log(pair.c_strong))[0, 1]), 3)
    }
    for name, num, cost in (
        ("true wrong / predicted cost", wrong, pred),
        ("v2 P(wrong) / predicted cost", p, pred),
        ("v2 P(wrong) / true cost", p, pair.c_strong),
    ):
        for a in (0.0, 0.5, 1.0):
            r = cf.sweep(pair, np.argsort(-(num / cost**a), kind="stable"), cascade=True)
            out[f"{name}, alpha {a:g}"] = {k: r[k] for k in KEYS}
    return out


def _replay_table_labels(held: ot.Table, v2: Verifier) -> dict[str, Any]:
    """math.toml on the table's own task labels (every row math): no routed rows, no seed."""
    with tempfile.TemporaryDirectory() as tmp:
        body = r2._body("math.toml", ot.default_baseline(held))
        cfg, _ = r2._config(body, held, Path(tmp), feedback="sidecar")
        assert cfg.cascade is not None
        cfg = replace(cfg, cascade=replace(cfg.cascade, verifier=v2))
        doc = r2._sweep(held, cfg, None)
    return {k: doc[k] for k in KEYS}


def bench() -> dict[str, Any]:
    models = ot.load_models(DATA / "routellm.models.json")
    full = ot.load_table(DATA / "gsm8k.dev.jsonl.gz", models)
    train, held = ot.select_split(full, "train"), ot.select_split(full, "heldout")
    v4, v2 = load_verifier(VERIFIER_V4), load_verifier(VERIFIER_V2)
    assert v4 is not None and v4.cost is not None and v2 is not None, "shipped verifiers missing"
    d = tv.load_verifier_data(DATA)
    fit = np.asarray([tv.split_of(i) != "heldout" for i in d.ids])
    cv = tc.cv_report(d, fit, reps=20, boots=100)
    chosen = tc.choose_alpha(cv)

    def each(v: Verifier) -> np.ndarray:
        return np.asarray([v.score(r.prompt, r.outcomes[WEAK].response or "") for r in held.rows])

    scores = {
        "v2 (shipped): P(cheap wrong), alpha 0": each(v2),
        f"v4 (chosen on train): P(cheap wrong) / relative cost^{v4.cost.alpha:g}": each(v4),
    }
    for a in tc.ALPHAS:
        if a not in (0.0, v4.cost.alpha):
            scores[f"v4 at alpha {a:g} (not chosen)"] = each(_with_alpha(v4, a))
    rng = np.random.default_rng(0)
    rand = [
        cf.sweep(r4._pair(held), rng.permutation(len(held.rows)), cascade=True) for _ in range(5)
    ]
    names = list(scores)
    return {
        "rows": {"train": len(train.rows), "heldout": len(held.rows)},
        "verifier": v4.version,
        "alpha": v4.cost.alpha,
        "alpha_chosen_by_cv": chosen,
        "cv_train": cv,
        "static": {name: r4._static(held, s) for name, s in scores.items()},
        "random_ranking": r4._mean(rand),
        "bootstrap_v4_minus_v2": r4._bootstrap_diff(held, scores[names[0]], scores[names[1]]),
        "diagnosis": _diagnosis(held, v2, v4),
        "replay_table_labels_v2": _replay_table_labels(held, v2),
        "replay": _replay(
            held, {"math.toml, verifier v2 (shipped)": v2, "math.toml, verifier v4 swapped in": v4}
        ),
    }


def _cv_line(alpha: str, r: dict[str, Any]) -> str:
    c = r["cv"]
    cells = [
        c["apgr"],
        c["cpt80"],
        c["apgr_cost"],
        c["cpt80_cost_pct"],
        r["boot_gain_min"],
        r["boot_sd_min"],
        r["boot_share_cost_gain_positive"],
    ]
    return f"| {alpha} | " + " | ".join(map(r4._fmt, cells)) + " |"


def render(res: dict[str, Any], notes: str) -> str:
    intro = __doc__.split("Writes")[0].strip()
    g = res
    lines = [
        MARK,
        "",
        "# Round five: GSM8K",
        "",
        "(`python bench/routing_round5_gsm8k.py`, results in `routing_round5_gsm8k.json`.)",
        "",
        intro,
        "",
        f"## train rows ({g['rows']['train']}): what chose alpha",
        "",
        "| alpha | CV APGR calls | CV CPT80 % calls | CV APGR $ | CV CPT80 % $ | "
        "bootstrap gain over alpha 0, min(calls, $) | its sd | share of resamples where "
        "$ gains |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [_cv_line(k, r) for k, r in g["cv_train"].items()]
    lines += [
        "",
        f"Chosen: alpha {g['alpha_chosen_by_cv']:g} (verifier_math_v4.json: {g['alpha']:g}).",
        "",
        f"## gsm8k ({g['rows']['heldout']} held-out rows, verifier `{g['verifier']}`)",
        "",
        "Static frontier, cascade charged:",
        "",
        r4.HEAD,
    ]
    lines += [r4._line(name, r) for name, r in g["static"].items()]
    rr = g["random_ranking"]
    lines.append(
        f"| random ranking (5 draws) | {r4._fmt(rr['apgr'])} | {r4._fmt(rr['cpt80'])} | "
        f"{r4._fmt(rr['apgr_cost'])} | {r4._fmt(rr['cpt80_cost_pct'])} | - | - |"
    )
    b = g["bootstrap_v4_minus_v2"]
    lines += [
        "",
        f"Held-out noise: over 200 bootstrap resamples of the held-out rows, APGR(v4) - "
        f"APGR(v2) has mean {b['mean_calls']:+.4f} (sd {b['sd_calls']}) calls and "
        f"{b['mean_cost']:+.4f} (sd {b['sd_cost']}) $.",
        "",
    ]
    dg = g["diagnosis"]
    lines += [
        "Diagnosis (held-out rows, read, not chosen on): orders by the true label or by v2's "
        "P(wrong), over the predicted or the true strong cost ** alpha (predicted vs true "
        f"log cost: r = {dg['corr_log_cost']}):",
        "",
        r4.HEAD.split("| shuffled")[0] + "|",
        "|---|---|---|---|---|",
    ]
    for name, r in dg.items():
        if name != "corr_log_cost":
            lines.append(f"| {name} | " + " | ".join(r4._fmt(r[k]) for k in KEYS) + " |")
    lines.append("")
    rp = g["replay"]
    lines += [
        f"Sidecar replay (`arbiter replay --routing-config math.toml --sweep`, sidecar "
        f"feedback, threshold {rp['threshold']:g}; the classifier calls {rp['math_rows']} "
        f"of {rp['rows']} rows math):",
        "",
        r4.HEAD.replace("| ranking", "| configuration"),
    ]
    lines += [r4._line(name, r) for name, r in rp["configs"].items()]
    for name, r in rp["seeds_shipped"].items():
        cells = [r[k] for k in KEYS]
        lines.append(
            f"| math.toml (v2), replay {name} | " + " | ".join(map(r4._fmt, cells)) + " | - | - |"
        )
    tl = g["replay_table_labels_v2"]
    lines.append(
        "| math.toml (v2), the table's task labels (every row math) | "
        + " | ".join(r4._fmt(tl[k]) for k in KEYS)
        + " | - | - |"
    )
    rr = rp["random_router"]
    lines.append(
        f"| random router (5 draws) | {r4._fmt(rr['apgr'])} | {r4._fmt(rr['cpt80'])} | "
        f"{r4._fmt(rr['apgr_cost'])} | {r4._fmt(rr['cpt80_cost_pct'])} | - | - |"
    )
    if notes:
        lines += ["", notes]
    return "\n".join(lines) + "\n"


NOTES = (
    "Goal (unseen rows): APGR >= 0.75 and CPT80 <= 40% on both axes. Not met on these rows. The "
    "shipped math.toml (verifier v2) reaches 0.798 / 31.4% calls and 0.739 / 40.3% $ "
    "(shuffled labels 0.48 / 0.41, random router 0.48 / 0.47: quality prediction, not cost). "
    "Replay seeds 1 and 2 give 0.727 and 0.743 $: that spread is the 4 rows the classifier "
    "does not call math (all 4 are held-out rows). They are routed by Thompson sampling, again "
    "at each sweep point. On the table's own task labels the replay is deterministic: 0.791 / "
    "32.2% calls, 0.729 / 41.9% $. v4 was chosen on train rows by a rule fixed before the "
    "held-out look. On train CV it gains +0.001 calls and +0.009 $ (CPT80 $ 35.9 -> 32.2%); "
    "over bootstrap resamples of the train rows its $ gain is positive in 89%. On the held-out "
    "rows it loses: static -0.014 calls / -0.009 $ (bootstrap sd 0.012); replay 0.777 / 35.8% "
    "calls, 0.727 / 44.4% $. So v2 stays the default, and v4 stays loadable "
    "(`models/verifier_math_v4.json`, threshold 0.32). This is the third time a cost term "
    "has won the train rows and lost these held-out rows: round three (prompt-only cost), "
    "round four (v3) and now v4. Every alpha tried loses here; alpha 0.25 loses least "
    "(-0.006 $). The diagnosis says why. With the true labels, dividing by v4's predicted "
    "cost would help (APGR $ 0.948 -> 0.975): the cost model is not the problem (r = 0.70 with "
    "the true log cost). But dividing v2's P(wrong) even by the true cost gains only +0.006 $ "
    "at alpha 0.5 and loses at alpha 1. On these rows, the expensive problems that v2 doubts "
    "least are the ones Mixtral gets wrong, so pushing them later costs quality. What limits "
    "the dollar axis is P(cheap wrong). Tried on train CV only, none kept (each within +-0.01 "
    "of v2's refit, 0.809 calls / 0.773 $): nine more answer features (the final number as a "
    "computed result, its repeats, operands from neither the prompt nor an earlier result, "
    "non-integer intermediate results, results reused, results per prompt number, ...); seven "
    "prompt cues (the best, 'round'/'nearest', +0.008: noise among ~30 tries); squared and "
    "interaction length terms; a stacked logistic on static MiniLM "
    "embeddings of the prompt or the answer, or on the 16 prompt statistics; boosted stumps "
    "(-0.03); L2 from 1e-3 to 0.3. All the extra features at once: -0.04. The surface of one "
    "cheap answer is saturated at about 0.81 calls / 0.77 $ in CV. The misses are semantic: a "
    "misread problem with every step's arithmetic right."
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--render-only", action="store_true", help="re-render the saved results")
    args = ap.parse_args(argv)
    path = OUT / "routing_round5_gsm8k.json"
    if args.render_only:
        res = json.loads(path.read_text())
    elif not DATA.exists():
        print(f"no data at {DATA}", file=sys.stderr)
        return 1
    else:
        t0, cpu0 = time.perf_counter(), time.process_time()
        res = bench()
        res["seconds"] = round(time.perf_counter() - t0, 1)
        res["cpu_seconds"] = round(time.process_time() - cpu0, 1)
    md = render(res, NOTES)
    print(md)
    if not args.no_write:
        path.write_text(json.dumps(res, indent=1) + "\n")
        write_section(OUT / "routing.md", MARK, md)
    rp = res["replay"]["configs"]
    summary = {name: r["real"] for name, r in rp.items()}
    summary["seeds"] = res["replay"]["seeds_shipped"]
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
