"""Offline scoring of the semantic cache on question pairs (the format of
shared/data/cache/qqp.dev.jsonl.gz: id, text_a, text_b, label), straight on the matcher.

Scoring as the data's README says: fill with every text_a, ask every text_b; a hit is true when
it serves the pair's own text_a (by text: identical questions are one entry) and the label is 1;
any other hit is false. A text_b identical to a stored text (another pair's text_a: Quora's
questions recur across pairs) is the exact cache's hit, right by construction: those are
counted apart (``exact``) and left out of the semantic scores.

The split is fixed by a hash of the pair id (``part_of``): 35% ``train`` (the verifier's
weights), 15% ``calib`` (its calibration curve), 50% ``holdout`` (reported, never tuned on).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from arbiter.cache.semantic import SemanticMatcher

Part = Literal["train", "calib", "holdout"]
TENANT, CONTEXT = "eval", "ctx"


@dataclass(frozen=True, slots=True)
class Pair:
    id: str
    text_a: str
    text_b: str
    label: int


def part_of(pair_id: str) -> Part:
    bucket = int(hashlib.sha256(pair_id.encode()).hexdigest()[:8], 16) % 100
    return "train" if bucket < 35 else "calib" if bucket < 50 else "holdout"


def load_pairs(
    path: Path, *, parts: Iterable[Part] | None = None, limit: int | None = None
) -> list[Pair]:
    wanted = set(parts) if parts is not None else None
    out: list[Pair] = []
    with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open() as f:
        for line in f:
            row = json.loads(line)
            pair = Pair(str(row["id"]), row["text_a"], row["text_b"], int(row["label"]))
            if wanted is None or part_of(pair.id) in wanted:
                out.append(pair)
                if limit is not None and len(out) >= limit:
                    break
    return out


def entry_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def fill(matcher: SemanticMatcher, texts: Iterable[str]) -> dict[str, str]:
    """Add each distinct text as one entry; entry id -> text."""
    ids: dict[str, str] = {}
    for text in texts:
        eid = entry_id(text)
        if eid in ids:
            continue
        vec = matcher.embed(text)
        if vec is None:
            continue
        matcher.add(TENANT, CONTEXT, eid, vec, text=text)
        ids[eid] = text
    return ids


@dataclass(frozen=True, slots=True)
class Asked:
    """One text_b's best candidate: its P(false), cosine, and whether serving it is right."""

    p_false: float  # 2.0: no candidate at all
    cosine: float
    right: bool
    duplicate: bool  # the pair's label
    cosine_top_right: bool  # the control: is the nearest by cosine the right answer?
    cosine_top: float


def ask(
    matcher: SemanticMatcher,
    pairs: Sequence[Pair],
    stored: dict[str, str],
    *,
    tenant: str = TENANT,
    context: str = CONTEXT,
) -> tuple[list[Asked], int]:
    """The semantic side's answer to each text_b (`stored`: entry id -> text), and how many
    the exact cache answered."""
    out: list[Asked] = []
    exact = 0
    texts = set(stored.values())
    for pair in pairs:
        own = pair.label == 1
        if pair.text_b in texts:  # the exact cache answers first
            exact += 1
            continue
        vec = matcher.embed(pair.text_b)
        if vec is None:
            continue
        found = matcher.candidates(tenant, context, vec)
        best = matcher.best(tenant, context, pair.text_b, vec)
        if best is None or not found:
            out.append(Asked(2.0, 0.0, False, own, False, 0.0))
            continue
        top_id, _, top_cos, _ = max(found, key=lambda f: f[2])
        out.append(
            Asked(
                best.p_false,
                best.similarity,
                own and stored[best.entry_id] == pair.text_a,
                own,
                own and stored[top_id] == pair.text_a,
                top_cos,
            )
        )
    return out, exact


@dataclass(frozen=True, slots=True)
class Score:
    asked: int
    duplicates: int
    served: int
    false: int
    true: int

    @property
    def recall(self) -> float:
        return self.true / self.duplicates if self.duplicates else 0.0

    @property
    def false_per_1000_served(self) -> float:
        return 1000.0 * self.false / self.served if self.served else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "asked": self.asked,
            "served": self.served,
            "true": self.true,
            "false": self.false,
            "recall": round(self.recall, 4),
            "served_per_1000": round(1000.0 * self.served / max(1, self.asked), 1),
            "false_per_1000_served": round(self.false_per_1000_served, 1),
            "false_per_1000_asked": round(1000.0 * self.false / max(1, self.asked), 2),
        }


def score_threshold(asked: Sequence[Asked], threshold: float) -> Score:
    served = [a for a in asked if a.p_false <= threshold]
    true = sum(a.right for a in served)
    return Score(len(asked), sum(a.duplicate for a in asked), len(served), len(served) - true, true)


def score_cosine(asked: Sequence[Asked], tau: float) -> Score:
    """The control: a static-threshold cache serving the nearest entry when cosine >= tau."""
    served = [a for a in asked if a.cosine_top >= tau]
    true = sum(a.cosine_top_right for a in served)
    return Score(len(asked), sum(a.duplicate for a in asked), len(served), len(served) - true, true)


def wilson_upper(false: int, served: int, z: float = 1.645) -> float:
    """One-sided 95% upper bound of a binomial rate (Wilson score)."""
    if served == 0:
        return 1.0
    p = false / served
    denom = 1.0 + z * z / served
    centre = p + z * z / (2 * served)
    spread = z * math.sqrt(p * (1 - p) / served + z * z / (4 * served * served))
    return (centre + spread) / denom


def calibration_curve(asked: Sequence[Asked], points: int = 400) -> tuple[list[float], list[float]]:
    """(thresholds ascending, Wilson upper bound of false per served at each)."""
    ranked = sorted((a.p_false, a.right) for a in asked)
    false = 0
    ts: list[float] = []
    ub: list[float] = []
    step = max(1, len(ranked) // points)
    for i, (p, right) in enumerate(ranked):
        served = i + 1
        false += not right
        last_of_tie = i + 1 == len(ranked) or ranked[i + 1][0] != p
        if last_of_tie and (i % step == 0 or served < 200):
            ts.append(round(p, 6))
            ub.append(round(wilson_upper(false, served), 6))
        if p >= 0.9:
            break
    return ts, ub


def as_array(asked: Sequence[Asked]) -> np.ndarray:
    return np.array([[a.p_false, a.right, a.duplicate] for a in asked], dtype=np.float64)
