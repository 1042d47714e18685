"""Extra training examples for the cache's pair model, built inside the train part only.

- transitive duplicates: questions joined by a chain of labelled duplicates ask the same thing
  (QQP's labels are transitive within a component), so unlabelled pairs inside a train
  component are positives. The run-time rule "two or more entries match -> miss" needs a model
  that recognises each competing stored entry of such a chain as the same question.
- hard negatives: each text_b's nearest train texts by the static embedding (what the request
  path retrieves) that are NOT in its component: the look-alikes the cache must refuse. Some
  are unlabelled duplicates; serving one is still scored false by the data's rule.

Only texts of the pairs given (the train part) are read: calib and holdout stay unseen.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from arbiter.embedding import Embedder
from arbiter.offline.semantic_ceiling import Components
from arbiter.offline.semantic_eval import Pair


def transitive_positives(
    pairs: Sequence[Pair], per_component: int, rng: random.Random
) -> list[tuple[str, str]]:
    """Up to `per_component` x (size - 1) unlabelled (a, b) pairs inside each duplicate
    component."""
    comp = Components(pairs)
    labelled = {frozenset((p.text_a, p.text_b)) for p in pairs}
    members: dict[str, set[str]] = defaultdict(set)
    for p in pairs:
        if p.label == 1:
            members[comp.find(p.text_a)].update((p.text_a, p.text_b))
    out: list[tuple[str, str]] = []
    for texts in members.values():
        if len(texts) < 3:
            continue
        ordered = sorted(texts)
        candidates = [
            (a, b)
            for i, a in enumerate(ordered)
            for b in ordered[i + 1 :]
            if frozenset((a, b)) not in labelled
        ]
        rng.shuffle(candidates)
        out.extend(candidates[: per_component * (len(texts) - 1)])
    return out


def hard_negatives(
    embedder: Embedder, pairs: Sequence[Pair], per_ask: int
) -> list[tuple[str, str]]:
    """(text_b, a near train text outside text_b's component and not its own text_a)."""
    comp = Components(pairs)
    pool = sorted({t for p in pairs for t in (p.text_a, p.text_b)})
    mat = np.stack([embedder.embed(t) for t in pool]).astype(np.float32)
    index = {t: i for i, t in enumerate(pool)}
    asks = sorted({p.text_b for p in pairs})
    own: dict[str, set[str]] = defaultdict(set)
    for p in pairs:
        own[p.text_b].add(p.text_a)
    out: list[tuple[str, str]] = []
    for lo in range(0, len(asks), 512):
        chunk = asks[lo : lo + 512]
        sims = mat[[index[t] for t in chunk]] @ mat.T
        near = min(11, len(pool) - 1)  # the nearest 12: the ask itself, its chain, then others
        top = np.argpartition(-sims, near, axis=1)[:, : near + 1]
        for r, text in enumerate(chunk):
            root = comp.find(text)
            taken = 0
            for j in top[r][np.argsort(-sims[r, top[r]])]:
                cand = pool[int(j)]
                if cand == text or cand in own[text] or comp.find(cand) == root:
                    continue
                out.append((text, cand))
                taken += 1
                if taken >= per_ask:
                    break
    return out
