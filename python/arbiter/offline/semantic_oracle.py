"""What pair-verifier strength the semantic cache's goal needs (analysis only, never shipped).

    python -m arbiter.offline.semantic_oracle --pairs ../shared/data/cache/qqp.dev.jsonl.gz

On the calib part (``semantic_eval.part_of``; never the holdout): fill with every train and
calib text_a, ask each calib text_b the exact cache does not answer, retrieve the ``K`` nearest
entries by the request path's static vectors, and judge each (ask, entry) with an ORACLE made
from the labels: "same question" when the entry is in the ask's component of labelled
duplicates (train + calib pairs, transitively). Then:

- a perfect verifier: serve the only "same" entry; with the ambiguity rule, two or more "same"
  entries are a miss (without it, one of them is served at random);
- a noisy verifier of pair-AUC x: score = mu * same + N(0, 1), mu = sqrt(2) * Phi^-1(x) (the
  binormal model's AUC); serve the best-scored entry, ranked by its score; the ambiguity rule
  misses when the second-best score is >= t (t swept; the best t reported, chosen on calib:
  this is the ceiling for that strength, not a shipped setting).

Scored by the data's rule (serving any entry but the pair's own text_a on a label-1 pair is
false). Reports recall on duplicates at <= 20 false per 1,000 served (serving the most
confident first). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from arbiter.embedding import Embedder
from arbiter.offline.semantic_ceiling import calib_cache

K = 4  # the request path's candidates (arbiter.cache.semantic.K)
AUCS = (0.80, 0.90, 0.95, 0.98, 0.99, 0.995, 0.999)
SEEDS = 5


def recall_at(score: npt.NDArray[np.float64], right: npt.NDArray[np.bool_], dups: int) -> float:
    """Serving in descending score (-inf: a miss): recall at <= 20 false per 1,000 served."""
    order = np.argsort(-score, kind="stable")
    order = order[np.isfinite(score[order])]
    if not len(order):
        return 0.0
    true = np.cumsum(right[order])
    n = np.arange(1, len(order) + 1)
    ok = (n - true) <= 0.02 * n
    return float(true[ok].max() / dups) if ok.any() else 0.0


def simulate(
    same: npt.NDArray[np.bool_],
    own: npt.NDArray[np.bool_],
    dups: int,
    auc: float,
    rng: np.random.Generator,
    ts: Sequence[float],
) -> dict[str, float]:
    mu = 2**0.5 * NormalDist().inv_cdf(auc)
    s = mu * same + rng.standard_normal(same.shape)
    order = np.argsort(-s, axis=1)
    rows = np.arange(len(s))
    best, second = s[rows, order[:, 0]], s[rows, order[:, 1]]
    right = own[rows, order[:, 0]]
    out = {"no_rule": recall_at(best, right, dups)}
    for t in ts:
        out[f"t={t}"] = recall_at(np.where(second >= t, -np.inf, best), right, dups)
    return out


def pair_auc(score: npt.NDArray[np.float64], same: npt.NDArray[np.bool_]) -> float:
    """P(a same pair scores above a different one) (continuous scores: no ties)."""
    r = np.empty(score.size, dtype=np.float64)
    r[np.argsort(score.ravel(), kind="stable")] = np.arange(1, score.size + 1)
    pos = same.ravel()
    n1, n0 = int(pos.sum()), int((~pos).sum())
    return float((r[pos].sum() - n1 * (n1 + 1) / 2) / max(1, n1 * n0))


def place_model(
    path: Path,
    emb: Embedder,
    asks: Sequence[Any],
    pool: Sequence[str],
    top: npt.NDArray[np.int64],
    same: npt.NDArray[np.bool_],
    own: npt.NDArray[np.bool_],
    dups: int,
    ts: Sequence[float],
) -> dict[str, Any]:
    """A real pair model on the same candidates: its pair-AUC against the oracle and its
    frontier with and without the ambiguity rule (second-best logit >= t -> miss)."""
    from arbiter.cache.pair_model import PairModel

    pm = PairModel.load(emb, path)
    s = np.stack([pm.logits(p.text_b, [pool[j] for j in top[i]]) for i, p in enumerate(asks)])
    order = np.argsort(-s, axis=1)
    rows = np.arange(len(s))
    best, second = s[rows, order[:, 0]], s[rows, order[:, 1]]
    right = own[rows, order[:, 0]]
    out: dict[str, Any] = {
        "pair_auc": round(pair_auc(s, same), 4),
        "no_rule": recall_at(best, right, dups),
    }
    for t in (*ts, -1.0, -2.0, -3.0):
        out[f"t={t}"] = recall_at(np.where(second >= t, -np.inf, best), right, dups)
    print(f"model {path}: {out}", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--k", type=int, default=K)
    ap.add_argument("--model", type=Path, default=None, help="a pair_model.npz to place too")
    args = ap.parse_args(argv)
    pool, asks, comp = calib_cache(args.pairs)
    emb = Embedder.load()
    pmat = np.stack([emb.embed(t) for t in pool]).astype(np.float32)
    qmat = np.stack([emb.embed(p.text_b) for p in asks]).astype(np.float32)
    top = np.argsort(-(qmat @ pmat.T), axis=1)[:, : args.k]
    same = np.array(
        [[comp.find(pool[j]) == comp.find(p.text_b) for j in top[i]] for i, p in enumerate(asks)]
    )
    own = np.array(
        [[p.label == 1 and pool[j] == p.text_a for j in top[i]] for i, p in enumerate(asks)]
    )
    dups = sum(p.label == 1 for p in asks)
    n_same = same.sum(axis=1)
    one = n_same == 1
    served_right = (same & own).any(axis=1)
    perfect = {
        "asks": len(asks),
        "duplicates": dups,
        "own_text_a_retrieved": int(own.any(axis=1).sum()),
        "asks_with_0_1_2plus_same": [
            int((n_same == 0).sum()),
            int(one.sum()),
            int((n_same >= 2).sum()),
        ],
        # the rule: exactly one "same" entry -> serve it
        "rule": {
            # the false hits left: a label-0 ask, or a duplicate whose own text_a was not
            # retrieved, served its one linked entry (right by meaning, false by the rule)
            "false_label0": int(
                (
                    one & ~served_right & ~own.any(axis=1) & np.array([p.label == 0 for p in asks])
                ).sum()
            ),
            "recall": round(float((one & served_right).sum()) / dups, 4),
            "false_per_1000_served": round(
                1000.0 * float((one & ~served_right).sum()) / max(1, int(one.sum())), 1
            ),
        },
    }
    # no rule: an ask with m >= 1 "same" entries serves its own text_a with probability 1/m
    m = np.maximum(n_same, 1)
    exp_true = float(((own & same).any(axis=1) / m).sum())
    served = int((n_same > 0).sum())
    perfect["no_rule"] = {
        "recall": round(exp_true / dups, 4),
        "false_per_1000_served": round(1000.0 * (served - exp_true) / max(1, served), 1),
    }
    rng = np.random.default_rng(13)
    ts = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
    noisy: dict[str, Any] = {}
    for auc in AUCS:
        runs = [simulate(same, own, dups, auc, rng, ts) for _ in range(SEEDS)]
        mean = {k: round(float(np.mean([r[k] for r in runs])), 4) for k in runs[0]}
        rule = {k: v for k, v in mean.items() if k != "no_rule"}
        t_best = max(rule, key=lambda k: rule[k])
        noisy[str(auc)] = {"no_rule": mean["no_rule"], "best_rule": t_best, "rule": rule[t_best]}
        print(f"AUC {auc}: {mean}", file=sys.stderr)
    result: dict[str, Any] = {
        "part": "calib",
        "k": args.k,
        "entries": len(pool),
        "perfect": perfect,
        "noisy": noisy,
    }
    if args.model is not None:
        result["model"] = place_model(args.model, emb, asks, pool, top, same, own, dups, ts)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
