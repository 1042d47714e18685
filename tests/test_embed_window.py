"""The static embedding reads a bounded prefix of a long prompt, with the same result.

`Embedder.embed` keeps a text's first MAX_TOKENS WordPieces; tokenizing a 1 MB prompt whole to
keep them held the event loop for seconds (bench/loop_time_by_prompt_size.py)."""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import pytest

from arbiter.embedding import MAX_TOKENS, WINDOW_MAX_CHARS, Embedder
from tests.test_difficulty_embed import embedder


class _Spy:
    """A tokenizer stand-in that records the length of every text it is asked to encode."""

    def __init__(self, inner: Any, seen: list[int]) -> None:
        self.inner, self.seen = inner, seen

    def encode(self, text: str, *args: Any, **kw: Any) -> Any:
        self.seen.append(len(text))
        return self.inner.encode(text, *args, **kw)


def _spied(emb: Embedder, seen: list[int]) -> Embedder:
    spy = Embedder.__new__(Embedder)
    spy.__dict__.update(emb.__dict__)
    spy._tok = _Spy(emb._tok, seen)  # type: ignore[assignment]
    spy._whole = _Spy(emb._whole, seen)  # type: ignore[assignment]
    return spy


def _whole_text_ids(emb: Embedder, text: str) -> list[int]:
    """What embed read before: the whole text tokenized, truncated to MAX_TOKENS."""
    return list(emb._tok.encode(text, add_special_tokens=False).ids)


def _texts(n: int) -> dict[str, str]:
    rng = random.Random(n)
    words = [
        "the",
        "quick",
        "brown",
        "fox,",
        "jumps",
        "over:",
        "a",
        "lazy-dog",
        "café",
        "naïve",
        "ΑΣ'Β",
        "straße!",
    ]
    return {
        "english": " ".join(rng.choice(words) for _ in range(n // 5)),
        "code": "def f(x):\n    return [i * x for i in range(10) if i % 2]\n" * (n // 55 + 1),
        "json": json.dumps([{"id": i, "name": f"item{i}", "t": ["a"]} for i in range(n // 30)]),
        "cjk": "路由模型的成本与质量之间需要权衡。" * (n // 17 + 1),
        "long words": " ".join("x" * rng.randint(1, 300) for _ in range(n // 150 + 1)),
    }


def test_embedding_a_1mb_prompt_tokenizes_a_bounded_prefix() -> None:
    emb = embedder()
    for kind, text in _texts(1_000_000).items():
        seen: list[int] = []
        _spied(emb, seen).embed(text)
        # the tokenizer saw all 1 MB before; now never more than the window's cap
        assert max(seen) <= WINDOW_MAX_CHARS, (kind, seen)


@pytest.mark.parametrize("size", [300, 5_000, 60_000])
def test_the_prefix_gives_the_whole_texts_embedding(size: int) -> None:
    emb = embedder()
    for kind, text in _texts(size).items():
        seen: list[int] = []
        got = _spied(emb, seen).embed(text)
        assert max(seen) <= min(len(text), WINDOW_MAX_CHARS), (kind, seen)
        # the same window, so the same vector, as the whole text gave
        assert emb.window_ids(text) == _whole_text_ids(emb, text), kind
        table = emb.table()
        ids = _whole_text_ids(emb, text)
        want = table[np.asarray(ids, dtype=np.int64)].sum(axis=0)
        want /= np.linalg.norm(want)
        assert np.allclose(got, want, atol=1e-6), kind


def test_a_random_cut_never_changes_the_window() -> None:
    """Text of every kind, cut anywhere: the window equals the whole text's."""
    emb = embedder()
    rng = random.Random(7)
    pieces = ["路由", " word", "\u0301", "x" * 120, "\t", "ﬁ", "İ", "ß", "😀", "...", " ", "a.b"]
    for _ in range(200):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(10, 4000)))
        assert emb.window_ids(text) == _whole_text_ids(emb, text)
    assert len(_whole_text_ids(emb, "word " * 1000)) == MAX_TOKENS
