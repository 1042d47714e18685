"""Routing bench, round four: GSM8K on the dollar axis (the math verifier v3) and open-ended chat.

GSM8K. The shipped verifier v3 (`cascade.Verifier` with `math_value.ValueHead`, fitted on the 397
train rows, `difficulty.split_of` buckets 0-5) escalates by the strong call's expected gain,
P(strong right) - P(cheap right), per expected relative cost; v2 (`verifier_math_v2.json`)
escalated by P(cheap wrong) alone. Read on the 257 held-out rows:
- the static frontier (escalate the k top-scored cheap answers, every k; cascade charged: the
  cheap call on every prompt), for v2, v3's P(wrong) head alone, v3's gain (alpha 0) and the
  shipped v3 score (alpha 1), each with its shuffled-labels control (PERMUTATIONS) and a random
  ranking; the train rows' 20 x 5-fold CV of v3 per alpha (what chose it); the bootstrap sd of the
  held-out difference v3 - v2;
- the sidecar's replay of `examples/routing/math.toml` (`arbiter replay --routing-config
  math.toml --sweep`: tasks from the classifier, sidecar feedback), with v3 and with v2 swapped
  in, each with its shuffled control, and the random router, in the same run.

Open-ended chat (AlpacaEval, 11 models; and its GPT-4 Turbo vs Mixtral-concise pair). One cascade
from Mixtral-concise to GPT-4 Turbo (`chat.toml`'s), static: escalate the k top-scored cheap
answers, every k. Scores: the shipped rule (shortest cheap answer first); a per-answer quality
model (ridge on 10 features of the cheap answer and the prompt, fitted on the 240 train rows:
predicted gain 0.5 - q_cheap); the same divided by the predicted strong cost ** alpha (ridge of
log GPT-4 cost on the same features: the cheap answer's length says how long GPT-4 will write),
alpha chosen by 5-fold CV on train rows; the predicted cost alone; random; and two oracles (true
labels) as the ceiling. Each row has its shuffled-labels control (mean and sd of PERMUTATIONS):
AIQ and the pair's APGR on both axes. AlpacaEval is CC BY-NC: these models are fitted here to
evaluate, never shipped.

Writes bench/results/routing_round4_math_chat.json and a round-four section at the end of
bench/results/routing.md. Run: python bench/routing_round4_math_chat.py [--no-write]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from results_page import write_section

sys.path.insert(0, str(Path(__file__).resolve().parent))

import routing_round2 as r2
from arbiter import linear
from arbiter.cascade import DEFAULT_VERIFIER, VERIFIER_V3, Verifier, load_verifier
from arbiter.difficulty import load, load_default
from arbiter.offline import cost_frontier as cf
from arbiter.offline import outcome_table as ot
from arbiter.offline import replay_cli
from arbiter.offline import train_verifier as tv
from arbiter.offline.routing_metrics import aiq

DATA, OUT, EXAMPLES = r2.DATA, r2.OUT, r2.EXAMPLES
MARK = "<!-- round four: math and chat -->"
STRONG, WEAK = tv.STRONG, tv.WEAK
FIRST = "mistralai/Mixtral-8x7B-Instruct-v0.1:concise"
PERMUTATIONS = 5
KEYS = ("apgr", "cpt80", "apgr_cost", "cpt80_cost_pct")
CHAT_ALPHAS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
CHAT_L2 = 0.1


# -- GSM8K ----------------------------------------------------------------------------------------
def _pair(t: ot.Table, strong: str = STRONG, weak: str = WEAK) -> cf.Pair:
    def col(m: str, what: str) -> np.ndarray:
        return np.asarray([getattr(r.outcomes[m], what) for r in t.rows], dtype=np.float64)

    return cf.Pair(
        col(strong, "quality"), col(weak, "quality"), col(strong, "cost_usd"), col(weak, "cost_usd")
    )


def _mean(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {k: round(statistics.mean(float(r[k] or 100.0) for r in runs), 4) for k in KEYS}


def _static(t: ot.Table, score: np.ndarray) -> dict[str, Any]:
    order = np.argsort(-score, kind="stable")
    real = cf.sweep(_pair(t), order, cascade=True)
    ctrl = [
        cf.sweep(_pair(ot.shuffled_labels(t, p)), order, cascade=True) for p in range(PERMUTATIONS)
    ]
    return {"real": {k: real[k] for k in KEYS}, "shuffled_labels": _mean(ctrl)}


def _gsm_scores(t: ot.Table, v2: Verifier, v3: Verifier) -> dict[str, np.ndarray]:
    assert v3.value is not None
    gain_only = replace(v3, value=replace(v3.value, alpha=0.0))

    def each(f: Callable[[str, str], float]) -> np.ndarray:
        return np.asarray([f(r.prompt, r.outcomes[WEAK].response or "") for r in t.rows])

    return {
        "v2: P(cheap wrong), 22 features": each(v2.score),
        "v3: its P(cheap wrong) head alone (23 features)": each(v3.p_wrong),
        "v3: expected gain (alpha 0)": each(gain_only.score),
        "v3 shipped: expected gain / relative cost (alpha 1)": each(v3.score),
    }


def _bootstrap_diff(t: ot.Table, a: np.ndarray, b: np.ndarray, n: int = 200) -> dict[str, float]:
    """Sd (and mean) over row resamples of APGR(b) - APGR(a), both axes: the held-out noise."""
    p, rng, diffs = _pair(t), np.random.default_rng(0), []
    for _ in range(n):
        i = rng.integers(0, len(a), len(a))
        sub = cf.Pair(p.q_strong[i], p.q_weak[i], p.c_strong[i], p.c_weak[i])
        try:
            ra = cf.sweep(sub, np.argsort(-a[i], kind="stable"), cascade=True)
            rb = cf.sweep(sub, np.argsort(-b[i], kind="stable"), cascade=True)
        except ValueError:  # a resample without a quality gap
            continue
        diffs.append((rb["apgr"] - ra["apgr"], rb["apgr_cost"] - ra["apgr_cost"]))
    d = np.asarray(diffs)
    return {
        "mean_calls": round(float(d[:, 0].mean()), 4),
        "sd_calls": round(float(d[:, 0].std()), 4),
        "mean_cost": round(float(d[:, 1].mean()), 4),
        "sd_cost": round(float(d[:, 1].std()), 4),
    }


def _replay_math(held: ot.Table, verifiers: dict[str, Verifier]) -> dict[str, Any]:
    table = replay_cli.classified(held)
    shuffled = [ot.shuffled_labels(table, p) for p in range(2)]
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        body = r2._body("math.toml", ot.default_baseline(table))
        for name, v in verifiers.items():
            cfg, diff = r2._config(body, table, Path(tmp), feedback="sidecar")
            assert cfg.cascade is not None
            cfg = replace(cfg, cascade=replace(cfg.cascade, verifier=v))
            scorer = None if diff == "none" else load(diff) if diff else load_default()
            easy = [scorer.easiness(r.prompt) for r in table.rows] if scorer else None
            real = r2._sweep(table, cfg, easy)
            ctrl = [r2._sweep(t, cfg, easy) for t in shuffled]
            rows[name] = {"real": {k: real[k] for k in KEYS}, "shuffled_labels": _mean(ctrl)}
    return {
        "math_rows": sum(1 for r in table.rows if r.task == "math"),
        "rows": len(table.rows),
        "configs": rows,
        "random_router": r2._random_router(table, STRONG, WEAK),
    }


def bench_gsm8k() -> dict[str, Any]:
    models = ot.load_models(DATA / "routellm.models.json")
    full = ot.load_table(DATA / "gsm8k.dev.jsonl.gz", models)
    train, held = ot.select_split(full, "train"), ot.select_split(full, "heldout")
    v3 = load_verifier(VERIFIER_V3)
    v2 = load_verifier(DEFAULT_VERIFIER.with_name("verifier_math_v2.json"))
    assert v3 is not None and v3.value is not None and v2 is not None, "shipped verifiers missing"
    scores = _gsm_scores(held, v2, v3)
    rankings = {name: _static(held, s) for name, s in scores.items()}
    rng = np.random.default_rng(0)
    rand = [cf.sweep(_pair(held), rng.permutation(len(held.rows)), cascade=True) for _ in range(5)]
    d = tv.load_verifier_data(DATA)
    fit = np.asarray([tv.split_of(i) != "heldout" for i in d.ids])
    names = list(scores)
    return {
        "rows": {"train": len(train.rows), "heldout": len(held.rows)},
        "verifier": v3.version,
        "static": rankings,
        "random_ranking": _mean(rand),
        "cv_train_v3_by_alpha": tv.cv_report(d, fit, reps=20),
        "bootstrap_v3_minus_v2": _bootstrap_diff(held, scores[names[0]], scores[names[-1]]),
        "replay": _replay_math(
            held, {"math.toml, verifier v3 (shipped)": v3, "math.toml, verifier v2": v2}
        ),
    }


# -- open-ended chat ------------------------------------------------------------------------------
_REFUSAL = linear.compile(
    r"(?i)\b(i'?m sorry|i cannot|i can'?t|as an ai|i am unable|i'?m unable|i do not have|"
    r"i don'?t have)\b"
)
_LIST_ITEM = linear.compile(r"(?m)^\s*(?:[-*]|\d+\.)\s")


def _answer_features(prompt: str, answer: str) -> list[float]:
    """The cheap answer's and the prompt's shape: lengths, refusal, cut-off, structure."""
    n = len(answer)
    return [
        math.log1p(n),
        math.log1p(len(prompt)),
        math.log1p(n) - math.log1p(len(prompt)),
        1.0 if _REFUSAL.search(answer[:300]) else 0.0,
        1.0 if answer and answer.rstrip()[-1:] not in ".!?)\"'`*" else 0.0,
        math.log1p(answer.count("\n")),
        math.log1p(len(_LIST_ITEM.findall(answer))),
        1.0 if "```" in answer else 0.0,
        1.0 if "?" in prompt else 0.0,
        math.log1p(prompt.count("\n") + 1),
    ]


def _ridge(x: np.ndarray, y: np.ndarray, l2: float) -> Callable[[np.ndarray], np.ndarray]:
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.c_[(x - mu) / sd, np.ones(len(x))]
    pen = l2 * len(x) * np.diag([1.0] * (z.shape[1] - 1) + [0.0])
    w = np.linalg.solve(z.T @ z + pen, z.T @ y)
    return lambda xx: np.c_[(xx - mu) / sd, np.ones(len(xx))] @ w


def _col(t: ot.Table, m: str, what: str) -> np.ndarray:
    return np.asarray([getattr(r.outcomes[m], what) for r in t.rows], dtype=np.float64)


def _cascade_aiq(t: ot.Table, order: np.ndarray) -> tuple[float, float]:
    """AIQ of the cascade FIRST -> STRONG escalating the first k of `order`, every k (both calls
    charged), with the replay's two anchors (always cheapest, always the baseline); and the hull."""
    q_f, q_s = _col(t, FIRST, "quality"), _col(t, STRONG, "quality")
    c_f, c_s = _col(t, FIRST, "cost_usd"), _col(t, STRONG, "cost_usd")
    dq = np.r_[0.0, np.cumsum((q_s - q_f)[order])]
    dc = np.r_[0.0, np.cumsum(c_s[order])]
    n = len(order)
    costs = {m.id: t.model_cost(m.id) for m in t.models}
    cheapest = min(costs, key=lambda m: costs[m])
    pts = [(costs[cheapest], t.model_quality(cheapest))]
    pts += [(float(c_f.sum() + dc[k]), float((q_f.sum() + dq[k]) / n)) for k in range(n + 1)]
    pts.append((costs[STRONG], t.model_quality(STRONG)))
    singles = [(costs[m.id], t.model_quality(m.id)) for m in t.models]
    lo, hi = min(costs.values()), max(costs.values())
    return aiq(pts, lo, hi), aiq(singles, lo, hi)


def _chat_row(t: ot.Table, score: np.ndarray) -> dict[str, Any]:
    order = np.argsort(-score, kind="stable")
    real, hull = _cascade_aiq(t, order)
    pair = cf.sweep(_pair(t, STRONG, FIRST), order, cascade=True)
    shuffled = [ot.shuffled_labels(t, p) for p in range(PERMUTATIONS)]
    ctrl = [_cascade_aiq(s, order)[0] for s in shuffled]
    ctrl_pair = [cf.sweep(_pair(s, STRONG, FIRST), order, cascade=True) for s in shuffled]
    return {
        "aiq": round(real, 4),
        "aiq_hull": round(hull, 4),
        "shuffled_aiq": round(statistics.mean(ctrl), 4),
        "shuffled_aiq_sd": round(statistics.pstdev(ctrl), 4),
        "pair": {k: pair[k] for k in KEYS},
        "pair_shuffled": _mean(ctrl_pair),
    }


def bench_chat() -> dict[str, Any]:
    models = ot.load_models(DATA / "alpaca_eval.models.json")
    full = ot.load_table(DATA / "alpaca_eval.dev.jsonl.gz", models)
    train, held = ot.select_split(full, "train"), ot.select_split(full, "heldout")

    def feats(t: ot.Table) -> np.ndarray:
        return np.asarray(
            [_answer_features(r.prompt, r.outcomes[FIRST].response or "") for r in t.rows]
        )

    x_tr, x_ho = feats(train), feats(held)
    y_q, y_c = _col(train, FIRST, "quality"), np.log(_col(train, STRONG, "cost_usd"))

    def value(
        xf: np.ndarray, xs: np.ndarray, yq: np.ndarray, yc: np.ndarray, a: float
    ) -> np.ndarray:
        q, c = _ridge(xf, yq, CHAT_L2), _ridge(xf, yc, CHAT_L2)
        out: np.ndarray = (0.5 - q(xs)) / np.exp(c(xs)) ** a
        return out

    fold = np.arange(len(y_q)) % 5
    cv: dict[str, float] = {}
    for a in CHAT_ALPHAS:
        oof = np.zeros(len(y_q))
        for k in range(5):
            tr_ = fold != k
            oof[fold == k] = value(x_tr[tr_], x_tr[fold == k], y_q[tr_], y_c[tr_], a)
        cv[f"alpha {a:g}"] = round(_cascade_aiq(train, np.argsort(-oof, kind="stable"))[0], 4)
    chosen = max(cv, key=lambda k: cv[k])
    alpha = float(chosen.split()[1])
    cv["shortest cheap answer first (shipped rule)"] = round(
        _cascade_aiq(train, np.argsort(x_tr[:, 0], kind="stable"))[0], 4
    )
    q_model, c_model = _ridge(x_tr, y_q, CHAT_L2), _ridge(x_tr, y_c, CHAT_L2)
    q_ho, q_true = q_model(x_ho), _col(held, FIRST, "quality")
    gain_true = _col(held, STRONG, "quality") - q_true
    scores = {
        "shortest cheap answer first (chat.toml's rule)": -x_ho[:, 0],
        "predicted gain 0.5 - q_cheap (quality model alone)": 0.5 - q_ho,
        f"predicted gain / predicted strong cost^{alpha:g} (chosen on train)": value(
            x_tr, x_ho, y_q, y_c, alpha
        ),
        "1 / predicted strong cost (cost alone)": -c_model(x_ho),
        "random order": np.random.default_rng(0).random(len(held.rows)),
        "oracle: true 0.5 - q_cheap": 0.5 - q_true,
        "oracle: true gain / true strong cost": gain_true / _col(held, STRONG, "cost_usd"),
    }
    return {
        "rows": {"train": len(train.rows), "heldout": len(held.rows)},
        "first_model": FIRST,
        "quality_model_corr_heldout": round(float(np.corrcoef(q_ho, q_true)[0, 1]), 4),
        "cv_train_aiq": cv,
        "chosen_on_train": chosen,
        "rankings": {name: _chat_row(held, s) for name, s in scores.items()},
    }


# -- rendering ------------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def _line(name: str, r: dict[str, Any]) -> str:
    cells = [r["real"][k] for k in KEYS] + [r["shuffled_labels"][k] for k in ("apgr", "apgr_cost")]
    return f"| {name} | " + " | ".join(map(_fmt, cells)) + " |"


HEAD = (
    "| ranking | APGR calls | CPT80 % calls | APGR $ | CPT80 % $ | shuffled: APGR calls | "
    "shuffled: APGR $ |\n|---|---|---|---|---|---|---|"
)
CHAT_HEAD = (
    "| escalation order | AIQ | AIQ hull | shuffled: AIQ (sd) | pair APGR calls | "
    "pair APGR $ | pair shuffled: calls | pair shuffled: $ |\n"
    "|---|---|---|---|---|---|---|---|"
)


def render(res: dict[str, Any], notes: dict[str, str]) -> str:
    intro = __doc__.split("Writes")[0].strip()
    lines = [MARK, "", "# Round four: GSM8K and chat", "", intro]
    g = res.get("gsm8k")
    if g:
        lines += [
            "",
            f"## gsm8k ({g['rows']['heldout']} held-out rows, verifier "
            f"`{g['verifier']}` fitted on {g['rows']['train']} train rows)",
            "",
            "Static frontier, cascade charged:",
            "",
            HEAD,
        ]
        lines += [_line(n, r) for n, r in g["static"].items()]
        rr = g["random_ranking"]
        lines.append(
            f"| random ranking (5 draws) | {rr['apgr']} | {rr['cpt80']} | "
            f"{rr['apgr_cost']} | {rr['cpt80_cost_pct']} | - | - |"
        )
        cv = g["cv_train_v3_by_alpha"]
        lines += [
            "",
            "Train rows, 20 x 5-fold CV of v3 by alpha (APGR calls / $): "
            + "; ".join(f"{k}: {v['apgr']} / {v['apgr_cost']}" for k, v in cv.items())
            + ".",
        ]
        b = g["bootstrap_v3_minus_v2"]
        lines += [
            "",
            f"Held-out noise: over 200 bootstrap resamples of the held-out rows, APGR(v3) "
            f"- APGR(v2) has mean {b['mean_calls']} (sd {b['sd_calls']}) calls and "
            f"{b['mean_cost']} (sd {b['sd_cost']}) $.",
        ]
        rp_ = g["replay"]
        lines += [
            "",
            f"Sidecar replay (`arbiter replay --routing-config math.toml --sweep`, "
            f"sidecar feedback; the classifier calls {rp_['math_rows']} of "
            f"{rp_['rows']} rows math):",
            "",
            HEAD.replace("ranking", "configuration"),
        ]
        lines += [_line(n, r) for n, r in rp_["configs"].items()]
        rr = rp_["random_router"]
        lines.append(
            f"| random router (5 draws) | {rr['apgr']} | {rr['cpt80']} | "
            f"{rr['apgr_cost']} | {rr['cpt80_cost_pct']} | - | - |"
        )
        lines += ["", notes.get("gsm8k", "")]
    c = res.get("chat")
    if c:
        lines += [
            "",
            f"## alpaca_eval ({c['rows']['heldout']} held-out rows; cascade from "
            f"{c['first_model']} to GPT-4 Turbo; models fitted on {c['rows']['train']} "
            "train rows)",
            "",
            CHAT_HEAD,
        ]
        for name, r in c["rankings"].items():
            p, ps = r["pair"], r["pair_shuffled"]
            cells = [
                r["aiq"],
                r["aiq_hull"],
                f"{r['shuffled_aiq']} ({r['shuffled_aiq_sd']})",
                p["apgr"],
                p["apgr_cost"],
                ps["apgr"],
                ps["apgr_cost"],
            ]
            lines.append(f"| {name} | " + " | ".join(map(_fmt, cells)) + " |")
        lines += [
            "",
            "Train rows, 5-fold CV AIQ of the cascade (what chose alpha): "
            + "; ".join(f"{k}: {v}" for k, v in c["cv_train_aiq"].items())
            + f". Chosen: {c['chosen_on_train']}. "
            f"Held-out correlation of the predicted with the true cheap quality: "
            f"{c['quality_model_corr_heldout']}.",
            "",
            notes.get("chat", ""),
        ]
    return "\n".join(lines).rstrip() + "\n"


NOTES = {
    "gsm8k": (
        "Goal (unseen rows): APGR >= 0.75 and CPT80 <= 40% on both axes. Not met on these rows "
        "by the shipped configuration: math.toml with v3 reaches 0.764 / 40.7% calls and 0.727 "
        "/ 47.4% $ (shuffled 0.45 / 0.42: quality prediction, not cost). With v2 swapped in "
        "(and this round's classifier fix, which is in both rows: 253 of 257 rows are now math,"
        " were 244) it reaches 0.798 / 31.4% calls and 0.739 / 40.3% $, the closest to the goal"
        " yet (round two: 0.772 / 33.9%, 0.714 / 43.3%). v3 was chosen on train rows (20 x "
        "5-fold CV: v2's P(wrong) refit 0.809 calls / 0.773 $, v3 0.826-0.833 / 0.804-0.810) (a"
        " bootstrap of the train rows' CV difference v3 - v2: +0.031 calls, sd 0.027; +0.044 $,"
        " sd 0.027; positive in 88% / 96% of resamples) and the held-out rows disagree (static:"
        " -0.032 calls, -0.015 $), by about 1.3 and 0.6 bootstrap sd: 257 rows cannot tell "
        "these two apart (the sd of one held-out APGR is about 0.05), and neither can 397. Its "
        "parts, read here: the `chained_equals` feature and dividing by the expected cost each "
        "lose on these rows what they won in CV, as the round-three division by a prompt-only "
        "cost did. The value head is what a cost-aware verifier should do, and the dollar gap "
        "it targets is real (round one's oracle sweep reaches 80% of the gap with 17% of the "
        "calls, the verifiers with 31-43%): what limits every ranking is P(cheap wrong), whose "
        "misses are semantic (a wrong reading of the problem, every step's arithmetic right), "
        "which no surface feature of the answer sees. Reverting to v2 is one file: copy "
        "`verifier_math_v2.json` over `verifier_math.json` and set the threshold back to 0.3."
    ),
    "chat": (
        "Goal: AIQ above the single-model hull and above the same router on shuffled labels. "
        "Not met. Every cascade order that uses cost clears the hull (0.350-0.359 vs 0.315), "
        "and every one is matched by its shuffled control (0.356-0.358, sd 0.003-0.004): cost, "
        "not skill. The order chosen on train rows (predicted gain / predicted GPT-4 cost^3: "
        "AIQ 0.359 vs shuffled 0.356) is within one sd of its control, and on train rows it "
        "does not beat chat.toml's shortest-answer rule (CV 0.3419 vs 0.3423), so chat.toml is "
        "unchanged. The quality model does predict quality (held-out Pearson 0.33 with Mixtral-"
        "concise's judged quality; alone it lifts the pair's call-axis APGR to 0.557, shuffled "
        "0.501, random 0.481: the one row here with skill above its control) but escalating by "
        "quality alone spends on prompts GPT-4 answers at length (AIQ 0.317, at the hull). "
        "Prompt-type features (the classifier's task, words asking for a short or a long "
        "answer) added to the quality model lowered its train CV correlation (0.18 -> 0.13) and"
        " moved nothing held-out (AIQ 0.3587, shuffled 0.3570). Static MiniLM embeddings "
        "(`embedding.Embedder.embed`, 384 dims) of the prompt or of the cheap answer added to "
        "it lowered the train CV AIQ too (0.332 and 0.331 at best, against 0.342). The oracles "
        "bound the lever: perfect knowledge of the cheap answer's quality reaches AIQ 0.360 "
        "(shuffled 0.319), no more than the short-answer rule; perfect knowledge of gain per "
        "dollar 0.403 (shuffled 0.350). Above-control AIQ needs per-prompt gain-per-dollar "
        "prediction far sharper than a 0.33 correlation, on a table where cheap models match "
        "GPT-4 Turbo on 2-13% of prompts."
    ),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--render-only", action="store_true", help="re-render the saved results")
    args = ap.parse_args(argv)
    if args.render_only:
        res = json.loads((OUT / "routing_round4_math_chat.json").read_text())
    elif not DATA.exists():
        print(f"no data at {DATA}", file=sys.stderr)
        return 1
    else:
        t0, cpu0 = time.perf_counter(), time.process_time()
        res = {"gsm8k": bench_gsm8k(), "chat": bench_chat()}
        res["seconds"] = round(time.perf_counter() - t0, 1)
        res["cpu_seconds"] = round(time.process_time() - cpu0, 1)
    md = render(res, NOTES)
    print(md)
    if not args.no_write:
        (OUT / "routing_round4_math_chat.json").write_text(json.dumps(res, indent=1) + "\n")
        write_section(OUT / "routing.md", MARK, md)
    g, c = res["gsm8k"], res["chat"]
    summary = {
        "gsm8k_replay_v3": g["replay"]["configs"]["math.toml, verifier v3 (shipped)"]["real"],
        "gsm8k_replay_v2": g["replay"]["configs"]["math.toml, verifier v2"]["real"],
        "chat": {k: [r["aiq"], r["shuffled_aiq"], r["aiq_hull"]] for k, r in c["rankings"].items()},
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
