"""Train the math cascade's default verifier v4 (`cascade.Verifier` with `math_value.CostHead`).

v4 = v2's P(the cheap answer is wrong) (the same 22 features, the same L2, the same GSM8K train
rows: its weights are v2's) over the strong call's expected relative cost ** ALPHA. The cost is a
least-squares model of log(strong call's recorded dollars) on the prompt's and the cheap answer's
log lengths (known when the verifier runs: no peeking at the strong answer). ALPHA was chosen by
`cv_report` on the 397 train rows (`difficulty.split_of` buckets 0-5) only: 20 x 5-fold CV per
alpha, and a bootstrap of the train rows for how sure each alpha's gain over alpha 0 is; the
alpha with the largest lower bound (bootstrap mean - 1 sd) on its gain over alpha 0 in
min(APGR calls, APGR $) was taken: 0.5 (bench/routing_round5_gsm8k.py). Deterministic (Newton's
method, least squares).

    python -m arbiter.offline.train_verifier_cost --out python/arbiter/models/verifier_math_v4.json
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from arbiter.cascade import VERIFIER_FEATURES, Verifier
from arbiter.difficulty import split_of
from arbiter.math_value import CostHead
from arbiter.offline import cost_frontier as cf
from arbiter.offline import train_verifier as tv

VERSION = "verifier-math-v4-f22-cost"
N_FEATURES = 22  # v2's features (without v3's chained_equals)
L2_WRONG = 1e-2  # v2's
ALPHA = 0.5
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
_LOG_PROMPT = VERIFIER_FEATURES.index("log_prompt_len")
_LOG_ANSWER = VERIFIER_FEATURES.index("log_answer_len")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
    return out


def _cost_design(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.c_[np.ones(len(x)), x[:, _LOG_PROMPT], x[:, _LOG_ANSWER]]
    return out


def fit(d: tv.VerifierData, rows: np.ndarray, alpha: float = ALPHA) -> Verifier:
    """v4 fitted on `rows` (a boolean mask): P(wrong) as v2, the cost model, the exponent."""
    x = d.x[rows][:, :N_FEATURES]
    mu, sd = x.mean(0), x.std(0)
    sd[sd < 1e-9] = 1.0
    w, b = cf.fit_logistic(x, (d.q_weak[rows] < 0.5).astype(np.float64), L2_WRONG)
    a = _cost_design(x)
    coef, *_ = np.linalg.lstsq(a, np.log(d.c_strong[rows]), rcond=None)
    ref = float(np.exp(a @ coef).mean())
    head = CostHead((float(coef[0]), float(coef[1]), float(coef[2])), ref, alpha)
    return Verifier(
        VERSION,
        tuple(map(float, mu)),
        tuple(map(float, sd)),
        tuple(map(float, w * sd)),
        float(b + w @ mu),
        cost=head,
    )


def scores(v: Verifier, d: tv.VerifierData, rows: np.ndarray) -> np.ndarray:
    """`v.score` on `rows` from the precomputed features (what the request path computes)."""
    assert v.cost is not None
    x = d.x[rows][:, :N_FEATURES]
    p = _sigmoid(((x - np.asarray(v.mean)) / np.asarray(v.std)) @ np.asarray(v.weights) + v.bias)
    a, b, c = v.cost.log_cost
    rel = np.maximum(
        1e-3, np.exp(a + b * x[:, _LOG_PROMPT] + c * x[:, _LOG_ANSWER]) / v.cost.cost_ref
    )
    out: np.ndarray = np.minimum(1.0, p / rel**v.cost.alpha)
    return out


def _cv_once(d: tv.VerifierData, sel: np.ndarray, seed: int, alphas: Sequence[float]) -> np.ndarray:
    """One 5-fold CV over the row indices `sel` (may repeat: a bootstrap): per alpha, APGR and
    CPT80 on both axes of the out-of-fold scores (static sweep, cascade charged)."""
    n = len(sel)
    fold = np.random.default_rng(seed).permutation(n) % 5
    s = np.zeros((len(alphas), n))
    for k in range(5):
        train_part = _subset(d, sel[fold != k])  # a bootstrap's repeats count as often
        base = fit(train_part, np.ones(len(train_part.ids), bool))
        assert base.cost is not None
        test = _subset(d, sel[fold == k])
        for j, al in enumerate(alphas):
            v = Verifier(
                base.version,
                base.mean,
                base.std,
                base.weights,
                base.bias,
                cost=CostHead(base.cost.log_cost, base.cost.cost_ref, al),
            )
            s[j, fold == k] = scores(v, test, np.ones(len(test.ids), bool))
    p = cf.Pair(d.q_strong[sel], d.q_weak[sel], d.c_strong[sel], d.c_weak[sel])
    out = []
    for j in range(len(alphas)):
        r = cf.sweep(p, np.argsort(-s[j], kind="stable"), cascade=True)
        out.append([float(r[k] or 100.0) for k in ("apgr", "cpt80", "apgr_cost", "cpt80_cost_pct")])
    return np.asarray(out)


def _subset(d: tv.VerifierData, idx: np.ndarray) -> tv.VerifierData:
    return tv.VerifierData(
        [d.ids[i] for i in idx],
        d.x[idx],
        d.q_strong[idx],
        d.q_weak[idx],
        d.c_strong[idx],
        d.c_weak[idx],
        d.prompt_chars[idx],
        d.strong_chars[idx],
    )


def cv_report(
    d: tv.VerifierData,
    rows: np.ndarray,
    reps: int = 20,
    boots: int = 100,
    alphas: Sequence[float] = ALPHAS,
) -> dict[str, Any]:
    """Repeated 5-fold CV per alpha on `rows`; and over `boots` bootstrap resamples of `rows`
    (2 CV repeats each) the gain of each alpha over alpha 0 (v2's order), its sd and how often
    it is positive: what chose ALPHA."""
    idx = np.where(rows)[0]
    cv = np.mean([_cv_once(d, idx, 100 + r, alphas) for r in range(reps)], axis=0)
    rng = np.random.default_rng(7)
    gains = []
    for b in range(boots):
        sel = rng.choice(idx, len(idx), replace=True)
        m = np.mean([_cv_once(d, sel, 1000 + 2 * b + r, alphas) for r in range(2)], axis=0)
        low = np.minimum(m[:, 0], m[:, 2])
        gains.append(np.c_[m[:, 0] - m[0, 0], m[:, 2] - m[0, 2], low - low[0]])
    g = np.asarray(gains)  # (boots, alphas, 3): calls, $, min(calls, $)
    out: dict[str, Any] = {}
    for j, al in enumerate(alphas):
        out[f"alpha {al:g}"] = {
            "cv": dict(
                zip(
                    ("apgr", "cpt80", "apgr_cost", "cpt80_cost_pct"),
                    (round(float(v), 4) for v in cv[j]),
                    strict=True,
                )
            ),
            "boot_gain_calls": round(float(g[:, j, 0].mean()), 4),
            "boot_gain_cost": round(float(g[:, j, 1].mean()), 4),
            "boot_gain_min": round(float(g[:, j, 2].mean()), 4),
            "boot_sd_min": round(float(g[:, j, 2].std()), 4),
            "boot_share_cost_gain_positive": round(float((g[:, j, 1] > 0).mean()), 3),
        }
    return out


def choose_alpha(report: dict[str, Any]) -> float:
    """The alpha with the largest lower bound on its gain over alpha 0 in min(APGR calls, APGR
    $): bootstrap mean - 1 sd (a sure gain, not the largest mean: a larger alpha trades calls for
    dollars and its gain varies more between resamples of the train rows)."""
    bound = {float(k.split()[1]): r["boot_gain_min"] - r["boot_sd_min"] for k, r in report.items()}
    return max(bound, key=lambda a: (bound[a], -a))


def train(data_dir: Path, out: Path) -> dict[str, Any]:
    """Fit v4 on GSM8K's train rows and write it; nothing here reads the held-out rows."""
    d = tv.load_verifier_data(data_dir)
    rows = np.asarray([split_of(i) != "heldout" for i in d.ids])
    model = fit(d, rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(model.to_json())
    return {"version": VERSION, "fit_rows": int(rows.sum()), "alpha": ALPHA}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m arbiter.offline.train_verifier_cost")
    ap.add_argument("--out", type=Path, required=True)
    shared = Path(os.environ.get("ARBITER_SHARED_DIR", "../shared"))
    ap.add_argument("--data", type=Path, default=shared / "data" / "routing")
    args = ap.parse_args(argv)
    print(json.dumps(train(args.data, args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
