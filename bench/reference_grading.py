"""Reference grading, measured on recorded answers (never copied: read from ../shared in place).

Semantic part (AlpacaEval dev, 406 prompts x 10 models): the reference is the baseline model's
answer (gpt-4-1106-preview, the table's own reference), each other model's answer is graded by
the calibrated cosine of its embedding with the reference's (all-MiniLM-L6-v2, arbiter.embedding).
The calibration (logistic on the cosine, fitted to the table's quality as a soft label) is fitted
on half the prompts and reported on the other half: Spearman of the grade with the quality label,
Brier score against predicting the fit half's mean, and a reliability curve (predicted vs
observed per bin). The control runs the same with shuffled references (another prompt's answer):
what the cosine says without knowing the question's reference.

Other calibrations on the same split (isotonic on the cosine; logistic on the cosine and the log
length ratio of answer to reference; length alone), each with its shuffled-reference control,
and the within-prompt Spearman (ranking the answers to one prompt) of the cosine, its control
and the answer's length: what carries the signal (bench/results/reference_grading.md).

Numeric part (GSM8K dev): where the strong model's answer is labelled correct, its final number is
the reference; the weak model's answers are graded by numeric agreement and compared with their
own correctness labels.

    python bench/reference_grading.py [--limit N] [--embedding-module PATH]

`--embedding-module`: a path to embedding.py when arbiter.embedding is not importable yet (the
embedding branch not merged). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
import time

# one BLAS thread: the embedder's matrices are small, and a thread per core fights the others
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from arbiter.offline import outcome_table as ot
from arbiter.reference import Calibration, ReferenceGrader, last_number

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ARBITER_SHARED_DIR") or ROOT.parent / "shared")
DATA = SHARED / "data" / "routing"
REFERENCE_MODEL = "gpt-4-1106-preview"
STRONG, WEAK = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
SEED = 15
BINS = 8

Embed = Callable[[Sequence[str]], npt.NDArray[np.floating]]


def load_embedder(path: str | None) -> tuple[Embed | None, str]:
    try:
        if path is not None:
            spec = importlib.util.spec_from_file_location("arbiter.embedding", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules["arbiter.embedding"] = module
            spec.loader.exec_module(module)
        from arbiter import embedding  # type: ignore[attr-defined,unused-ignore]

        embedder = embedding.Embedder.load()
    except (ImportError, RuntimeError, OSError) as err:
        return None, f"unavailable: {err}"
    return batched(embedder.encode_batch), "all-MiniLM-L6-v2 (arbiter.embedding)"


def batched(encode: Callable[[list[str]], Any], size: int = 16) -> Embed:
    """Encode in small batches of similar lengths: one padded batch of thousands of texts spends
    its time on padding and cache misses."""

    def embed(texts: Sequence[str]) -> npt.NDArray[np.floating]:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: npt.NDArray[np.float64] | None = None
        for start in range(0, len(order), size):
            part = order[start : start + size]
            vecs = np.asarray(encode([texts[i] for i in part]), dtype=np.float64)
            if out is None:
                out = np.zeros((len(texts), vecs.shape[1]))
            out[part] = vecs
        return out if out is not None else np.zeros((0, 1))

    return embed


def ranks(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Average ranks (ties share their mean rank)."""
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    r[order] = np.arange(len(x), dtype=np.float64)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=r)
    return np.asarray(sums[inverse] / counts[inverse], dtype=np.float64)


def spearman(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def fit_logistic(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> Calibration:
    """p = sigmoid(a x + b), cross-entropy with soft labels y in [0, 1], by Newton's method."""
    X = np.stack([x, np.ones_like(x)], axis=1)
    w = np.array([0.0, float(np.log(y.mean() / (1 - y.mean())))])
    for _ in range(50):
        p = 1 / (1 + np.exp(-(X @ w)))
        grad = X.T @ (p - y)
        hess = X.T @ (X * (p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return Calibration(slope=float(w[0]), intercept=float(w[1]))


def fit_isotonic(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]:
    """A non-decreasing step function of x fitted to y (pool adjacent violators), applied by
    the step's value (x below/above the fitted range takes the end values)."""
    order = np.argsort(x, kind="mergesort")
    xs, ys = x[order], y[order]
    blocks: list[list[float]] = []  # [sum, count, last x]
    for xi, yi in zip(xs, ys, strict=True):
        blocks.append([float(yi), 1.0, float(xi)])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s2, c2, x2 = blocks.pop()
            blocks[-1][0] += s2
            blocks[-1][1] += c2
            blocks[-1][2] = x2
    ends = np.array([b[2] for b in blocks])
    values = np.array([b[0] / b[1] for b in blocks])

    def predict(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        at = np.minimum(np.searchsorted(ends, z, side="left"), len(ends) - 1)
        return np.asarray(values[at], dtype=np.float64)

    return predict


def fit_logistic_n(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]:
    """Logistic regression on several features (columns of x, standardised on the fit data),
    soft labels, Newton's method."""
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-12
    X = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    w = np.zeros(X.shape[1])
    w[-1] = float(np.log(y.mean() / (1 - y.mean())))
    for _ in range(50):
        p = 1 / (1 + np.exp(-(X @ w)))
        hess = X.T @ (X * (p * (1 - p))[:, None]) + 1e-9 * np.eye(X.shape[1])
        step = np.linalg.solve(hess, X.T @ (p - y))
        w -= step
        if np.abs(step).max() < 1e-10:
            break

    def predict(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        Z = np.hstack([(z - mu) / sd, np.ones((len(z), 1))])
        return np.asarray(1 / (1 + np.exp(-(Z @ w))), dtype=np.float64)

    return predict


def scored(
    pred: npt.NDArray[np.float64], y_val: npt.NDArray[np.float64], base: float
) -> dict[str, Any]:
    """Spearman, Brier (and a constant's), ECE and the reliability curve of validation grades."""
    curve = reliability(pred, y_val)
    return {
        "spearman": spearman(pred, y_val),
        "brier": float(np.mean((pred - y_val) ** 2)),
        "brier_constant": float(np.mean((base - y_val) ** 2)),
        "ece": sum(b["n"] * abs(b["predicted"] - b["observed"]) for b in curve) / len(pred),
        "reliability": curve,
        "n_val": len(pred),
    }


def within_prompt(
    values: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    idx: npt.NDArray[np.int64],
    prompts: npt.NDArray[np.int64],
) -> float:
    """Mean over `prompts` of the Spearman of `values` with `y` among that prompt's answers."""
    found = []
    for i in prompts:
        part = idx == i
        if values[part].std() > 0 and y[part].std() > 0:
            found.append(spearman(values[part], y[part]))
    return float(np.mean(found)) if found else float("nan")


def reliability(
    pred: npt.NDArray[np.float64], obs: npt.NDArray[np.float64], bins: int = BINS
) -> list[dict[str, float]]:
    """Equal-count bins by predicted grade: mean predicted, mean observed quality, count."""
    order = np.argsort(pred, kind="mergesort")
    out = []
    for part in np.array_split(order, bins):
        out.append({"predicted": float(pred[part].mean()), "observed": float(obs[part].mean()),
                    "n": len(part)})  # fmt: skip
    return out


def evaluate(
    cos_fit: npt.NDArray[np.float64], y_fit: npt.NDArray[np.float64],
    cos_val: npt.NDArray[np.float64], y_val: npt.NDArray[np.float64],
) -> dict[str, Any]:  # fmt: skip
    cal = fit_logistic(cos_fit, y_fit)
    pred = np.array([cal(c) for c in cos_val])
    brier = float(np.mean((pred - y_val) ** 2))
    brier_const = float(np.mean((y_fit.mean() - y_val) ** 2))
    curve = reliability(pred, y_val)
    ece = sum(b["n"] * abs(b["predicted"] - b["observed"]) for b in curve) / len(pred)
    return {
        "calibration": {"slope": cal.slope, "intercept": cal.intercept},
        "spearman": spearman(pred, y_val),
        "spearman_raw_cosine": spearman(cos_val, y_val),
        "brier": brier,
        "brier_constant": brier_const,
        "ece": ece,
        "reliability": curve,
        "n_val": len(pred),
    }


def cached(embed: Embed, path: str | None) -> Embed:
    """Reuse vectors saved at `path` (an .npz outside the repository) for the same texts."""
    if path is None:
        return embed

    def run(texts: Sequence[str]) -> npt.NDArray[np.floating]:
        key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
        file = Path(f"{path}.{key}.npy")
        if file.exists():
            return np.asarray(np.load(file))
        vecs = np.asarray(embed(texts))
        np.save(file, vecs)
        return vecs

    return run


CHUNK_WORDS = 90  # ~120 WordPiece tokens of English: under the model's 128-token window
MAX_CHUNKS = 8


def embed_whole(embed: Embed, texts: Sequence[str]) -> npt.NDArray[np.float64]:
    """Each text as the word-weighted mean of its chunks' vectors (the first MAX_CHUNKS chunks
    of CHUNK_WORDS words), normalised: the whole answer, not its first 128 tokens."""
    chunks: list[str] = []
    owner: list[int] = []
    weight: list[float] = []
    for i, text in enumerate(texts):
        words = text.split() or [""]
        for start in range(0, min(len(words), CHUNK_WORDS * MAX_CHUNKS), CHUNK_WORDS):
            part = words[start : start + CHUNK_WORDS]
            chunks.append(" ".join(part))
            owner.append(i)
            weight.append(float(len(part)))
    vecs = np.asarray(embed(chunks), dtype=np.float64) * np.array(weight)[:, None]
    out = np.zeros((len(texts), vecs.shape[1]))
    np.add.at(out, np.array(owner), vecs)
    return np.asarray(out / np.linalg.norm(out, axis=1, keepdims=True), dtype=np.float64)


def whole_answers(
    embed: Embed, rows_refs: list[str], pairs: list[tuple[int, str, str | None, float]],
    prompts: list[int], opening: npt.NDArray[np.float64], seed: int,
) -> dict[str, Any]:  # fmt: skip
    """Whole-answer cosine vs the opening's on the answers to `prompts` (validation prompts):
    raw-cosine Spearman pooled and within one prompt, each with a shuffled-reference control."""
    keep = [k for k, p in enumerate(pairs) if p[0] in set(prompts)]
    pos = {i: n for n, i in enumerate(prompts)}
    refs = embed_whole(embed, [rows_refs[i] for i in prompts])
    answers = embed_whole(embed, [pairs[k][2] or "" for k in keep])
    local = np.array([pos[pairs[k][0]] for k in keep])
    rng = np.random.default_rng(seed)
    shift = rng.permutation(len(prompts))
    while np.any(shift == np.arange(len(prompts))):
        shift = rng.permutation(len(prompts))
    y = np.minimum(1.0, 2.0 * np.array([pairs[k][3] for k in keep], dtype=np.float64))
    whole = np.einsum("ij,ij->i", answers, refs[local])
    control = np.einsum("ij,ij->i", answers, refs[shift[local]])
    first = opening[np.array(keep)]
    ids = local.astype(np.int64)
    every = np.arange(len(prompts))
    return {
        "prompts": len(prompts), "answers": len(keep),
        "pooled": {"opening": spearman(first, y), "whole": spearman(whole, y),
                   "whole_control": spearman(control, y)},
        "within_prompt": {"opening": within_prompt(first, y, ids, every),
                          "whole": within_prompt(whole, y, ids, every),
                          "whole_control": within_prompt(control, y, ids, every)},
    }  # fmt: skip


def semantic(embed: Embed, limit: int | None, whole: int = 0) -> dict[str, Any]:
    rows = [
        r
        for r in ot.read_rows(DATA / "alpaca_eval.dev.jsonl.gz")
        if r.outcomes.get(REFERENCE_MODEL) and r.outcomes[REFERENCE_MODEL].response
    ]
    rows = rows[:limit] if limit else rows
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(rows))
    fit_ids = set(order[: len(rows) // 2].tolist())
    refs = [r.outcomes[REFERENCE_MODEL].response or "" for r in rows]
    pairs = [
        (i, m, o.response, o.quality)
        for i, r in enumerate(rows)
        for m, o in r.outcomes.items()
        if m != REFERENCE_MODEL and o.response is not None
    ]
    started = time.perf_counter()
    ref_vec = np.asarray(embed(refs), dtype=np.float64)
    ans_vec = np.asarray(embed([p[2] or "" for p in pairs]), dtype=np.float64)
    embed_s = time.perf_counter() - started
    idx = np.array([p[0] for p in pairs])
    # The label: AlpacaEval's judged probability that the answer beats the reference answer
    # (the reference itself scores 0.5). "Acceptable" = as good as the reference: 2q, capped.
    raw_q = np.array([p[3] for p in pairs], dtype=np.float64)
    y = np.minimum(1.0, 2.0 * raw_q)
    fit = np.array([i in fit_ids for i in idx])
    # the control: each prompt's reference replaced by another prompt's (a derangement)
    shift = rng.permutation(len(rows))
    while np.any(shift == np.arange(len(rows))):
        shift = rng.permutation(len(rows))

    def cosines(ref_of: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        r = ref_vec[ref_of]
        num = np.einsum("ij,ij->i", ans_vec, r)
        return np.asarray(num / (np.linalg.norm(ans_vec, axis=1) * np.linalg.norm(r, axis=1)))

    real, control = cosines(idx), cosines(shift[idx])
    lengths = np.log1p(np.array([len(p[2] or "") for p in pairs], dtype=np.float64))
    base = float(y[fit].mean())
    ref_len = np.log1p(np.array([len(r) for r in refs], dtype=np.float64))
    variants: dict[str, Any] = {}
    for name, cos, ref_of in (("reference", real, idx), ("control", control, shift[idx])):
        iso = fit_isotonic(cos[fit], y[fit])
        variants[f"{name}: isotonic(cosine)"] = scored(iso(cos[~fit]), y[~fit], base)
        feats = np.stack([cos, lengths - ref_len[ref_of]], axis=1)  # + log length ratio
        two = fit_logistic_n(feats[fit], y[fit])
        variants[f"{name}: logistic(cosine, log length ratio)"] = scored(
            two(feats[~fit]), y[~fit], base
        )
    # Ranking the answers to ONE prompt (what a per-prompt baseline would allow): mean over the
    # validation prompts of the within-prompt Spearman, for the cosine, its control and length
    val_prompts = np.unique(idx[~fit])
    variants["within one prompt (mean Spearman over validation prompts)"] = {
        name: within_prompt(values, y, idx, val_prompts)
        for name, values in (("cosine", real), ("control cosine", control), ("log length", lengths))
    }
    alone = fit_logistic_n(lengths[fit][:, None], y[fit])  # what length alone knows
    variants["no reference: logistic(log answer length)"] = scored(
        alone(lengths[~fit][:, None]), y[~fit], base
    )
    if whole:  # the first `whole` validation prompts, whole answers (slow: ~3 chunks a text)
        prompts = sorted({int(i) for i in idx[~fit]})[:whole]
        variants["whole answers (raw cosine, Spearman)"] = whole_answers(
            embed, refs, pairs, prompts, real, SEED
        )
    # the shipped path agrees with the bench: ReferenceGrader on the same embedder
    sample = ReferenceGrader(embed).cosines([pairs[0][2] or ""], [refs[pairs[0][0]]])[0]
    assert abs(sample - real[0]) < 1e-4, (sample, real[0])
    return {
        "prompts": len(rows), "answers": len(pairs), "fit_prompts": len(fit_ids),
        "embed_s": embed_s,
        "label": "acceptable = min(1, 2 * AlpacaEval quality) (as good as the reference)",
        "real": evaluate(real[fit], y[fit], real[~fit], y[~fit]),
        "control_shuffled_reference": evaluate(control[fit], y[fit], control[~fit], y[~fit]),
        "real_raw_quality_label": evaluate(real[fit], raw_q[fit], real[~fit], raw_q[~fit]),
        "spearman_log_length": spearman(lengths[~fit], y[~fit]),
        "variants": variants,
    }  # fmt: skip


def numeric() -> dict[str, Any]:
    rows = ot.read_rows(DATA / "gsm8k.dev.jsonl.gz")
    grader = ReferenceGrader(None)
    agree = n = tp = fp = fn = tn = 0
    for r in rows:
        strong, weak = r.outcomes.get(STRONG), r.outcomes.get(WEAK)
        if strong is None or weak is None or strong.quality < 1.0 or not strong.response:
            continue
        ref = last_number(strong.response)  # the labels' own rule: the last number is the answer
        if not ref:
            continue
        g = grader.grade(weak.response or "", ref)
        if g is None:
            continue
        ok, label = g.score >= 0.5, weak.quality >= 0.5
        n += 1
        agree += ok == label
        tp += ok and label
        fp += ok and not label
        fn += label and not ok
        tn += not ok and not label
    return {"pairs": n, "agreement": agree / n if n else None,
            "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn}}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="first N AlpacaEval prompts")
    ap.add_argument("--embedding-module", default=None)
    ap.add_argument("--cache", default=None, help="path prefix for saved vectors (not in the repo)")
    ap.add_argument(
        "--whole-prompts",
        type=int,
        default=0,
        help="also embed whole answers (in chunks) for this many validation prompts",
    )
    args = ap.parse_args()
    num = numeric()
    print(f"numeric (GSM8K, reference = {STRONG}'s last number where it is right; graded: "
          f"{WEAK}): {num['pairs']} pairs, agreement with the labels {num['agreement']:.3f}, "
          f"{num['confusion']}")  # fmt: skip
    embed, embedder = load_embedder(args.embedding_module)
    out: dict[str, Any] = {"numeric_gsm8k": num, "embedder": embedder}
    if embed is None:
        print(f"semantic: BLOCKED, embedder {embedder}")
        out["semantic"] = None
    else:
        sem = semantic(cached(embed, args.cache), args.limit, args.whole_prompts)
        out["semantic"] = sem
        print(f"semantic (AlpacaEval dev): {sem['prompts']} prompts, {sem['answers']} answers, "
              f"fit on {sem['fit_prompts']} prompts, reported on the rest; embedding took "
              f"{sem['embed_s']:.1f} s")  # fmt: skip
        print(f"  label: {sem['label']}")
        for name in ("real", "control_shuffled_reference", "real_raw_quality_label"):
            e = sem[name]
            print(f"  {name}: spearman {e['spearman']:.3f} (raw cosine "
                  f"{e['spearman_raw_cosine']:.3f}), brier {e['brier']:.4f} vs constant "
                  f"{e['brier_constant']:.4f}, ECE {e['ece']:.4f}, calibration "
                  f"slope {e['calibration']['slope']:.3f} intercept "
                  f"{e['calibration']['intercept']:.3f}")  # fmt: skip
            print("    reliability (predicted -> observed, n): " + ", ".join(
                f"{b['predicted']:.3f}->{b['observed']:.3f} ({b['n']})" for b in e["reliability"]
            ))  # fmt: skip
        print(f"  (context) spearman of log answer length with quality: "
              f"{sem['spearman_log_length']:.3f}")  # fmt: skip
        print("  other calibrations (fit on the tuning prompts, reported on validation):")
        for name, e in sem["variants"].items():
            if "spearman" not in e:
                print(f"    {name}: {json.dumps(e)}")
                continue
            print(f"    {name}: spearman {e['spearman']:.3f}, brier {e['brier']:.4f} vs "
                  f"constant {e['brier_constant']:.4f}, ECE {e['ece']:.4f}")  # fmt: skip
            print("      reliability: " + ", ".join(
                f"{b['predicted']:.3f}->{b['observed']:.3f}" for b in e["reliability"]
            ))  # fmt: skip
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
