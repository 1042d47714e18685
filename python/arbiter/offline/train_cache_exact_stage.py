"""Train and calibrate the semantic cache's exact stage (arbiter.cache.exact_stage).

    python -m arbiter.offline.train_cache_exact_stage --pairs ../shared/data/cache/qqp.dev.jsonl.gz

Rows by ``semantic_eval.part_of`` (a hash of the pair id), as the other cache trainers:

- ``train``: fill a matcher (static embedding + faiss + the shipped logistic verifier) with
  every train text_a, ask every train text_b; its ``--read-k`` best candidates by the verifier
  are the examples (right = the pair's own text_a on a duplicate pair), with the exact MiniLM
  vectors' features (``exact_features``); a logistic model is fitted on them.
- ``calib``: asked against every tuning text_a; the gate (on the verifier's P(false) of an
  ask's best candidate) is the cheapest, fewest asks read, whose recall at the goal's precision
  (98%) is within a point of the best, and the calibration curve (Wilson 95% upper bound of
  false per served) is measured for it, deciding exactly as the runtime matcher does.
- ``holdout`` is never read here.

``--vectors FILE.npz`` (``texts``, ``E``) reuses exact vectors computed before (they are the
model's output, nothing learned); missing texts are encoded. Writes arbiter/cache/
exact_stage.json: weights, feature means and scales, gate, read_k and the curve; no text.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from arbiter.cache.exact_stage import EXACT_FEATURES, EXACT_STAGE_PATH, exact_features
from arbiter.cache.semantic import SemanticMatcher
from arbiter.cache.verifier import Verifier
from arbiter.embedding import Embedder
from arbiter.offline.semantic_eval import Asked, Pair, calibration_curve, fill, load_pairs
from arbiter.offline.train_cache_pair_model import (
    GOAL_PRECISION,
    recall_at_precision,
    retrieved,
)
from arbiter.offline.train_cache_verifier import fit_logistic

Candidates = list[tuple[str, float]]  # (stored text, verifier P(false)), best first
Row = tuple[npt.NDArray[np.float64], list[bool], bool, float]


def candidates(
    embedder: Embedder, pool: Sequence[Pair], asks: Sequence[Pair]
) -> list[tuple[Pair, Candidates]]:
    """Each ask's cheap-stage candidates (asks the exact cache answers are left out)."""
    matcher = SemanticMatcher(embedder, Verifier.load(), bound=0.02)
    stored = fill(matcher, (p.text_a for p in pool))
    texts = set(stored.values())
    return [(p, retrieved(matcher, p.text_b)) for p in asks if p.text_b not in texts]


class Vectors:
    """Exact vectors by text: from --vectors when given, the rest encoded in batches."""

    def __init__(self, embedder: Embedder, path: Path | None) -> None:
        self.embedder = embedder
        self.by_text: dict[str, npt.NDArray[np.float32]] = {}
        if path is not None:
            with np.load(path, allow_pickle=True) as f:
                self.by_text = dict(zip(f["texts"].tolist(), f["E"], strict=True))

    def ensure(self, texts: set[str]) -> None:
        todo = sorted((t for t in texts if t not in self.by_text), key=len)
        print(f"encoding {len(todo)} texts", file=sys.stderr)
        for lo in range(0, len(todo), 64):
            chunk = todo[lo : lo + 64]
            for t, v in zip(chunk, self.embedder.encode_batch(chunk), strict=True):
                self.by_text[t] = v

    def cosines(self, query: str, stored: Sequence[str]) -> list[float]:
        q = self.by_text[query]
        return [float(self.by_text[t] @ q) for t in stored]


def rows_of(vecs: Vectors, asked: Sequence[tuple[Pair, Candidates]], read_k: int) -> list[Row]:
    """Per ask: the features of its read candidates, which is right, its label, and the cheap
    P(false) of its best candidate (what the gate reads)."""
    out: list[Row] = []
    for pair, cands in asked:
        read = cands[:read_k]
        if not read:
            out.append((np.zeros((0, len(EXACT_FEATURES))), [], pair.label == 1, 2.0))
            continue
        x = exact_features([p for _, p in read], vecs.cosines(pair.text_b, [t for t, _ in read]))
        right = [pair.label == 1 and t == pair.text_a for t, _ in read]
        out.append((x, right, pair.label == 1, read[0][1]))
    return out


def decide(
    rows: Sequence[Row],
    w: npt.NDArray[np.float64],
    mean: npt.NDArray[np.float64],
    scale: npt.NDArray[np.float64],
    gate: float,
) -> tuple[list[Asked], float]:
    """What the runtime matcher decides with this gate, and the share of asks read."""
    asked: list[Asked] = []
    ran = 0
    for x, right, dup, cheap in rows:
        if not right or cheap > gate:
            asked.append(Asked(2.0, 0.0, False, dup, False, 0.0))
            continue
        ran += 1
        p = 1.0 / (1.0 + np.exp(np.clip(((x - mean) / scale) @ w, -30, 30)))
        i = int(np.argmin(p))
        asked.append(Asked(float(p[i]), 0.0, right[i], dup, False, 0.0))
    return asked, ran / max(1, len(rows))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=EXACT_STAGE_PATH)
    ap.add_argument("--vectors", type=Path, default=None, help="exact vectors computed before")
    ap.add_argument("--read-k", type=int, default=3)
    ap.add_argument("--l2", type=float, default=1.0)
    args = ap.parse_args(argv)

    train = load_pairs(args.pairs, parts=["train"])
    calib = load_pairs(args.pairs, parts=["calib"])
    embedder = Embedder.load()
    tr_asked = candidates(embedder, train, train)
    ca_asked = candidates(embedder, [*train, *calib], calib)
    vecs = Vectors(embedder, args.vectors)
    vecs.ensure(
        {p.text_b for p, _ in tr_asked + ca_asked}
        | {t for _, c in tr_asked + ca_asked for t, _ in c[: args.read_k]}
    )

    tr_rows = rows_of(vecs, tr_asked, args.read_k)
    x = np.concatenate([r[0] for r in tr_rows])
    y = np.asarray([float(v) for r in tr_rows for v in r[1]])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    mean[0], scale[0] = 0.0, 1.0
    scale[scale < 1e-9] = 1.0
    w = fit_logistic((x - mean) / scale, y, l2=args.l2)
    print(
        f"train: {len(tr_asked)} asks, {len(y)} candidates, {int(y.sum())} right", file=sys.stderr
    )

    ca_rows = rows_of(vecs, ca_asked, args.read_k)
    cheap_right = sorted(r[3] for r in ca_rows if any(r[1]))
    grid = sorted({float(np.quantile(cheap_right, q)) for q in np.linspace(0.3, 1.0, 15)})
    table = []
    for g in grid:
        asked, ran = decide(ca_rows, w, mean, scale, g)
        table.append((g, recall_at_precision(asked, GOAL_PRECISION), ran))
        print(f"gate {g:.4f}: calib recall at 98% {table[-1][1]:.4f}, read {ran:.1%}")
    best = max(r for _, r, _ in table)
    gate, recall, ran = min((t for t in table if t[1] >= best - 0.01), key=lambda t: t[2])
    asked, _ = decide(ca_rows, w, mean, scale, gate)
    thresholds, upper = calibration_curve(asked, points=1000)
    doc = {
        "model": "logistic regression on arbiter.cache.exact_stage.EXACT_FEATURES",
        "trained_on": "qqp.dev.jsonl.gz rows with semantic_eval.part_of(id) == 'train'; gate "
        "and curve on part 'calib' (Wilson 95% upper bound of false hits per served)",
        "features": list(EXACT_FEATURES),
        "weights": [round(v, 6) for v in w.tolist()],
        "mean": [round(v, 6) for v in mean.tolist()],
        "scale": [round(v, 6) for v in scale.tolist()],
        "gate": round(gate, 6),
        "read_k": args.read_k,
        "calib_asked": len(ca_rows),
        "calib_recall_at_98": round(recall, 4),
        "calibration": {"thresholds": thresholds, "upper": upper},
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    for name, weight in zip(EXACT_FEATURES, w.tolist(), strict=True):
        print(f"  {name:12s} {weight:+.3f}", file=sys.stderr)
    print(f"chose gate {gate:.4f}: calib recall at 98% {recall:.4f}, read {ran:.1%} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
