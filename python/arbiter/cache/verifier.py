"""The semantic cache's hit decision: is a stored question the same question as a new one?

A cosine threshold cannot tell "how do I learn Python" from "how do I learn Python for data
science": the two are close in any embedding. The verifier looks at the pair itself: cosine, word
overlap (weighted by how rare each word is), the words only one side has, numbers, negations,
question words, capitalised names and length, and a logistic model on those features gives
P(false) = the probability that serving the stored answer would be wrong.

The weights and the calibration curve ship in ``verifier_model.json`` (made by
``arbiter.offline.train_cache_verifier`` on a tuning split of QQP pairs; no text of the data
ships). The curve maps an error bound B (the operator's ``cache.max_false_hit_rate``) to the
largest P(false) threshold whose *upper confidence bound* of false hits per hit served stayed
<= B on a held-out calibration part: see ``Calibration.threshold``.

Text is split with plain string operations (no ``re`` on client text).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from arbiter.embedding import DIM

__all__ = ["FEATURES", "Calibration", "Verifier", "features", "words"]

MODEL_PATH: Final = Path(__file__).with_name("verifier_model.json")


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


NEGATIONS: Final = _wordset(
    "not no never nothing nobody none nor neither without cannot cant dont doesnt didnt isnt "
    "arent wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt"
)
QUESTION_WORDS: Final = _wordset(
    "what how why when where who whom whose which is are can could should would will do does "
    "did was were has have"
)
STOPWORDS: Final = _wordset(
    "a an the of to in on for and or is are was were be been am i you he she it we they me "
    "my your his her its our their this that these those do does did can could should would "
    "will what how why when where who which with as at by from about into than then so if "
    "there some any get best way good"
)

FEATURES: Final = (
    "bias",
    "cos",
    "cos_sq",
    "same_words",
    "jaccard",
    "rare_jaccard",
    "cover_min",
    "cover_max",
    "only_q_rare",
    "only_c_rare",
    "only_content_log",
    "bigram_jaccard",
    "numbers_differ",
    "negation_differs",
    "first_word_differs",
    "wh_differs",
    "names_differ",
    "len_ratio",
    "cos_x_jaccard",
    "short",
    "margin",
    "crowd",
)


def words(text: str) -> list[str]:
    """Lower-cased runs of letters and digits; an apostrophe inside a word is dropped
    ("don't" -> "dont"), so negations read alike."""
    out: list[str] = []
    cur: list[str] = []
    for ch in text:
        if ch.isalnum():
            cur.append(ch.lower())
        elif ch in "'’" and cur:
            continue
        elif cur:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return out


def _names(text: str) -> set[str]:
    """Capitalised words past the first of a sentence: a cheap stand-in for named entities."""
    out: set[str] = set()
    start = True
    for token in text.split():
        core = token.strip(".,;:!?\"'()[]")
        if core and core[0].isupper() and not start and core.lower() not in STOPWORDS:
            out.add(core.lower())
        start = token.endswith((".", "?", "!"))
    return out


def _is_number(word: str) -> bool:
    return any(ch.isdigit() for ch in word)


@lru_cache(maxsize=1)
def _rarity_vocab() -> dict[str, float]:
    """How rare a word is, from its WordPiece id (the vocabulary is roughly frequency ordered
    past the first ~2,000 ids): 0 for the most common words, 1 for a word not in it."""
    try:
        from arbiter.embedding import model_dir

        lines = (model_dir() / "vocab.txt").read_text(encoding="utf-8").splitlines()
    except Exception:
        return {}
    top = math.log(len(lines))
    return {
        w: max(0.0, math.log(max(i, 1)) - math.log(2000)) / (top - math.log(2000))
        for i, w in enumerate(lines)
        if not w.startswith(("[", "##"))
    }


def _rarity(word: str) -> float:
    if word in STOPWORDS:
        return 0.05
    r = _rarity_vocab().get(word)
    return 1.0 if r is None else 0.2 + 0.8 * r


def features(
    query: str, candidate: str, cosine: float, others: Sequence[float] = ()
) -> npt.NDArray[np.float64]:
    """One candidate's features; `others`: the cosines of the other nearest entries (a
    candidate with close rivals sits where questions crowd, and crowds hold look-alikes)."""
    wq, wc = words(query), words(candidate)
    sq, sc = set(wq), set(wc)
    union = sq | sc
    inter = sq & sc
    rare = {w: _rarity(w) for w in union}
    rare_union = sum(rare.values()) or 1.0
    only_q, only_c = sq - sc, sc - sq
    bq = set(itertools.pairwise(wq))
    bc = set(itertools.pairwise(wc))
    nq = {w for w in sq if _is_number(w)}
    nc = {w for w in sc if _is_number(w)}
    content_only = [w for w in only_q | only_c if w not in STOPWORDS]
    jaccard = len(inter) / len(union) if union else 1.0
    return np.array(
        [
            1.0,
            cosine,
            cosine * cosine,
            float(wq == wc),
            jaccard,
            sum(rare[w] for w in inter) / rare_union,
            len(inter) / max(1, min(len(sq), len(sc))) if sq and sc else 0.0,
            len(inter) / max(1, max(len(sq), len(sc))),
            sum(rare[w] for w in only_q),
            sum(rare[w] for w in only_c),
            math.log1p(len(content_only)),
            len(bq & bc) / len(bq | bc) if bq | bc else 1.0,
            float(nq != nc),
            float(bool(sq & NEGATIONS) != bool(sc & NEGATIONS)),
            float((wq[:1] or [""])[0] != (wc[:1] or [""])[0]),
            float((sq & QUESTION_WORDS) != (sc & QUESTION_WORDS)),
            float(_names(query) != _names(candidate)),
            min(len(wq), len(wc)) / max(1, len(wq), len(wc)),
            cosine * jaccard,
            float(min(len(wq), len(wc)) <= 3),
            cosine - max(others, default=cosine - 0.2),
            float(sum(1 for o in others if o >= cosine - 0.03)),
        ],
        dtype=np.float64,
    )


@dataclass(frozen=True, slots=True)
class Calibration:
    """Points (p_false threshold, upper confidence bound of false hits per hit served when
    serving every candidate at or below it) from the calibration part, thresholds ascending."""

    thresholds: tuple[float, ...]
    upper: tuple[float, ...]

    def threshold(self, bound: float) -> float:
        """The largest threshold whose upper bound is <= `bound`; -1 (serve nothing) when no
        point is. (Not the first crossing: with few hits served the bound is loose, so the
        strictest thresholds have the widest bounds.)"""
        best = -1.0
        for t, u in zip(self.thresholds, self.upper, strict=True):
            if u <= bound:
                best = t
        return best


class Verifier:
    def __init__(
        self,
        weights: Sequence[float],
        mean: Sequence[float],
        scale: Sequence[float],
        calibration: Calibration,
        *,
        product: bool = False,
    ) -> None:
        self.w = np.asarray(weights, dtype=np.float64)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.calibration = calibration
        # `product`: the element-wise product of the two vectors follows the scalar features
        # (a learned weighting of the embedding's dimensions: which agreements matter)
        self.product = product
        width = len(FEATURES) + (DIM if product else 0)
        if not (len(self.w) == len(self.mean) == len(self.scale) == width):
            raise ValueError("verifier model does not match FEATURES")

    def row(
        self,
        query: str,
        candidate: str,
        cosine: float,
        qv: npt.NDArray[np.float32],
        cv: npt.NDArray[np.float32],
        others: Sequence[float] = (),
    ) -> npt.NDArray[np.float64]:
        """One candidate's feature row, as this model reads it."""
        x = features(query, candidate, cosine, others)
        return np.concatenate([x, qv * cv]) if self.product else x

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> Verifier:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc["features"] != list(FEATURES):
            raise ValueError(f"{path}: trained on other features")
        cal = Calibration(
            tuple(doc["calibration"]["thresholds"]), tuple(doc["calibration"]["upper"])
        )
        return cls(
            doc["weights"], doc["mean"], doc["scale"], cal, product=doc.get("product", False)
        )

    def p_false_of(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """P(false) for rows of raw features."""
        z = ((x - self.mean) / self.scale) @ self.w
        return np.asarray(1.0 / (1.0 + np.exp(np.clip(z, -30, 30))), dtype=np.float64)
