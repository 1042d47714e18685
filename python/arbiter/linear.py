"""Linear-time patterns: the only regex engine that may run on client or upstream text.

Python's ``re`` backtracks: a nested quantifier once took 38 s on a twelve-term sum in an answer
and froze the sidecar's event loop. ``compile`` here builds a pattern on the engine of Rust's
``regex`` crate (``arbiter._native.LinearRegex``: ``regex_automata``'s meta engine), which
matches in time linear in the text whatever the pattern, and refuses what would need
backtracking (lookaround, backreferences). Flags are written inline:
``(?i)``, ``(?m)``, ``(?s)``; ``\\z`` is the end of the text (``re``'s ``\\Z``), and ``$`` without
``(?m)`` is only the very end. The API is a small subset of ``re.Pattern``: offsets are code
points, as in ``re``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any, Final

from arbiter._native import LinearRegex

__all__ = ["Match", "Pattern", "ascii_boundaries", "compile", "compile_ascii_boundaries"]

# What a group that did not take part gives: None, typed as typeshed types re.Match.group
# (``str | Any``) so that callers read groups as they do with ``re``.
_MaybeNone = Any


class Match:
    """One match: ``group``/``start``/``end``/``span`` as on ``re.Match``."""

    __slots__ = ("_at", "_groups", "_offsets", "string")

    def __init__(self, string: str, offsets: list[int], groups: int, at: int = 0) -> None:
        self.string: Final = string
        self._offsets = offsets  # flat (start, end) per group, -1 when it did not take part
        self._groups = groups  # capture groups, group 0 not counted
        self._at = at  # where this match's group 0 starts in `offsets`

    def span(self, index: int = 0) -> tuple[int, int]:
        i = self._at + 2 * index
        return self._offsets[i], self._offsets[i + 1]

    def group(self, index: int = 0) -> str | _MaybeNone:
        start, end = self.span(index)
        return None if start < 0 else self.string[start:end]

    def __getitem__(self, index: int) -> str | _MaybeNone:
        return self.group(index)

    def groups(self) -> tuple[str | _MaybeNone, ...]:
        return tuple(self.group(i) for i in range(1, self._groups + 1))

    def start(self, index: int = 0) -> int:
        return self.span(index)[0]

    def end(self, index: int = 0) -> int:
        return self.span(index)[1]


class Pattern:
    """A compiled linear-time pattern (see the module docstring)."""

    __slots__ = ("__dict__", "_re", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern: Final = pattern
        self._re = LinearRegex(pattern)

    @cached_property
    def _anchored(self) -> LinearRegex:
        return LinearRegex(rf"\A(?:{self.pattern})")

    @property
    def groupindex(self) -> dict[str, int]:
        return self._re.groupindex

    def search(self, text: str, pos: int = 0, endpos: int | None = None) -> Match | None:
        offsets = self._re.search(text, pos, endpos)
        return None if offsets is None else Match(text, offsets, self._re.groups)

    def match(self, text: str) -> Match | None:
        """A match that starts at the beginning of ``text`` (``re.Pattern.match``)."""
        offsets = self._anchored.search(text)
        return None if offsets is None else Match(text, offsets, self._re.groups)

    def is_match(self, text: str) -> bool:
        return self._re.is_match(text)

    def finditer(self, text: str, pos: int = 0, endpos: int | None = None) -> Iterator[Match]:
        offsets = self._re.search_all(text, pos, endpos)
        step = 2 * (self._re.groups + 1)
        groups = self._re.groups
        return (Match(text, offsets, groups, at) for at in range(0, len(offsets), step))

    def findall(self, text: str) -> list[str]:
        """The whole matches, or group 1 of each when the pattern has one group (``re``'s rule;
        patterns with more groups use ``finditer``)."""
        groups = self._re.groups
        if groups > 1:
            raise TypeError("findall on a pattern with several groups: use finditer")
        offsets = self._re.search_all(text)
        starts = offsets[2 * groups :: 2 * (groups + 1)]
        ends = offsets[2 * groups + 1 :: 2 * (groups + 1)]
        return [text[s:e] if s >= 0 else "" for s, e in zip(starts, ends, strict=True)]

    def sub(self, repl: str | Callable[[Match], str], text: str) -> str:
        """``text`` with each match replaced by ``repl`` (a literal, or a function of the match)."""
        parts: list[str] = []
        last = 0
        for m in self.finditer(text):
            parts.append(text[last : m.start()])
            parts.append(repl if isinstance(repl, str) else repl(m))
            last = m.end()
        if not parts:
            return text
        parts.append(text[last:])
        return "".join(parts)

    def __repr__(self) -> str:
        return f"linear.compile({self.pattern!r})"


def compile(pattern: str) -> Pattern:
    """A linear-time pattern; raises ``ValueError`` for syntax that would need backtracking."""
    return Pattern(pattern)


def ascii_boundaries(pattern: str) -> str:
    """``pattern`` with each ``\\b`` (``\\B``) made an ASCII one (``(?-u:\\b)``); an escaped
    backslash (``\\\\boxed``) is left alone. A Unicode ``\\b`` keeps the regex engine's DFA off
    non-ASCII text, and its fallback costs 0.2-5 ms per KB of CJK (bench/regex_cost.py); an
    ASCII one stays in the DFA. Only the same where the words beside the boundary are ASCII:
    next to a non-ASCII letter an ASCII boundary splits ("用python写" holds the word python)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            out.append(f"(?-u:{pair})" if pair in (r"\b", r"\B") else pair)
            i += 2
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


def compile_ascii_boundaries(pattern: str) -> Pattern:
    """``compile`` after ``ascii_boundaries``: for patterns whose words are all ASCII."""
    return Pattern(ascii_boundaries(pattern))
