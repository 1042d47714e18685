"""The semantic cache's second stage: the exact MiniLM sentence vectors of the question and of
the candidates the cheap stage gates in.

The request path embeds with the static token table (tens of microseconds), whose cosine barely
separates Quora's look-alike questions (bench/results/semantic_cache.md: a static cosine of 0.99
is still ~50% false). all-MiniLM-L6-v2 itself was trained on duplicate-question pairs among
others, and its exact vectors separate them far better; they cost milliseconds, so only asks
whose best cheap candidate passes the gate pay for them. A logistic model on the exact cosine,
the cheap stage's logit and the margin to the other candidates read (several stored questions
nearly as close to the ask means the ask is ambiguous among entries with distinct answers) gives
P(false); its calibration curve maps the operator's bound to a threshold, as the verifier's does.

The weights, gate and curve ship in ``exact_stage.json`` (made by
``arbiter.offline.train_cache_exact_stage`` on the tuning split of QQP pairs; no text ships).
A stored question's exact vector is computed on its first read and kept in a bounded LRU.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from arbiter.cache.verifier import Calibration
from arbiter.embedding import Embedder

__all__ = ["EXACT_FEATURES", "EXACT_STAGE_PATH", "ExactStage", "exact_features"]

EXACT_STAGE_PATH: Final = Path(__file__).with_name("exact_stage.json")
EXACT_FEATURES: Final = ("bias", "cheap_logit", "cos", "cos_sq", "margin", "crowd")
LRU_ENTRIES: Final = 32_768  # stored questions' exact vectors kept (float16: ~25 MB)
NO_RIVAL_MARGIN: Final = 0.3  # the margin of a candidate read alone


def exact_features(cheap_p: Sequence[float], cosines: Sequence[float]) -> npt.NDArray[np.float64]:
    """One row per candidate read: its cheap P(false) as a logit, its exact cosine to the ask,
    and its margin over the best other candidate read (and how many sit within 0.03)."""
    rows = []
    for j, (p, c) in enumerate(zip(cheap_p, cosines, strict=True)):
        others = [o for i, o in enumerate(cosines) if i != j]
        margin = c - max(others) if others else NO_RIVAL_MARGIN
        p = min(max(p, 1e-6), 1 - 1e-6)
        crowd = float(sum(1 for o in others if o >= c - 0.03))
        rows.append([1.0, math.log(p / (1 - p)), c, c * c, margin, crowd])
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(EXACT_FEATURES))


class ExactStage:
    """Thread-safe: the weights are read-only; the LRU is guarded by a lock."""

    def __init__(self, embedder: Embedder, doc: dict[str, Any]) -> None:
        if doc["features"] != list(EXACT_FEATURES):
            raise ValueError("exact stage model does not match EXACT_FEATURES")
        self.embedder = embedder
        self.w = np.asarray(doc["weights"], dtype=np.float64)
        self.mean = np.asarray(doc["mean"], dtype=np.float64)
        self.scale = np.asarray(doc["scale"], dtype=np.float64)
        if not (len(self.w) == len(self.mean) == len(self.scale) == len(EXACT_FEATURES)):
            raise ValueError("exact stage model does not match EXACT_FEATURES")
        # the cheap stage's gate: only candidates whose verifier P(false) is at most this, the
        # best `read_k` of them, are read; an ask with none is a miss at the cheap stage's cost
        self.gate = float(doc["gate"])
        self.read_k = int(doc["read_k"])
        cal = doc["calibration"]
        self.calibration = Calibration(tuple(cal["thresholds"]), tuple(cal["upper"]))
        self._lru: OrderedDict[str, npt.NDArray[np.float16]] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, embedder: Embedder, path: Path = EXACT_STAGE_PATH) -> ExactStage:
        from arbiter.cache.pair_model import one_blas_thread

        one_blas_thread()
        return cls(embedder, json.loads(path.read_text(encoding="utf-8")))

    def vectors(self, query: str, stored: Sequence[str]) -> npt.NDArray[np.float32]:
        """Exact vectors of the query (row 0) and each stored text, one batch for the ones
        not yet in the LRU."""
        with self._lock:
            known = {t: self._lru[t] for t in stored if t in self._lru}
            for t in known:
                self._lru.move_to_end(t)
        todo = [query, *dict.fromkeys(t for t in stored if t not in known)]
        fresh = self.embedder.encode_batch(todo)
        by_text = {t: fresh[i + 1] for i, t in enumerate(todo[1:])}
        with self._lock:
            for t, v in by_text.items():
                self._lru[t] = v.astype(np.float16)
            while len(self._lru) > LRU_ENTRIES:
                self._lru.popitem(last=False)
        rows = [fresh[0], *(by_text[t] if t in by_text else known[t] for t in stored)]
        return np.asarray(np.stack(rows), dtype=np.float32)

    def p_false(
        self, query: str, stored: Sequence[str], cheap: Sequence[float]
    ) -> npt.NDArray[np.float64]:
        """P(false) of each stored candidate (all of them are read: the caller gates)."""
        if not stored:
            return np.zeros(0, dtype=np.float64)
        v = self.vectors(query, stored)
        cosines = (v[1:] @ v[0]).astype(np.float64).tolist()
        x = exact_features(cheap, cosines)
        z = ((x - self.mean) / self.scale) @ self.w
        return np.asarray(1.0 / (1.0 + np.exp(np.clip(z, -30, 30))), dtype=np.float64)
