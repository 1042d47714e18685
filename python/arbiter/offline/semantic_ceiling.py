"""What the semantic cache's most confident false hits are, on the calib part of question pairs
(``semantic_eval.part_of``: never the holdout), with the exact MiniLM vectors and with the
static table the request path uses.

    python -m arbiter.offline.semantic_ceiling --pairs ../shared/data/cache/qqp.dev.jsonl.gz \
        [--vectors /tmp/exact.npz]

Fill with every train and calib text_a (as the calibration curves are measured), ask each calib
text_b not answered by the exact cache, rank the asks by the cosine of their nearest entry, and
sort the N most confident hits into:

- ``true``: the pair's own text_a, label 1;
- ``own_label0``: the pair's own text_a, label 0 (a look-alike: the pair model's job);
- ``other_linked``: another entry in the ask's component of labelled duplicates (train and
  calib pairs, transitively): an answer a person would likely accept, scored false by the
  data's rule because it is not the pair's own;
- ``other_same_words``: another entry with the ask's words (case and punctuation aside);
- ``other``: any other entry.

The ambiguity rule (miss when the second-nearest entry is within ``d`` of the nearest: several
entries with distinct answers compete for the ask) is scored at each ``d`` by its frontier:
recall on duplicates at <= 20 false per 1,000 served, and false per 1,000 served at recall 25%.
The exact vectors take ~8 ms a text (~15 min for the ~36k texts here on a busy 2-core box):
``--vectors`` keeps them (``texts``, ``E``) for the next run. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from arbiter.cache.verifier import words
from arbiter.embedding import Embedder
from arbiter.offline.semantic_eval import Pair, load_pairs

TOPS = (50, 100, 300, 1000)
MARGINS = (0.0, 0.02, 0.05, 0.1)


class Components:
    """Union-find over labelled duplicate pairs."""

    def __init__(self, pairs: Sequence[Pair]) -> None:
        self.parent: dict[str, str] = {}
        for p in pairs:
            if p.label == 1:
                self.parent[self.find(p.text_a)] = self.find(p.text_b)

    def find(self, x: str) -> str:
        while self.parent.setdefault(x, x) != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x


def exact_vectors(texts: Sequence[str], cache: Path | None) -> npt.NDArray[np.float32]:
    known: dict[str, npt.NDArray[np.float32]] = {}
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=True) as f:
            known = dict(zip(f["texts"].tolist(), f["E"], strict=True))
    todo = sorted((t for t in texts if t not in known), key=len)
    if todo:
        print(f"encoding {len(todo)} texts with the exact transformer", file=sys.stderr)
        emb = Embedder.load()
        for lo in range(0, len(todo), 64):
            chunk = todo[lo : lo + 64]
            known.update(zip(chunk, emb.encode_batch(chunk), strict=True))
        if cache is not None:
            keys = sorted(known)
            np.savez(
                cache, texts=np.array(keys, dtype=object), E=np.stack([known[k] for k in keys])
            )
    return np.stack([known[t] for t in texts]).astype(np.float32)


def kinds(
    asks: Sequence[Pair], pool: Sequence[str], nearest: npt.NDArray[np.int64], comp: Components
) -> list[str]:
    out = []
    for k, p in enumerate(asks):
        served = pool[int(nearest[k])]
        if served == p.text_a:
            out.append("true" if p.label == 1 else "own_label0")
        elif comp.find(served) == comp.find(p.text_b):
            out.append("other_linked")
        elif words(served) == words(p.text_b):
            out.append("other_same_words")
        else:
            out.append("other")
    return out


def frontier(score: npt.NDArray[np.float64], right: Sequence[bool], dups: int) -> dict[str, Any]:
    """Serving the asks in descending score: recall at <= 20 false per 1,000 served, and false
    per 1,000 served when recall first reaches 25%."""
    true, best, at25 = 0, 0, None
    for n, i in enumerate(np.argsort(-score, kind="stable"), 1):
        true += bool(right[i])
        if n - true <= 0.02 * n:
            best = true
        if at25 is None and true >= 0.25 * dups:
            at25 = round(1000.0 * (n - true) / n, 1)
    return {"recall_at_20_per_1000": round(best / max(1, dups), 4), "false_per_1000_at_25": at25}


def analyse(
    name: str,
    vec: dict[str, npt.NDArray[np.float32]],
    pool: Sequence[str],
    asks: Sequence[Pair],
    comp: Components,
) -> dict[str, Any]:
    p_mat = np.stack([vec[t] for t in pool])
    q_mat = np.stack([vec[p.text_b] for p in asks])
    sims = q_mat @ p_mat.T
    top2 = np.argsort(-sims, axis=1)[:, :2]
    rows = np.arange(len(asks))
    s1 = sims[rows, top2[:, 0]].astype(np.float64)
    s2 = sims[rows, top2[:, 1]].astype(np.float64)
    kind = kinds(asks, pool, top2[:, 0], comp)
    right = [k == "true" for k in kind]
    dups = sum(p.label == 1 for p in asks)
    order = np.argsort(-s1, kind="stable")
    out: dict[str, Any] = {"most_confident": {}, "ambiguity_rule": {}}
    for n in TOPS:
        c = Counter(kind[i] for i in order[:n])
        out["most_confident"][str(n)] = {"min_cosine": round(float(s1[order[n - 1]]), 4), **c}
    for d in MARGINS:
        kept = s2 < s1 - d
        score = np.where(kept, s1, -np.inf)
        served_right = [r and bool(k) for r, k in zip(right, kept, strict=True)]
        out["ambiguity_rule"][str(d)] = {
            "kept": int(kept.sum()),
            **frontier(score, served_right, dups),
        }
    print(f"== {name}: {json.dumps(out)}", file=sys.stderr)
    return out


def calib_cache(path: Path) -> tuple[list[str], list[Pair], Components]:
    """The calib cache: every train and calib text_a stored (sorted), the calib asks the exact
    cache does not answer, and the components of labelled duplicates over both parts."""
    train = load_pairs(path, parts=["train"])
    calib = load_pairs(path, parts=["calib"])
    pool = sorted({p.text_a for p in [*train, *calib]})
    stored = set(pool)
    asks = [p for p in calib if p.text_b not in stored]  # the rest: the exact cache's hits
    return pool, asks, Components([*train, *calib])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--vectors", type=Path, default=None, help="a cache of exact vectors")
    args = ap.parse_args(argv)
    pool, asks, comp = calib_cache(args.pairs)
    texts = sorted(set(pool) | {p.text_b for p in asks})
    exact = dict(zip(texts, exact_vectors(texts, args.vectors), strict=True))
    emb = Embedder.load()
    static = {t: emb.embed(t) for t in texts}
    dups = sum(p.label == 1 for p in asks)
    crowded = Counter(comp.find(t) for t in pool)
    result = {
        "part": "calib",
        "entries": len(pool),
        "asked": len(asks),
        "duplicates": dups,
        "duplicates_with_2_or_more_stored_in_their_component": sum(
            1 for p in asks if p.label == 1 and crowded[comp.find(p.text_b)] >= 2
        ),
        "exact": analyse("exact transformer", exact, pool, asks, comp),
        "static": analyse("static table", static, pool, asks, comp),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
