"""Routing bench, round seven (dollars), part one: GSM8K, the levers on the dollar axis.

math.toml's cascade asks Mixtral first on every math prompt and escalates to GPT-4 when the
shipped verifier (v2) says P(the cheap answer is wrong) >= the threshold. On the dollar axis it
pays the cheap call on every escalated prompt, and escalated prompts are the ones GPT-4 answers
at length. The levers, each measured on GSM8K's train rows only (`difficulty.split_of` buckets
0-5, 397 rows; 20 x 5-fold CV, every model refitted out of fold):
- skip the cheap attempt (escalate first) where the prompt alone predicts it will fail: a
  logistic P(cheap wrong | prompt) on the 16 prompt statistics and the difficulty score, and the
  expected-cost rule (skip where the cascade's expected cost, cheap call + P(fail) x strong call,
  exceeds the strong call; both calls priced by the answer-length model fitted on train rows), or
  a swept bar on P(fail) (chosen by the larger of min(APGR calls, APGR $), as rounds three to
  five chose); and the same prompt-only P(fail) stacked into the verifier's score instead;
- the verifier threshold: the operating point each threshold gives (PGR, % calls, % cost);
  math.toml's 0.3 is the cheapest whose train PGR reaches 0.8 or not;
- cheaper first models: the GSM8K pool holds two models (RouteLLM's records), so none to try.
Read once on the 257 held-out rows: the sidecar's replay of math.toml (`arbiter replay
--routing-config math.toml --sweep`, sidecar feedback) and the static frontier (escalate the k
top-scored prompts, every k; the cheap call charged on every prompt not skipped; both anchors,
always cheap and always strong, as the replay adds them: `cost_frontier.sweep_direct`), each
with its shuffled-labels control (PERMUTATIONS) and a random ranking (RANDOM_DRAWS) in the
same run.

Writes bench/results/routing_round7_gsm8k.json. Run: python bench/routing_round7_gsm8k.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import routing_round2 as r2
import routing_round5_gsm8k as r5
from arbiter.cascade import VERIFIER_V2, load_verifier
from arbiter.difficulty import N_STATS, load_default, split_of
from arbiter.offline import cost_frontier as cf
from arbiter.offline import outcome_table as ot
from arbiter.offline import train_verifier as tv
from arbiter.offline import train_verifier_cost as tc

DATA, OUT = r2.DATA, r2.OUT
STRONG, WEAK = tv.STRONG, tv.WEAK
PERMUTATIONS = 5
RANDOM_DRAWS = 100
CV_REPS = 20
SKIP_BARS = (0.5, 0.6, 0.7, 0.8, 0.9)
STACK_WEIGHTS = (0.25, 0.5, 1.0)
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
KEYS = ("apgr", "cpt80", "apgr_cost", "cpt80_cost_pct")


def _prompt_x(t: ot.Table) -> np.ndarray:
    diff = load_default()
    assert diff is not None
    stats = [np.frombuffer(r.stats or b"", "<f4")[: N_STATS - 1] for r in t.rows]
    return np.c_[np.asarray(stats, np.float64), [diff.easiness(r.prompt) for r in t.rows]]


def _sub(p: cf.Pair, i: np.ndarray) -> cf.Pair:
    return cf.Pair(p.q_strong[i], p.q_weak[i], p.c_strong[i], p.c_weak[i])


def _models(d: tv.VerifierData, x: np.ndarray, t: ot.Table, fit: np.ndarray, test: np.ndarray):
    """Fitted on `fit` rows, read on `test`: v2's P(wrong) (refit), the prompt-only P(wrong),
    and both calls' expected cost (answer-length model)."""
    fd = tc._subset(d, np.where(fit)[0])
    v = tc.fit(fd, np.ones(len(fd.ids), bool), alpha=0.0)
    td = tc._subset(d, np.where(test)[0])
    p_ans = tc.scores(v, td, np.ones(len(td.ids), bool))
    w, b = cf.fit_logistic(x[fit], (d.q_weak[fit] < 0.5).astype(np.float64), 1e-2)
    p_prompt = 1.0 / (1.0 + np.exp(-(x[test] @ w + b)))
    ft = ot.Table(tuple(r for r, f in zip(t.rows, fit, strict=True) if f), t.models)
    tt = ot.Table(tuple(r for r, f in zip(t.rows, test, strict=True) if f), t.models)
    spec = {m.id: m for m in t.models}
    c_s = cf.expected_cost(tt, ft, spec[STRONG])
    c_w = cf.expected_cost(tt, ft, spec[WEAK])
    return p_ans, p_prompt, c_s, c_w


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    out: np.ndarray = np.log(q / (1 - q))
    return out


def _variants(
    p_ans: np.ndarray, p_prompt: np.ndarray, c_s: np.ndarray, c_w: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (escalation score, prompts that skip the cheap call)."""
    none = np.zeros(len(p_ans), bool)
    out = {
        "cascade on every prompt (math.toml)": (p_ans, none),
        "expected-cost rule: skip where c_cheap + P(fail) c_strong > c_strong": (
            p_ans,
            cf.escalate_first(p_prompt, c_w, c_s),
        ),
    }
    for bar in SKIP_BARS:
        out[f"skip the cheap call where prompt-only P(fail) >= {bar:g}"] = (p_ans, p_prompt >= bar)
    for w in STACK_WEIGHTS:
        stacked = _logit(p_ans) + w * _logit(p_prompt)
        out[f"no skip; score logit P(wrong) + {w:g} x logit prompt-only P(fail)"] = (stacked, none)
    return out


def cv_train(d, x, t, fit_mask) -> dict[str, Any]:
    idx = np.where(fit_mask)[0]
    pair = tv.pair(d, fit_mask)
    acc: dict[str, list[dict[str, float]]] = {}
    skipped: dict[str, list[float]] = {}
    for rep in range(CV_REPS):
        fold = np.random.default_rng(100 + rep).permutation(len(idx)) % 5
        pa, pp, cs, cw = (np.zeros(len(idx)) for _ in range(4))
        for k in range(5):
            fit = np.zeros(len(d.ids), bool)
            fit[idx[fold != k]] = True
            test = np.zeros(len(d.ids), bool)
            test[idx[fold == k]] = True
            pa[fold == k], pp[fold == k], cs[fold == k], cw[fold == k] = _models(d, x, t, fit, test)
        for name, (score, skip) in _variants(pa, pp, cs, cw).items():
            acc.setdefault(name, []).append(cf.sweep_direct(pair, score, skip))
            skipped.setdefault(name, []).append(float(skip.mean()))
    return {
        name: {
            **{k: round(statistics.mean(r[k] for r in runs), 4) for k in KEYS},
            "skipped_pct": round(100 * statistics.mean(skipped[name]), 2),
        }
        for name, runs in acc.items()
    }


def thresholds(d, fit_mask, held_mask) -> dict[str, Any]:
    """The operating point of each verifier threshold: out-of-fold on train (one 5-fold CV),
    the shipped v2 on held-out rows."""
    idx = np.where(fit_mask)[0]
    fold = np.random.default_rng(100).permutation(len(idx)) % 5
    oof = np.zeros(len(idx))
    for k in range(5):
        fd = tc._subset(d, idx[fold != k])
        v = tc.fit(fd, np.ones(len(fd.ids), bool), alpha=0.0)
        td = tc._subset(d, idx[fold == k])
        oof[fold == k] = tc.scores(v, td, np.ones(len(td.ids), bool))
    v2 = load_verifier(VERIFIER_V2)
    assert v2 is not None
    hd = tc._subset(d, np.where(held_mask)[0])
    held = np.asarray(
        [v2.p_wrong(*a) for a in zip(_texts(hd, "prompt"), _texts(hd, "answer"), strict=True)]
    )

    def point(p: cf.Pair, s: np.ndarray, th: float) -> dict[str, float]:
        esc = s >= th
        q = np.where(esc, p.q_strong, p.q_weak).mean()
        cost = p.c_weak.sum() + p.c_strong[esc].sum()
        return {
            "pgr": round(float((q - p.q_weak.mean()) / (p.q_strong.mean() - p.q_weak.mean())), 4),
            "calls_pct": round(100 * float(esc.mean()), 2),
            "cost_pct": round(100 * float(cost / p.c_strong.sum()), 2),
        }

    return {
        f"{th:g}": {
            "train_oof": point(tv.pair(d, fit_mask), oof, th),
            "heldout": point(tv.pair(d, held_mask), held, th),
        }
        for th in THRESHOLDS
    }


_TEXTS: dict[str, tuple[str, str]] = {}


def _texts(d: tv.VerifierData, which: str) -> list[str]:
    return [_TEXTS[i][0 if which == "prompt" else 1] for i in d.ids]


def bench() -> dict[str, Any]:
    models = ot.load_models(DATA / "routellm.models.json")
    full = ot.load_table(DATA / "gsm8k.dev.jsonl.gz", models)
    d = tv.load_verifier_data(DATA)
    assert [r.id for r in full.rows] == d.ids
    for r in full.rows:
        _TEXTS[r.id] = (r.prompt, r.outcomes[WEAK].response or "")
    x = _prompt_x(full)
    fit_mask = np.asarray([split_of(i) != "heldout" for i in d.ids])
    held_mask = ~fit_mask
    cv = cv_train(d, x, full, fit_mask)
    base = "cascade on every prompt (math.toml)"
    # ties go to the plain cascade (listed first): a skip rule must win on train rows to count
    chosen = max(cv, key=lambda k: min(cv[k]["apgr"], cv[k]["apgr_cost"]))
    # held-out: every model fitted on all train rows (v2: the shipped file, fitted there)
    v2 = load_verifier(VERIFIER_V2)
    assert v2 is not None
    held = ot.select_split(full, "heldout")
    p_ans = np.asarray([v2.p_wrong(r.prompt, r.outcomes[WEAK].response or "") for r in held.rows])
    _, p_prompt, cs, cw = _models(d, x, full, fit_mask, held_mask)
    pair = tv.pair(d, held_mask)
    heldout: dict[str, Any] = {}
    for name, (score, skip) in _variants(p_ans, p_prompt, cs, cw).items():
        real = cf.sweep_direct(pair, score, skip)
        ctrl = []
        for s in range(PERMUTATIONS):
            sh = ot.shuffled_labels(held, s)
            sp = r4_pair(sh)
            ctrl.append(cf.sweep_direct(sp, score, skip))
        heldout[name] = {
            "real": real,
            "shuffled_labels": {k: round(statistics.mean(c[k] for c in ctrl), 4) for k in KEYS},
            "skipped_pct": round(100 * float(skip.mean()), 2),
        }
    rng = np.random.default_rng(0)
    rand = [
        cf.sweep_direct(pair, rng.random(len(p_ans)), np.zeros(len(p_ans), bool))
        for _ in range(RANDOM_DRAWS)
    ]
    # the sidecar's replay of math.toml (unchanged unless a skip rule won): sidecar feedback,
    # shuffled labels, random router, replay seeds 1 and 2, in this run
    replay = r5._replay(held, {"math.toml (verifier v2)": v2})
    return {
        "rows": {"train": int(fit_mask.sum()), "heldout": int(held_mask.sum())},
        "replay": replay,
        "cv_train": cv,
        "chosen_on_train": chosen,
        "chosen_is_the_plain_cascade": chosen == base,
        # the expected-cost rule skips only where P(fail) > 1 - c_cheap / c_strong
        "expected_cost_rule_bar_min": round(float((1 - cw / cs).min()), 4),
        "p_fail_prompt_max": round(float(p_prompt.max()), 4),
        "heldout": heldout,
        "random_ranking": {k: round(statistics.mean(r[k] for r in rand), 4) for k in KEYS},
        "thresholds": thresholds(d, fit_mask, held_mask),
        "cheap_share_of_strong_cost_heldout_pct": round(
            100 * float(pair.c_weak.sum() / pair.c_strong.sum()), 2
        ),
    }


def r4_pair(t: ot.Table) -> cf.Pair:
    def col(m: str, what: str) -> np.ndarray:
        return np.asarray([getattr(r.outcomes[m], what) for r in t.rows], dtype=np.float64)

    return cf.Pair(
        col(STRONG, "quality"), col(WEAK, "quality"), col(STRONG, "cost_usd"), col(WEAK, "cost_usd")
    )


def main() -> int:
    t0 = time.perf_counter()
    res = bench()
    res["seconds"] = round(time.perf_counter() - t0, 1)
    (OUT / "routing_round7_gsm8k.json").write_text(json.dumps(res, indent=1) + "\n")
    shipped = res["replay"]["configs"]["math.toml (verifier v2)"]
    summary = {
        "bench": "routing_round7_gsm8k",
        "chosen_on_train": res["chosen_on_train"],
        "math_toml_heldout": shipped["real"],
        "shuffled": shipped["shuffled_labels"],
        "random_router": res["replay"]["random_router"],
        "seconds": res["seconds"],
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
