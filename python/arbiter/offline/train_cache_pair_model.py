"""Train and calibrate the semantic cache's cross-encoder (arbiter.cache.pair_model).

    pip install -e '.[train]'   # torch: offline only, never a runtime dependency
    python -m arbiter.offline.train_cache_pair_model --pairs ../shared/data/cache/qqp.dev.jsonl.gz

Rows by ``semantic_eval.part_of`` (a hash of the pair id), as the verifier's trainer:

- ``train``: the examples. Fill a matcher (static embedding + faiss + the shipped logistic
  verifier) with every train text_a, ask every text_b; each pair gives (text_b, its own text_a,
  label) and up to ``--negatives`` of the other retrieved candidates the cheap stage ranks best
  (label 0): the look-alikes the cross-encoder must refuse at run time.
  ``--transitive N`` / ``--hard-negatives N`` add unlabelled duplicates inside train chains and
  each text_b's nearest train texts outside its chain (``cache_pair_augment``).
- ``calib``: choosing the ambiguity rule's ``rival`` threshold (or none), ``cross_k`` and the
  cheap stage's gate (the cheapest choice whose recall at the goal's precision, 98%, is within
  a point of the best; scored exactly as the runtime matcher decides,
  with the numpy model) and the calibration curve (Wilson 95% upper bound of false per served),
  asked against every tuning text_a as the verifier's curve is.
- ``holdout`` is never read here.

The model: the first ``--layers`` layers of all-MiniLM-L6-v2 (from the installed gt-all-
minilm-l6-v2 package), "[CLS] q [SEP] c [SEP]" with segment ids; each side's tokens mean-pooled
after the layers (u, v: they have read each other through attention) and a logistic head on [u *
v, |u - v|], which compares from the first step (a head on one pooled vector sat at the base rate
in a first, CPU-starved run of ~9k examples). Training is one pass over the shuffled examples by
default, with a linear warm-up and decay; ``--budget-s`` ends the decay (and training) at a
wall-clock budget instead, for a busy machine. The WordPiece table stays frozen (it is not
shipped: read from the package at run time); the layers, position/segment embeddings, embedding
LayerNorm and head are trained and written as float16 to arbiter/cache/pair_model.npz with the
gate and the curve in ``meta``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from arbiter.cache.pair_model import PAIR_MODEL_PATH, PairModel
from arbiter.cache.semantic import SemanticMatcher
from arbiter.cache.verifier import Verifier
from arbiter.embedding import Embedder, _read_safetensors
from arbiter.offline.preconditions import require
from arbiter.offline.semantic_eval import (
    CONTEXT,
    TENANT,
    Asked,
    Pair,
    calibration_curve,
    fill,
    load_pairs,
)

GOAL_PRECISION = 0.98  # the goal: <= 20 false per 1,000 served


@dataclass(frozen=True, slots=True)
class Example:
    query: str
    candidate: str
    label: float


def retrieved(matcher: SemanticMatcher, text: str) -> list[tuple[str, float]]:
    """The cheap stage's candidates for `text`: (stored text, verifier P(false)), best first."""
    vec = matcher.embed(text)
    if vec is None:
        return []
    found = matcher.candidates(TENANT, CONTEXT, vec)
    if not found:
        return []
    sims = [f[2] for f in found]
    x = np.stack(
        [
            matcher.verifier.row(text, cand, sim, vec, cv, sims[:i] + sims[i + 1 :])
            for i, (_, cand, sim, cv) in enumerate(found)
        ]
    )
    p = matcher.verifier.p_false_of(x)
    return sorted(((found[i][1], float(p[i])) for i in range(len(found))), key=lambda t: t[1])


def examples(
    embedder: Embedder, pairs: Sequence[Pair], negatives: int
) -> tuple[list[Example], list[float]]:
    """Training examples, and the cheap P(false) of each duplicate's own text_a when retrieved
    (to set the gate)."""
    matcher = SemanticMatcher(embedder, Verifier.load(), bound=0.02)
    fill(matcher, (p.text_a for p in pairs))
    out: list[Example] = []
    right_p: list[float] = []
    for pair in pairs:
        out.append(Example(pair.text_b, pair.text_a, float(pair.label)))
        others = 0
        for text, p in retrieved(matcher, pair.text_b):
            if text == pair.text_a:
                if pair.label == 1:
                    right_p.append(p)
                continue
            if text != pair.text_b and others < negatives:
                out.append(Example(pair.text_b, text, 0.0))
                others += 1
    return out, right_p


# -- the torch model (mirrors arbiter.cache.pair_model's numpy forward) ------------------------


def build_model(torch: Any, embedder: Embedder, layers: int) -> Any:
    nn = torch.nn
    w = _read_safetensors(embedder.path / "model.safetensors")

    def t(name: str) -> Any:
        return torch.tensor(w[name])

    class Layer(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self, p: str) -> None:
            super().__init__()
            self.q = nn.Linear(384, 384)
            self.k = nn.Linear(384, 384)
            self.v = nn.Linear(384, 384)
            self.o = nn.Linear(384, 384)
            self.ln1 = nn.LayerNorm(384, eps=1e-12)
            self.up = nn.Linear(384, 1536)
            self.down = nn.Linear(1536, 384)
            self.ln2 = nn.LayerNorm(384, eps=1e-12)
            self.prefix = p
            with torch.no_grad():
                for mod, name in self.named():
                    mod.weight.copy_(t(name + ".weight"))
                    mod.bias.copy_(t(name + ".bias"))

        def named(self) -> list[tuple[Any, str]]:
            """Each sub-module with its name in the safetensors file (read, and exported)."""
            p = self.prefix
            a = p + "attention."
            return [
                (self.q, a + "self.query"),
                (self.k, a + "self.key"),
                (self.v, a + "self.value"),
                (self.o, a + "output.dense"),
                (self.ln1, a + "output.LayerNorm"),
                (self.up, p + "intermediate.dense"),
                (self.down, p + "output.dense"),
                (self.ln2, p + "output.LayerNorm"),
            ]

        def forward(self, h: Any, bias: Any) -> Any:
            b, s, _ = h.shape

            def heads(x: Any) -> Any:
                return x.view(b, s, 12, 32).transpose(1, 2)

            q, k, v = heads(self.q(h)), heads(self.k(h)), heads(self.v(h))
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(32) + bias, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(b, s, 384)
            h = self.ln1(self.o(ctx) + h)
            up = nn.functional.gelu(self.up(h), approximate="tanh")
            return self.ln2(self.down(up) + h)

    class CrossEncoder(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("word", t("embeddings.word_embeddings.weight"))  # frozen
            self.pos = nn.Parameter(t("embeddings.position_embeddings.weight"))
            self.seg = nn.Parameter(t("embeddings.token_type_embeddings.weight"))
            self.ln = nn.LayerNorm(384, eps=1e-12)
            with torch.no_grad():
                self.ln.weight.copy_(t("embeddings.LayerNorm.weight"))
                self.ln.bias.copy_(t("embeddings.LayerNorm.bias"))
            self.layers = nn.ModuleList([Layer(f"encoder.layer.{i}.") for i in range(layers)])
            self.head = nn.Linear(2 * 384, 1)
            with torch.no_grad():
                self.head.weight.zero_()
                self.head.bias.zero_()

        def forward(self, ids: Any, types: Any, mask: Any) -> Any:
            s = ids.shape[1]
            h = self.ln(self.word[ids] + self.pos[:s][None] + self.seg[types])
            bias = ((1.0 - mask) * -1e9)[:, None, None, :]
            for layer in self.layers:
                h = layer(h, bias)
            a = mask * (types == 0)
            b = mask * (types == 1)
            u = (h * a[:, :, None]).sum(1) / a.sum(1, keepdim=True).clamp(min=1.0)
            v = (h * b[:, :, None]).sum(1) / b.sum(1, keepdim=True).clamp(min=1.0)
            return self.head(torch.cat([u * v, (u - v).abs()], dim=-1)).squeeze(-1)

    return CrossEncoder()


def export(model: Any, layers: int, meta: dict[str, Any], path: Path) -> None:
    """The trained parameters under the safetensors names pair_model.py reads, float16."""
    out: dict[str, npt.NDArray[Any]] = {}

    def put(name: str, tensor: Any) -> None:
        out[name] = tensor.detach().cpu().numpy().astype(np.float16)

    put("embeddings.position_embeddings.weight", model.pos[: meta["max_tokens"]])
    put("embeddings.token_type_embeddings.weight", model.seg)
    put("embeddings.LayerNorm.weight", model.ln.weight)
    put("embeddings.LayerNorm.bias", model.ln.bias)
    for layer in model.layers:
        for mod, name in layer.named():
            put(name + ".weight", mod.weight)
            put(name + ".bias", mod.bias)
    put("head.weight", model.head.weight)
    put("head.bias", model.head.bias)
    meta = {**meta, "layers": layers}
    np.savez(path, meta=np.array(json.dumps(meta)), **out)  # type: ignore[arg-type]


def batches(
    tok: Any, data: Sequence[Example], size: int, rng: random.Random, max_tokens: int
) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32], Any]]:
    """Shuffled, length-bucketed padded batches (a random half with the two sides swapped:
    the order of a QQP pair means nothing)."""
    order = list(range(len(data)))
    rng.shuffle(order)
    texts = []
    for i in order:
        ex = data[i]
        texts.append((ex.query, ex.candidate) if rng.random() < 0.5 else (ex.candidate, ex.query))
    encs = tok.encode_batch(texts)
    labels = [data[i].label for i in order]
    idx = list(range(len(encs)))
    chunk = size * 50
    groups: list[list[int]] = []
    for lo in range(0, len(idx), chunk):
        block = sorted(idx[lo : lo + chunk], key=lambda j: len(encs[j].ids))
        groups.extend(block[k : k + size] for k in range(0, len(block), size))
    rng.shuffle(groups)
    out = []
    for g in groups:
        seq = max(len(encs[j].ids) for j in g)
        ids = np.zeros((len(g), seq), dtype=np.int64)
        types = np.zeros((len(g), seq), dtype=np.int64)
        mask = np.zeros((len(g), seq), dtype=np.float32)
        for r, j in enumerate(g):
            n = len(encs[j].ids)
            ids[r, :n] = encs[j].ids
            types[r, :n] = encs[j].type_ids
            mask[r, :n] = 1.0
        out.append((ids, types, mask, np.asarray([labels[j] for j in g], dtype=np.float32)))
    return out


def recall_at_precision(asked: Sequence[Asked], precision: float) -> float:
    """The largest recall on duplicates at which serving the most confident hits keeps
    false/served <= 1 - precision."""
    ranked = sorted((a.p_false, a.right) for a in asked if a.p_false <= 1.0)
    dups = sum(a.duplicate for a in asked) or 1
    best, true = 0, 0
    for i, (_, right) in enumerate(ranked):
        true += right
        if (i + 1 - true) <= (1.0 - precision) * (i + 1):
            best = true
    return best / dups


def main(argv: list[str] | None = None) -> int:

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=PAIR_MODEL_PATH)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--negatives", type=int, default=1)
    ap.add_argument("--transitive", type=int, default=0, help="unlabelled duplicates per member")
    ap.add_argument("--hard-negatives", type=int, default=0, help="per text_b, outside its chain")
    ap.add_argument("--head-lr-scale", type=float, default=10.0, help="the head learns faster")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--cross-k", type=int, default=2)
    ap.add_argument("--gate-keep", type=float, default=0.97, help="share of right pairs gated in")
    ap.add_argument("--threads", type=int, default=1, help="1: a busy machine preempts more")
    ap.add_argument("--budget-s", type=float, default=0.0, help="stop training after this")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--calib-limit", type=int, default=None, help="ask fewer calib pairs")
    ap.add_argument("--train-limit", type=int, default=None, help="fewer train pairs (smoke)")
    ap.add_argument("--calibrate-only", action="store_true", help="keep the weights in --out")
    ap.add_argument("--gate", type=float, default=None, help="with --calibrate-only")
    args = ap.parse_args(argv)
    if args.calibrate_only:
        return recalibrate(args)
    require("torch", "train", "training the pair model")
    import torch  # offline only: the `train` extra

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)

    train = load_pairs(args.pairs, parts=["train"], limit=args.train_limit)
    embedder = Embedder.load()
    data, right_p = examples(embedder, train, args.negatives)
    if args.transitive or args.hard_negatives:
        from arbiter.offline.cache_pair_augment import hard_negatives, transitive_positives

        seen_pairs = {frozenset((e.query, e.candidate)) for e in data}
        for label, extra in (
            (1.0, transitive_positives(train, args.transitive, rng)),
            (0.0, hard_negatives(embedder, train, args.hard_negatives)),
        ):
            for a, b in extra:
                if frozenset((a, b)) not in seen_pairs:
                    seen_pairs.add(frozenset((a, b)))
                    data.append(Example(a, b, label))
    gate = float(np.quantile(right_p, args.gate_keep))
    print(
        f"train: {len(train)} pairs -> {len(data)} examples ({sum(e.label for e in data):.0f} "
        f"duplicates); gate P(false) <= {gate:.4f}",
        file=sys.stderr,
    )
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(embedder.path / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(args.max_tokens)
    model = build_model(torch, embedder, args.layers)
    params = [p for p in model.parameters() if p.requires_grad]
    head = {id(p) for p in model.head.parameters()}
    opt = torch.optim.AdamW(
        [
            {"params": [p for p in params if id(p) not in head], "scale": 1.0},
            {"params": list(model.head.parameters()), "scale": args.head_lr_scale},
        ],
        lr=args.lr,
        weight_decay=0.01,
    )
    steps = args.epochs * math.ceil(len(data) / args.batch)
    warm = max(1, steps // 20)
    budget_end = time.monotonic() + args.budget_s if args.budget_s else None

    def lr_at(step: int) -> float:
        """Linear warm-up, then linear decay to 0 at the last step or, with --budget-s, at the
        end of the time budget (whichever the schedule reaches first)."""
        done = (step - warm) / max(1, steps - warm)
        if budget_end is not None:
            spent = 1.0 - (budget_end - time.monotonic()) / args.budget_s
            done = max(done, spent)
        return float(args.lr * min((step + 1) / warm, max(0.0, 1.0 - done)))

    meta: dict[str, Any] = {
        "max_tokens": args.max_tokens,
        "gate": round(gate, 6),
        "cross_k": args.cross_k,
        "calibration": {"thresholds": [1.0], "upper": [0.0]},
    }
    step, total_seen = 0, 0
    for epoch in range(args.epochs):
        if lr_at(step) <= 0.0:
            break  # the time budget is spent
        model.train()
        started, seen, loss_sum = time.monotonic(), 0, 0.0
        for i, (ids, types, mask, y) in enumerate(batches(tok, data, args.batch, rng, 0)):
            lr = lr_at(step)
            if lr <= 0.0:
                break  # the time budget is spent
            for group in opt.param_groups:
                group["lr"] = lr * group["scale"]
            step += 1
            logit = model(torch.from_numpy(ids), torch.from_numpy(types), torch.from_numpy(mask))
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, torch.from_numpy(y))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            seen += len(y)
            total_seen += len(y)
            loss_sum += float(loss.detach()) * len(y)
            if i % 25 == 0:
                rate = seen / (time.monotonic() - started)
                print(
                    f"epoch {epoch} step {i}: loss {loss_sum / seen:.4f}, {rate:.1f} ex/s, "
                    f"lr {lr:.2e}",
                    file=sys.stderr,
                )
    model.eval()
    export(model, args.layers, {**meta, "examples_seen": total_seen, "steps": step}, args.out)
    print(f"trained {step} steps -> {args.out}; choosing the gate on calib", file=sys.stderr)
    return recalibrate(args)


def curve(asked: Sequence[Asked]) -> dict[str, list[float]]:
    thresholds, upper = calibration_curve(asked, points=1000)
    return {"thresholds": thresholds, "upper": upper}


def rewrite_meta(path: Path, **changes: Any) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as f:
        params_np = {k: f[k] for k in f.files if k != "meta"}
        meta: dict[str, Any] = json.loads(str(f["meta"]))
    meta.update(changes)
    meta["trained_on"] = (
        "qqp.dev.jsonl.gz rows with semantic_eval.part_of(id) == 'train'; epoch, gate and "
        "curve chosen/measured on part 'calib' (Wilson 95% upper bound of false per served)"
    )
    np.savez(path, meta=np.array(json.dumps(meta)), **params_np)
    return meta


@dataclass(frozen=True, slots=True)
class Scored:
    """One calib text_b: its cheap-ranked candidates (verifier P(false), pair model P(false),
    right) best first, the pair's label, and the cosine control's answer."""

    rows: list[tuple[float, float, bool]]
    duplicate: bool
    cosine_top: float
    cosine_top_right: bool


def score_calib(
    embedder: Embedder, path: Path, pool: Sequence[Pair], calib: Sequence[Pair], cross_k: int
) -> list[Scored]:
    """Every calib text_b against every tuning text_a, the pair model run on the cheap
    stage's best `cross_k` (no gate: gates are then tried without running it again)."""
    pm = PairModel.load(embedder, path)
    matcher = SemanticMatcher(embedder, Verifier.load(), bound=0.02)
    stored = fill(matcher, (p.text_a for p in pool))
    texts = set(stored.values())
    out: list[Scored] = []
    for pair in calib:
        if pair.text_b in texts:
            continue  # the exact cache's hit
        own = pair.label == 1
        vec = matcher.embed(pair.text_b)
        if vec is None:
            continue
        found = matcher.candidates(TENANT, CONTEXT, vec)
        cheap = retrieved(matcher, pair.text_b)[:cross_k]
        ce = pm.p_false(pair.text_b, [t for t, _ in cheap])
        rows = [
            (p, float(c), own and t == pair.text_a) for (t, p), c in zip(cheap, ce, strict=True)
        ]
        top = max(found, key=lambda f: f[2]) if found else None
        out.append(
            Scored(
                rows,
                own,
                top[2] if top else 0.0,
                bool(top and own and stored[top[0]] == pair.text_a),
            )
        )
    return out


def gated(
    scored: Sequence[Scored], gate: float, cross_k: int, rival: float | None = None
) -> tuple[list[Asked], float]:
    """What the runtime matcher decides with this gate and cross_k, and the share of asks that
    run the pair model. ``rival`` None: the pair model reads the best ``cross_k`` that pass the
    gate (the third pass's rule, PairModel.rule False). A number: the ambiguity rule
    (PairModel.rule): when the best cheap candidate passes the gate, the best ``cross_k`` are
    read whatever their cheap score, and two or more with P(false) <= rival is a miss (several
    stored entries, with distinct answers, ask what the question asks)."""
    asked: list[Asked] = []
    ran = 0
    for s in scored:
        if rival is None:
            inside = [(ce, right) for cheap, ce, right in s.rows[:cross_k] if cheap <= gate]
        else:
            inside = [(ce, right) for _, ce, right in s.rows[:cross_k]]
            if not s.rows or s.rows[0][0] > gate:
                inside = []
        ran += bool(inside)
        p, right = min(inside) if inside else (2.0, False)
        if rival is not None and sum(ce <= rival for ce, _ in inside) >= 2:
            p, right = 2.0, False
        asked.append(Asked(p, 0.0, right, s.duplicate, s.cosine_top_right, s.cosine_top))
    return asked, ran / max(1, len(scored))


RIVALS = (None, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01)


def recalibrate(args: argparse.Namespace) -> int:
    """``--calibrate-only`` (and the end of training): choose cross_k <= --cross-k, the gate and
    the ambiguity rule's rival threshold (or none) on calib (the cheapest choice, fewest asks
    through the pair model, whose recall at the goal's precision is within a point of the
    best) unless --gate is given, and measure the curve for it."""
    train = load_pairs(args.pairs, parts=["train"])
    calib = load_pairs(args.pairs, parts=["calib"], limit=args.calib_limit)
    scored = score_calib(Embedder.load(), args.out, [*train, *calib], calib, args.cross_k)
    cheap_right = sorted(c for s in scored for c, _, right in s.rows if right)
    grid = sorted({float(np.quantile(cheap_right, q)) for q in np.linspace(0.3, 1.0, 15)})
    if args.gate is not None:
        grid = [args.gate]
    table = []
    for k in range(1, args.cross_k + 1):
        for g in grid:
            for rival in RIVALS if k > 1 else (None,):
                asked, ran = gated(scored, g, k, rival)
                table.append((k, g, rival, recall_at_precision(asked, GOAL_PRECISION), ran))
                print(
                    f"k {k} gate {g:.4f} rival {rival}: recall at 98% {table[-1][3]:.4f}, "
                    f"pair model on {ran:.1%}"
                )
    best = max(t[3] for t in table)
    k, gate, rival, recall, ran = min((t for t in table if t[3] >= best - 0.01), key=lambda t: t[4])
    asked, _ = gated(scored, gate, k, rival)
    meta = rewrite_meta(
        args.out,
        gate=round(gate, 6),
        cross_k=k,
        calibration=curve(asked),
        calib_asked=len(scored),
        calib_recall_at_98=round(recall, 4),
        rival=rival,
    )
    print(
        f"chose k {k}, gate {meta['gate']}, rival {rival}: calib recall at 98% {recall:.4f}, "
        f"on {ran:.1%}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
