"""Train the shipped `knowledge_embed` difficulty model (MMLU) and export it to ONNX.

Input: the 64 prompt features and the question's static MiniLM embedding
(`difficulty.features_semantic`, 448 floats: the subject and topic live in the embedding, and
GPT-4's lead over Mixtral differs a lot by subject). Two L2-regularised logistic regressions,
P(strong right) and P(cheap right) (`cost_frontier.gain_model`, Newton, deterministic); the ONNX
outputs the sidecar's easiness, SCALE x the standardized P(cheap right) - P(strong right), so
+ = the cheap model more likely suffices, as every difficulty model.

Chosen on MMLU's non-held-out rows only (`difficulty.split_of` buckets 0-5):
- L2 and the ranking exponent alpha by 5-fold CV (folds by position) of the static ranking
  g / extra_cost**alpha, by the larger of min(APGR calls, APGR $) (`cv_grid`);
- SCALE (how steeply the sidecar's per-prompt slope reads the score, which sets where its best
  value rule `score - cost_weight x cost` sits between the gain order and the knapsack order) by
  replaying the sidecar on those rows (bench/routing_round4.py).

Reproduce the shipped file exactly (no randomness; --cv also prints the CV grid):
    python -m arbiter.offline.train_knowledge_embed
        --out python/arbiter/models/difficulty_knowledge_embed.onnx   (one command line)
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from arbiter.difficulty import features_semantic
from arbiter.embedding import unavailable
from arbiter.offline import cost_frontier as cf
from arbiter.offline import outcome_table as ot
from arbiter.offline.preconditions import data_folder, require, routing_tables
from arbiter.offline.train_difficulty import Model, export_onnx

TABLE = "mmlu.dev.jsonl.gz"
MODELS = "routellm.models.json"
STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
VERSION = "difficulty-knowledge-embed-v1-f448"
L2S = (0.1, 0.3, 1.0, 3.0)
ALPHAS = (0.0, 0.2, 0.3, 0.4, 0.5, 1.0)
FOLDS = 5
L2 = 1.0  # cv_grid's choice (see the module doc; bench/results/routing.md, round four)
SCALE = 1.0  # chosen by replaying the sidecar on the train rows (bench/routing_round4.py)


@dataclass(frozen=True, slots=True)
class Rows:
    """One split of the MMLU table as the gain model sees it."""

    table: ot.Table
    x: np.ndarray  # (n, 448) features_semantic
    pair: cf.Pair  # recorded quality and cost per model
    extra: np.ndarray  # expected extra cost of the strong call (what the sidecar can know)


def pair_of(table: ot.Table) -> cf.Pair:
    def col(m: str, what: str) -> np.ndarray:
        return np.asarray([getattr(r.outcomes[m], what) for r in table.rows], dtype=np.float64)

    return cf.Pair(col(STRONG, "quality"), col(WEAK, "quality"), col(STRONG, "cost_usd"),
                   col(WEAK, "cost_usd"))  # fmt: skip


def load_rows(data_dir: Path) -> tuple[Rows, Rows]:
    """(train, held-out) of the MMLU table: features, labels, costs."""
    from arbiter.embedding import Embedder

    full = ot.load_table(data_dir / TABLE, ot.load_models(data_dir / MODELS))
    train, held = ot.select_split(full, "train"), ot.select_split(full, "heldout")
    strong, weak = (next(m for m in full.models if m.id == i) for i in (STRONG, WEAK))
    embedder = Embedder.load()

    def rows(t: ot.Table) -> Rows:
        x = np.concatenate([features_semantic(r.prompt, embedder) for r in t.rows])
        extra = cf.expected_cost(t, train, strong) - cf.expected_cost(t, train, weak)
        return Rows(t, x.astype(np.float64), pair_of(t), extra)

    return rows(train), rows(held)


def _subset(p: cf.Pair, idx: np.ndarray) -> cf.Pair:
    return cf.Pair(p.q_strong[idx], p.q_weak[idx], p.c_strong[idx], p.c_weak[idx])


def cv_gain(rows: Rows, l2: float, folds: int = FOLDS) -> np.ndarray:
    """Out-of-fold predicted gain on every row (folds by position: the table is grouped by
    subject, so each fold holds every subject)."""
    fold = np.arange(len(rows.x)) % folds
    g = np.zeros(len(rows.x))
    for k in range(folds):
        fit, out = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        model = cf.gain_model(rows.x[fit], _subset(rows.pair, fit), l2)
        g[out] = cf.predicted_gain(rows.x[out], model)
    return g


def cv_grid(rows: Rows) -> dict[str, dict[str, float | None]]:
    """The CV static sweep of every (L2, alpha) on the train rows."""
    out = {}
    for l2 in L2S:
        g = cv_gain(rows, l2)
        for a in ALPHAS:
            r = cf.sweep(rows.pair, cf.knapsack_order(g, rows.extra, a))
            out[f"l2 {l2:g}, alpha {a:g}"] = {"apgr": r["apgr"], "apgr_cost": r["apgr_cost"]}
    return out


def fit(rows: Rows, l2: float = L2) -> tuple[tuple[np.ndarray, np.ndarray], Model]:
    """The gain model on all the train rows, and the same as an easiness `Model` (columns
    [cheap, strong], standardized on the train rows) for `export_onnx`."""
    gm = cf.gain_model(rows.x, rows.pair, l2)
    w, b = gm[0][:, ::-1], gm[1][::-1]
    z = 1.0 / (1.0 + np.exp(-np.clip(rows.x @ w + b, -30, 30)))
    s = z[:, 0] - z[:, 1]
    return gm, Model(w, b, float(s.mean()), float(s.std()) or 1.0)


def scaled(m: Model, scale: float) -> Model:
    """The same ranking, read `scale` times as steeply by the sidecar's per-prompt slope."""
    return Model(m.w, m.b, m.mean, m.std / scale)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m arbiter.offline.train_knowledge_embed", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    ap.add_argument(
        "--data", type=Path, default=routing_tables(),
        help="folder with the outcome tables (default: $ARBITER_SHARED_DIR or ../shared)",
    )  # fmt: skip
    ap.add_argument("--out", type=Path, required=True, help="where to write the ONNX model")
    ap.add_argument("--scale", type=float, default=SCALE)
    ap.add_argument("--cv", action="store_true", help="also print the CV grid (slow)")
    args = ap.parse_args(argv)
    require("onnx", "train", "writing the ONNX model")
    if why := unavailable():  # the features read the MiniLM embedding
        raise SystemExit(f"train_knowledge_embed: {why}")
    train, _ = load_rows(data_folder(args.data, TABLE, MODELS))
    report: dict[str, Any] = {"version": VERSION, "l2": L2, "scale": args.scale}
    if args.cv:
        report["cv_train"] = cv_grid(train)
    _, model = fit(train, L2)
    export_onnx(scaled(model, args.scale), args.out, VERSION,
                "prompt_features(text, 64) + Embedder.embed(text) (384)")  # fmt: skip
    report["bytes"] = args.out.stat().st_size
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
