"""Routing bench, round seven (dollars), part two: AlpacaEval's 11 models, AIQ against shuffled.

chat.toml's cascade (Mixtral-concise first, GPT-4 Turbo when the first answer is short) is above
the single-model hull and scores as high with the quality labels shuffled among the rows
(`outcome_table.shuffled_labels`: every row keeps its prompt, answers and costs). Why, and what
quality signal could a shuffled table not have. Static cascades from Mixtral-concise to GPT-4
Turbo, escalating the k top-scored prompts for every k (both calls charged; the replay's anchors),
read as AIQ over the 11 models:
- diagnosis: the shipped order (shortest first answer first), the true GPT-4 cost (cheapest
  escalation first: cost and nothing else) and the correlations between the first answer's
  length, GPT-4's cost and the gain 0.5 - q_first, on train and held-out rows;
- quality signals, each as predicted gain / predicted GPT-4 cost ** alpha (alpha by 5-fold CV AIQ
  on the 240 train rows, `difficulty.split_of` buckets 0-5), every ridge fitted on train rows:
  the first answer's judged quality (round four's 10 answer features plus the prompt
  statistics), the same with the shipped difficulty scores (per-prompt difficulty: the default
  and the knowledge model), the same with the answer's length
  against GPT-4's predicted length (the judge's length preference, normalized), and a target
  the other models give: the mean judged quality of the nine other non-reference models on the
  prompt (how beatable the reference is there; ten labels per prompt instead of one), calibrated
  to the first model's scale;
- controls on the same rows in the same run: shuffled labels (mean and sd of PERMUTATIONS), the
  hull, a random mix along the hull (`replay.random_hull_mix`, as many points as the curve), and
  labels shuffled only among rows whose GPT-4 call costs about the same (COST_BINS quantile bins:
  keeps the table's cost-gain link, so what an order scores above it is quality prediction
  beyond the call's cost).
AlpacaEval is CC BY-NC: everything here is fitted to evaluate, nothing is shipped.

Writes bench/results/routing_round7_alpaca.json. Run: python bench/routing_round7_alpaca.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import routing_round2 as r2
import routing_round4_math_chat as r4
from arbiter.difficulty import N_STATS, load, load_default, split_of
from arbiter.offline import outcome_table as ot
from arbiter.offline import replay as rp
from arbiter.offline.routing_metrics import aiq

DATA, OUT = r2.DATA, r2.OUT
STRONG, FIRST = r4.STRONG, r4.FIRST
PERMUTATIONS = 20
CV_PERMUTATIONS = 5
COST_BINS = 10
ALPHAS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)
L2 = 0.1
Score = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (train idx, test idx) -> scores


def _col(t: ot.Table, m: str, what: str) -> np.ndarray:
    return r4._col(t, m, what)


def _features(t: ot.Table) -> np.ndarray:
    ans = [r4._answer_features(r.prompt, r.outcomes[FIRST].response or "") for r in t.rows]
    stats = [np.frombuffer(r.stats or b"", "<f4")[: N_STATS - 1] for r in t.rows]
    return np.c_[np.asarray(ans), np.asarray(stats, np.float64)]


def shuffled_within_cost(t: ot.Table, seed: int, bins: int = COST_BINS) -> ot.Table:
    """A second control: quality labels shuffled among rows whose GPT-4 call costs about the same
    (within each of `bins` quantile bins of its cost). It keeps what the plain shuffle breaks,
    the table's link between an escalation's cost and its gain, so an order's AIQ above it is
    quality prediction beyond what the cost of the call already says."""
    cost = _col(t, STRONG, "cost_usd")
    edges = np.quantile(cost, np.linspace(0, 1, bins + 1)[1:-1])
    which = np.searchsorted(edges, cost, side="right")
    rng = np.random.default_rng(seed)
    donor = np.arange(len(t.rows))
    for b in range(bins):
        members = np.where(which == b)[0]
        donor[members] = rng.permutation(members)
    rows = []
    for r, j in zip(t.rows, donor, strict=True):
        src = t.rows[int(j)].outcomes
        outs = {m: replace(o, quality=src[m].quality) for m, o in r.outcomes.items()}
        rows.append(replace(r, outcomes=outs))
    return ot.Table(tuple(rows), t.models)


def _row(t: ot.Table, score: np.ndarray) -> dict[str, Any]:
    order = np.argsort(-score, kind="stable")
    real, hull = r4._cascade_aiq(t, order)
    ctrl = [r4._cascade_aiq(ot.shuffled_labels(t, p), order)[0] for p in range(PERMUTATIONS)]
    strat = [r4._cascade_aiq(shuffled_within_cost(t, p), order)[0] for p in range(PERMUTATIONS)]
    sd = statistics.pstdev(ctrl)
    return {
        "aiq": round(real, 4),
        "aiq_hull": round(hull, 4),
        "shuffled_aiq": round(statistics.mean(ctrl), 4),
        "shuffled_aiq_sd": round(sd, 4),
        "above_shuffled_in_sd": round((real - statistics.mean(ctrl)) / max(sd, 1e-9), 2),
        "shuffled_within_cost_aiq": round(statistics.mean(strat), 4),
        "shuffled_within_cost_sd": round(statistics.pstdev(strat), 4),
    }


def _random_hull(t: ot.Table) -> float:
    costs = {m.id: t.model_cost(m.id) for m in t.models}
    singles = [(costs[m.id], t.model_quality(m.id)) for m in t.models]
    lo, hi = min(costs.values()), max(costs.values())
    n = len(t.rows) + 1
    vals = [aiq([*singles, *rp.random_hull_mix(t, n, s)], lo, hi) for s in range(10)]
    return round(statistics.mean(vals), 4)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return round(float(np.corrcoef(a, b)[0, 1]), 3)


def _diagnosis(t: ot.Table, x: np.ndarray) -> dict[str, float]:
    gain = _col(t, STRONG, "quality") - _col(t, FIRST, "quality")
    c_s = np.log(_col(t, STRONG, "cost_usd"))
    first_len = x[:, 0]
    return {
        "corr(first answer log length, GPT-4 log cost)": _corr(first_len, c_s),
        "corr(first answer log length, gain)": _corr(first_len, gain),
        "corr(GPT-4 log cost, gain)": _corr(c_s, gain),
        "mean gain, cheapest third of GPT-4 calls": round(
            float(gain[c_s <= np.quantile(c_s, 1 / 3)].mean()), 4
        ),
        "mean gain, dearest third of GPT-4 calls": round(
            float(gain[c_s >= np.quantile(c_s, 2 / 3)].mean()), 4
        ),
        "mean gain": round(float(gain.mean()), 4),
    }


class Models:
    """The train-fitted predictors over one table (all rows: train and held-out together; every
    fit reads only the rows it is given)."""

    def __init__(self, t: ot.Table) -> None:
        self.x = _features(t)
        self.q = _col(t, FIRST, "quality")
        self.cost = np.log(_col(t, STRONG, "cost_usd"))
        others = [m.id for m in t.models if m.id not in (STRONG, FIRST)]
        self.other = np.mean([_col(t, m, "quality") for m in others], axis=0)
        self.len_strong = np.log1p(_col(t, STRONG, "completion_tokens"))
        scorers = [load_default(), load("knowledge")]
        self.easiness = np.asarray(
            [[s.easiness(r.prompt) for s in scorers if s is not None] for r in t.rows]
        )

    def cost_hat(self, tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        out: np.ndarray = r4._ridge(self.x[tr], self.cost[tr], L2)(self.x[te])
        return out

    def q_first(self, tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        out: np.ndarray = r4._ridge(self.x[tr], self.q[tr], L2)(self.x[te])
        return out

    def q_difficulty(self, tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        """Plus the shipped per-prompt difficulty scores (the default and the knowledge model)."""
        x = np.c_[self.x, self.easiness]
        out: np.ndarray = r4._ridge(x[tr], self.q[tr], L2)(x[te])
        return out

    def q_length_normalized(self, tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        """Plus the first answer's log length minus GPT-4's predicted log length (the judge
        prefers the longer answer; GPT-4's length predicted from the prompt and first answer)."""
        lens = r4._ridge(self.x[tr], self.len_strong[tr], L2)
        rel_tr = self.x[tr, 0] - lens(self.x[tr])
        rel_te = self.x[te, 0] - lens(self.x[te])
        f = r4._ridge(np.c_[self.x[tr], rel_tr], self.q[tr], L2)
        out: np.ndarray = f(np.c_[self.x[te], rel_te])
        return out

    def q_other_models(self, tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        """The nine other models' mean quality, predicted, mapped to the first model's scale."""
        f = r4._ridge(self.x[tr], self.other[tr], L2)
        a = np.c_[np.ones(len(tr)), f(self.x[tr])]
        coef, *_ = np.linalg.lstsq(a, self.q[tr], rcond=None)
        out: np.ndarray = coef[0] + coef[1] * f(self.x[te])
        return out


def _value(m: Models, q: Callable[[np.ndarray, np.ndarray], np.ndarray], alpha: float) -> Score:
    def score(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        out: np.ndarray = (0.5 - q(tr, te)) / np.exp(m.cost_hat(tr, te)) ** alpha
        return out

    return score


def _cv(t: ot.Table, idx: np.ndarray, score: Score, reps: int = 4) -> dict[str, float]:
    """5-fold CV over the train rows `idx` of `t` (reps fold draws): the mean AIQ of the
    out-of-fold order, the same order's AIQ on shuffled labels (CV_PERMUTATIONS each), and
    the margin the goal asks for, min(AIQ - hull, AIQ - shuffled)."""
    sub = ot.Table(tuple(t.rows[i] for i in idx), t.models)
    shuffled = [ot.shuffled_labels(sub, p) for p in range(CV_PERMUTATIONS)]
    within = [shuffled_within_cost(sub, p) for p in range(CV_PERMUTATIONS)]
    real, ctrl, strat, hull = [], [], [], 0.0
    for rep in range(reps):
        fold = np.random.default_rng(200 + rep).permutation(len(idx)) % 5
        oof = np.zeros(len(idx))
        for k in range(5):
            oof[fold == k] = score(idx[fold != k], idx[fold == k])
        order = np.argsort(-oof, kind="stable")
        a, hull = r4._cascade_aiq(sub, order)
        real.append(a)
        ctrl += [r4._cascade_aiq(s, order)[0] for s in shuffled]
        strat += [r4._cascade_aiq(s, order)[0] for s in within]
    r, c = statistics.mean(real), statistics.mean(ctrl)
    return {
        "aiq": round(r, 4),
        "shuffled": round(c, 4),
        "shuffled_within_cost": round(statistics.mean(strat), 4),
        "margin": round(min(r - hull, r - c), 4),
    }


def bench() -> dict[str, Any]:
    models = ot.load_models(DATA / "alpaca_eval.models.json")
    full = ot.load_table(DATA / "alpaca_eval.dev.jsonl.gz", models)
    split = np.asarray([split_of(r.id) for r in full.rows])
    tr, ho = np.where(split != "heldout")[0], np.where(split == "heldout")[0]
    train = ot.Table(tuple(full.rows[i] for i in tr), full.models)
    held = ot.Table(tuple(full.rows[i] for i in ho), full.models)
    m = Models(full)
    signals = {
        "first answer's quality (answer features + prompt statistics)": m.q_first,
        "the same + the shipped difficulty scores": m.q_difficulty,
        "first answer's quality + its length vs GPT-4's predicted length": m.q_length_normalized,
        "the nine other models' mean quality, calibrated": m.q_other_models,
    }
    cv: dict[str, dict[str, float]] = {}
    chosen: dict[str, float] = {}
    for name, q in signals.items():
        cv[name] = {f"alpha {a:g}": _cv(full, tr, _value(m, q, a)) for a in ALPHAS}
        # the goal's own criterion: above the hull AND above shuffled labels, by the larger margin
        best = max(cv[name], key=lambda k: cv[name][k]["margin"])
        chosen[name] = float(best.split()[1])
    shipped = -m.x[:, 0]
    cv["shortest first answer first (chat.toml's order)"] = {
        "-": _cv(full, tr, lambda a, b: shipped[b], reps=1)
    }
    cv["predicted GPT-4 cost alone"] = {"-": _cv(full, tr, lambda a, b: -m.cost_hat(a, b))}
    held_scores = {
        "shortest first answer first (chat.toml's order)": shipped[ho],
        "cheapest GPT-4 call first (true cost: cost and nothing else)": -m.cost[ho],
        "predicted GPT-4 cost alone": -m.cost_hat(tr, ho),
        **{
            f"{name}, gain / cost^{chosen[name]:g} (alpha chosen on train)": _value(
                m, q, chosen[name]
            )(tr, ho)
            for name, q in signals.items()
        },
        **{
            f"{name}, gain / cost^{a:g} (not chosen)": _value(m, q, a)(tr, ho)
            for name, q in signals.items()
            for a in ALPHAS
            if a != chosen[name]
        },
        "random order": np.random.default_rng(0).random(len(ho)),
        "oracle: true gain (0.5 - q_first)": 0.5 - m.q[ho],
        "oracle: true gain / true GPT-4 cost": (0.5 - m.q[ho]) / np.exp(m.cost[ho]),
    }
    q_corr = {name: _corr(q(tr, ho), m.q[ho]) for name, q in signals.items()}
    return {
        "rows": {"train": len(tr), "heldout": len(ho)},
        "first_model": FIRST,
        "diagnosis": {"train": _diagnosis(train, m.x[tr]), "heldout": _diagnosis(held, m.x[ho])},
        "cv_train_aiq": cv,
        "alpha_chosen_on_train": chosen,
        "heldout_corr_with_first_quality": q_corr,
        "heldout": {name: _row(held, s) for name, s in held_scores.items()},
        "heldout_random_on_hull": _random_hull(held),
    }


def main() -> int:
    t0 = time.perf_counter()
    res = bench()
    res["seconds"] = round(time.perf_counter() - t0, 1)
    (OUT / "routing_round7_alpaca.json").write_text(json.dumps(res, indent=1) + "\n")
    shipped = res["heldout"]["shortest first answer first (chat.toml's order)"]
    summary = {
        "bench": "routing_round7_alpaca",
        "alpha_chosen_on_train": res["alpha_chosen_on_train"],
        "chat_order_heldout": shipped,
        "random_on_hull": res["heldout_random_on_hull"],
        "seconds": res["seconds"],
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
