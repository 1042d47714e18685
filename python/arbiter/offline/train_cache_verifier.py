"""Train and calibrate the semantic cache's pair verifier (arbiter.cache.verifier).

    python -m arbiter.offline.train_cache_verifier --pairs ../shared/data/cache/qqp.dev.jsonl.gz

Rows by ``semantic_eval.part_of`` (a hash of the pair id): the weights are fitted on ``train``
(fill with its text_a, ask its text_b, every one of the K nearest candidates a labelled example:
right = the pair's own text_a on a duplicate pair), the calibration curve is measured on
``calib`` (asked against every tuning text_a, so the pool is as crowded as the held-out one).
``holdout`` is never read here. Writes arbiter/cache/verifier_model.json: weights, feature means
and scales, and the curve; no text.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

from arbiter.cache.semantic import SemanticMatcher
from arbiter.cache.verifier import FEATURES, MODEL_PATH, Calibration, Verifier
from arbiter.embedding import DIM, Embedder
from arbiter.offline.semantic_eval import (
    CONTEXT,
    TENANT,
    ask,
    calibration_curve,
    fill,
    load_pairs,
)


def fit_logistic(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], l2: float = 1.0, iters: int = 30
) -> npt.NDArray[np.float64]:
    """Newton's method on the L2-penalised log loss (no penalty on the bias, column 0)."""
    w = np.zeros(x.shape[1])
    pen = np.full(x.shape[1], l2)
    pen[0] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) + pen * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(pen) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-7:
            break
    return w


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--product", action="store_true", help="add the vectors' product")
    ap.add_argument("--l2", type=float, default=1.0)
    args = ap.parse_args(argv)

    train = load_pairs(args.pairs, parts=["train"])
    calib = load_pairs(args.pairs, parts=["calib"])
    embedder = Embedder.load()
    width = len(FEATURES) + (DIM if args.product else 0)
    placeholder = Verifier(
        [0.0] * width,
        [0.0] * width,
        [1.0] * width,
        Calibration((0.5,), (0.0,)),
        product=args.product,
    )

    # 1. examples: each train text_b's K nearest train text_a
    matcher = SemanticMatcher(embedder, placeholder, bound=0.02)
    stored = fill(matcher, (p.text_a for p in train))
    rows: list[npt.NDArray[np.float64]] = []
    labels: list[float] = []
    for pair in train:
        vec = matcher.embed(pair.text_b)
        if vec is None:
            continue
        found = matcher.candidates(TENANT, CONTEXT, vec)
        sims = [f[2] for f in found]
        for i, (eid, text, sim, cv) in enumerate(found):
            rows.append(placeholder.row(pair.text_b, text, sim, vec, cv, sims[:i] + sims[i + 1 :]))
            labels.append(float(pair.label == 1 and stored[eid] == pair.text_a))
    x = np.stack(rows)
    y = np.asarray(labels)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    mean[0], scale[0] = 0.0, 1.0
    scale[scale < 1e-9] = 1.0
    w = fit_logistic((x - mean) / scale, y, l2=args.l2)
    print(f"train: {len(train)} pairs, {len(y)} candidates, {int(y.sum())} right", file=sys.stderr)

    # 2. the curve: calib text_b against every tuning text_a
    verifier = Verifier(
        w.tolist(),
        mean.tolist(),
        scale.tolist(),
        Calibration((0.5,), (0.0,)),
        product=args.product,
    )
    matcher = SemanticMatcher(embedder, verifier, bound=0.02)
    stored = fill(matcher, (p.text_a for p in [*train, *calib]))
    asked, _ = ask(matcher, calib, stored)
    thresholds, upper = calibration_curve(asked)
    print(f"calib: {len(calib)} pairs asked against {len(stored)} entries", file=sys.stderr)
    doc = {
        "model": "logistic regression on arbiter.cache.verifier.FEATURES",
        "trained_on": "qqp.dev.jsonl.gz rows with semantic_eval.part_of(id) == 'train'; "
        "curve on part 'calib' (Wilson 95% upper bound of false hits per served)",
        "features": list(FEATURES),
        "product": args.product,
        "weights": [round(v, 6) for v in w.tolist()],
        "mean": [round(v, 6) for v in mean.tolist()],
        "scale": [round(v, 6) for v in scale.tolist()],
        "calibration": {"thresholds": thresholds, "upper": upper},
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    for name, weight in zip(FEATURES, w.tolist(), strict=False):
        print(f"  {name:20s} {weight:+.3f}", file=sys.stderr)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
