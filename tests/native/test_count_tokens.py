"""arbiter._native.count_tokens: OpenAI's BPE counts (o200k_base, cl100k_base) from Rust."""

from __future__ import annotations

import pytest

from arbiter import _native
from arbiter.types import count_tokens, estimate_tokens


def test_counts_match_tiktoken_on_known_strings() -> None:
    assert _native.count_tokens(["hello world"]) == 2
    assert _native.count_tokens(["hello world"], "cl100k_base") == 2
    assert _native.count_tokens([]) == 0
    assert _native.count_tokens(["hello world", "hello world"]) == 4


def test_an_unknown_encoding_is_refused() -> None:
    with pytest.raises(_native.NativeError, match="encoding"):
        _native.count_tokens(["x"], "p50k_base")


def test_cjk_costs_far_more_than_chars_over_four() -> None:
    text = "東京は日本の首都であり、世界最大級の都市圏を持つ。" * 40
    assert count_tokens([text]) > 2 * estimate_tokens(text)


def test_a_lone_surrogate_falls_back_to_bytes() -> None:
    assert count_tokens(["a\ud800b"]) == len("a\ud800b".encode("utf-8", "surrogatepass"))
