"""arbiter.linear: the linear-time pattern wrapper behaves as ``re`` does where both apply."""

from __future__ import annotations

import random
import re

import pytest

from arbiter import linear
from arbiter._native import NativeError

# Patterns without lookaround or backreferences, in both syntaxes: (re pattern, flags, linear).
_PAIRS = [
    (r"\d+(?:[.,]\d+)*", 0, r"\d+(?:[.,]\d+)*"),
    (r"(\w+)@(\w+)", 0, r"(\w+)@(\w+)"),
    (r"^\s*(\d+)\s*$", re.M, r"(?m)^\s*(\d+)\s*$"),
    (r"```(\w*)\n(.*?)(?:```|\Z)", re.S, r"(?s)```(\w*)\n(.*?)(?:```|\z)"),
    (r"\bab?c*\b", re.I, r"(?i)\bab?c*\b"),
    (r"x*", 0, r"x*"),
]
_ALPHABET = ["a", "b", "c", "x", "1", "2", ".", ",", " ", "\n", "@", "`", "é", "数", "```", "ABC"]


@pytest.mark.parametrize(("re_pattern", "flags", "pattern"), _PAIRS)
def test_finditer_search_match_and_sub_agree_with_re(
    re_pattern: str, flags: int, pattern: str
) -> None:
    ours, theirs = linear.compile(pattern), re.compile(re_pattern, flags)
    rng = random.Random(7)
    for _ in range(400):
        text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 12)))
        expected = [(m.span(), m.groups()) for m in theirs.finditer(text)]
        assert [(m.span(), m.groups()) for m in ours.finditer(text)] == expected, text
        pos, endpos = rng.randint(0, len(text)), rng.randint(0, len(text))
        found, want = ours.search(text, pos, endpos), theirs.search(text, pos, endpos)
        assert (found and found.span()) == (want and want.span()), (text, pos, endpos)
        first, want_first = ours.match(text), theirs.match(text)
        assert (first and first.span()) == (want_first and want_first.span()), text
        assert ours.sub("<>", text) == theirs.sub("<>", text), text
        if theirs.groups <= 1:
            assert ours.findall(text) == theirs.findall(text), text


def test_groups_that_did_not_take_part_are_none() -> None:
    m = linear.compile(r"(a)|(?P<b>b)").search("b")
    assert m is not None
    assert m.group(1) is None and m.group(2) == "b" and m.span(1) == (-1, -1)
    assert linear.compile(r"(a)|(?P<b>b)").groupindex == {"b": 2}


def test_sub_with_a_function_sees_each_match() -> None:
    assert linear.compile(r"\d").sub(lambda m: str(int(m.group(0)) + 1), "a1b2é9") == "a2b3é10"


@pytest.mark.parametrize("pattern", [r"(?<=\d)x", r"x(?!y)", r"(a)\1", r"(?P<n>a)(?P=n)", r"("])
def test_what_needs_backtracking_does_not_compile(pattern: str) -> None:
    with pytest.raises(NativeError):
        linear.compile(pattern)


def test_long_texts_release_the_gil_and_keep_code_point_offsets() -> None:
    text = "é" * 10_000 + "abc" + "数" * 10_000
    m = linear.compile(r"abc").search(text)
    assert m is not None and m.span() == (10_000, 10_003)
