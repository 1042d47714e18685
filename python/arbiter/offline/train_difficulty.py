"""Train the shipped difficulty model from outcome tables and export it to ONNX.

`python -m arbiter.offline.train_difficulty --out python/arbiter/models/difficulty.onnx` reproduces
the artifact exactly (no randomness). Training data: the GSM8K and MMLU tables (Apache-2.0 records
of MIT-licensed benchmarks), train split only. AlpacaEval (CC BY-NC) must never be used here."""

from __future__ import annotations

import argparse
import gzip
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from arbiter.difficulty import INPUT_NAME, OUTPUT_NAME, features, features_wide, split_of
from arbiter.offline.preconditions import data_folder, require, routing_tables
from arbiter.offline.routing_metrics import apgr, cpt

TABLES = ("gsm8k.dev.jsonl.gz", "mmlu.dev.jsonl.gz")
STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
VERSION = "difficulty-v1-stats16-lr2"
L2 = 1e-2
EPOCHS = 600
LR = 1.0


@dataclass(frozen=True, slots=True)
class Data:
    ids: list[str]
    bench: np.ndarray
    x: np.ndarray  # (n, 16) text statistics
    q_strong: np.ndarray
    q_weak: np.ndarray


def load(
    data_dir: Path,
    tables: Sequence[str] = TABLES,
    featurize: Callable[[str], np.ndarray] = features,
) -> Data:
    ids, bench, xs, qs, qw = [], [], [], [], []
    for name in tables:
        if "alpaca" in name:
            raise ValueError("AlpacaEval is CC BY-NC: evaluation only, never training")
        with gzip.open(data_dir / name, "rt", encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                text = "\n\n".join(m["content"] for m in r["messages"])
                ids.append(r["id"])
                bench.append(r["benchmark"])
                xs.append(featurize(text)[0])
                qs.append(r["outcomes"][STRONG]["quality"])
                qw.append(r["outcomes"][WEAK]["quality"])
    return Data(ids, np.asarray(bench), np.asarray(xs, np.float64), np.asarray(qs), np.asarray(qw))


def _fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = L2, epochs: int = EPOCHS, lr: float = LR
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by full-batch gradient descent (deterministic)."""
    w = np.zeros(x.shape[1])
    b = 0.0
    for _ in range(epochs):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        g = p - y
        w -= lr * (x.T @ g / len(y) + l2 * w)
        b -= lr * float(g.mean())
    return w, b


@dataclass(frozen=True, slots=True)
class Model:
    w: np.ndarray  # (16, 2): raw features -> [logit P(weak ok), logit P(strong ok)]
    b: np.ndarray  # (2,)
    mean: float  # of sigmoid(weak) - sigmoid(strong) on training rows
    std: float

    def score(self, x: np.ndarray) -> np.ndarray:
        z = 1.0 / (1.0 + np.exp(-(x @ self.w + self.b)))
        out: np.ndarray = (z[:, 0] - z[:, 1] - self.mean) / self.std
        return out


def train(d: Data, rows: np.ndarray, l2: float = L2) -> Model:
    mu = d.x[rows].mean(0)
    sd = d.x[rows].std(0)
    sd[sd < 1e-9] = 1.0  # the constant bias slot
    xs = (d.x - mu) / sd
    cols, bias = [], []
    for y in (d.q_weak, d.q_strong):
        w, b = _fit_logistic(xs[rows], (y[rows] >= 0.5).astype(np.float64), l2)
        cols.append(w / sd)  # fold the standardization into the weights
        bias.append(b - float((w / sd) @ mu))
    w2, b2 = np.stack(cols, 1), np.asarray(bias)
    z = 1.0 / (1.0 + np.exp(-(d.x[rows] @ w2 + b2)))
    s = z[:, 0] - z[:, 1]
    return Model(w2, b2, float(s.mean()), float(s.std()) or 1.0)


def static_sweep(score: np.ndarray, qs: np.ndarray, qw: np.ndarray) -> dict[str, float | None]:
    """APGR/CPT when the k least-easy prompts go to the strong model, for every k."""
    order = np.argsort(score, kind="stable")
    n = len(order)
    gain = np.concatenate([[0.0], np.cumsum(qs[order] - qw[order])]) / n
    pts = [(k / n, float(gain[k] / (qs.mean() - qw.mean()))) for k in range(n + 1)]
    c50, c80 = cpt(pts, 0.5), cpt(pts, 0.8)
    return {
        "apgr": round(apgr(pts), 4),
        "cpt50": None if c50 is None else round(100 * c50, 2),
        "cpt80": None if c80 is None else round(100 * c80, 2),
    }


def _auc(score: np.ndarray, y: np.ndarray) -> float:
    pos, neg = score[y >= 0.5], score[y < 0.5]
    if not len(pos) or not len(neg):
        return float("nan")
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]))) + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def evaluate(d: Data, m: Model, rows: np.ndarray) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    s = m.score(d.x)
    for b in sorted(set(d.bench[rows].tolist())):
        r = rows & (d.bench == b)
        out[b] = {
            "rows": int(r.sum()),
            **static_sweep(s[r], d.q_strong[r], d.q_weak[r]),
            "auc_weak_correct": round(_auc(s[r], d.q_weak[r]), 4),
        }
    return out


def export_onnx(
    m: Model,
    path: Path,
    version: str = VERSION,
    features_doc: str = "prompt_features(text, 64)[-16:]",
) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    f32 = np.float32
    inits = [
        numpy_helper.from_array(m.w.astype(f32), "W"),
        numpy_helper.from_array(m.b.astype(f32), "B"),
        numpy_helper.from_array(np.asarray([[1.0], [-1.0]], f32) / f32(m.std), "D"),
        numpy_helper.from_array(np.asarray([-m.mean / m.std], f32), "C"),
    ]
    nodes = [
        helper.make_node("Gemm", [INPUT_NAME, "W", "B"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["p"]),
        helper.make_node("Gemm", ["p", "D", "C"], [OUTPUT_NAME]),
    ]
    graph = helper.make_graph(
        nodes,
        "arbiter_difficulty",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [1, m.w.shape[0]])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [1, 1])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="arbiter"
    )
    model.ir_version = 8
    props = {"version": version, "features": features_doc}
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())


# -- the knowledge model: MMLU only, all 64 prompt features (48 hashed n-gram slots + 16 stats) --
# For knowledge questions the 16 text statistics top out near APGR 0.64 on the call axis; the
# hashed slots carry topic. L2 chosen by 5-fold CV on MMLU's non-held-out rows (`knowledge_cv`).
KNOWLEDGE_VERSION = "difficulty-knowledge-v1-f64"
KNOWLEDGE_TABLES = ("mmlu.dev.jsonl.gz",)
KNOWLEDGE_L2S = (1e-2, 3e-2, 1e-1, 3e-1, 1.0)


def knowledge_cv(d: Data, rows: np.ndarray, folds: int = 5) -> dict[float, float]:
    """Per L2: the 5-fold CV static APGR (call axis) on `rows`; folds by position, no shuffle."""
    idx = np.flatnonzero(rows)
    fold = np.arange(len(idx)) % folds
    out = {}
    for l2 in KNOWLEDGE_L2S:
        score = np.zeros(len(idx))
        for k in range(folds):
            fit = np.zeros(len(d.ids), bool)
            fit[idx[fold != k]] = True
            score[fold == k] = train(d, fit, l2).score(d.x[idx[fold == k]])
        out[l2] = float(static_sweep(score, d.q_strong[idx], d.q_weak[idx])["apgr"] or 0.0)
    return out


def train_knowledge(data_dir: Path, out: Path) -> dict[str, object]:
    """Fit the knowledge model on MMLU's train+validation rows, write the ONNX, report CV and
    held-out sweeps."""
    d = load(data_dir, KNOWLEDGE_TABLES, features_wide)
    split = np.asarray([split_of(i) for i in d.ids])
    fit = split != "heldout"
    cv = knowledge_cv(d, fit)
    l2 = max(cv, key=lambda k: cv[k])
    model = train(d, fit, l2)
    export_onnx(model, out, KNOWLEDGE_VERSION, "prompt_features(text, 64)")
    return {
        "version": KNOWLEDGE_VERSION,
        "cv_apgr_by_l2": {str(k): round(v, 4) for k, v in cv.items()},
        "l2": l2,
        "train": evaluate(d, model, fit),
        "heldout": evaluate(d, model, split == "heldout"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m arbiter.offline.train_difficulty", description=__doc__
    )
    ap.add_argument(
        "--data", type=Path, default=routing_tables(),
        help="folder with the outcome tables (default: $ARBITER_SHARED_DIR or ../shared)",
    )  # fmt: skip
    ap.add_argument("--out", type=Path, required=True, help="where to write the ONNX model")
    ap.add_argument(
        "--verifier-out", type=Path, default=None, help="also train the math verifier (JSON)"
    )
    ap.add_argument(
        "--knowledge-out", type=Path, default=None,
        help="also train the knowledge model (MMLU, 64 features; ONNX)",
    )  # fmt: skip
    ap.add_argument("--metrics", type=Path, default=None, help="write the metrics JSON here")
    args = ap.parse_args(argv)
    require("onnx", "train", "writing the ONNX model")
    d = load(data_folder(args.data, *TABLES))
    split = np.asarray([split_of(i) for i in d.ids])
    fit_rows = split != "heldout"  # train + validation; validation chose L2/epochs beforehand
    model = train(d, fit_rows)
    export_onnx(model, args.out)
    report = {
        "version": VERSION,
        "rows": {s: int((split == s).sum()) for s in ("train", "validation", "heldout")},
        "fit_on": "train+validation",
        "train": evaluate(d, model, fit_rows),
        "heldout": evaluate(d, model, split == "heldout"),
        "bytes": args.out.stat().st_size,
    }
    if args.verifier_out:
        from arbiter.offline.train_verifier import train_verifier

        report["verifier"] = train_verifier(args.data, args.verifier_out)
    if args.knowledge_out:
        report["knowledge"] = train_knowledge(args.data, args.knowledge_out)
    text = json.dumps(report, indent=2)
    if args.metrics:
        args.metrics.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
