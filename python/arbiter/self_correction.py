"""An answer that corrects itself ("42... no wait, 41"): the last stated answer wins.

A reader takes what follows the correction; a grader that read the answer stated before it
graded what the answer withdrew ("The answer is 42. No wait, it's 41." graded as 42). Only
explicit corrections count: "actually" alone, "sorry" or "I mean" also open explanations
("Paris. Sorry for the delay."), so they are left out. Linear-time pattern (arbiter.linear):
answers are upstream text.
"""

from __future__ import annotations

from typing import Final

from arbiter import linear

__all__ = ["after_correction"]

_SCAN_CHARS: Final = 4000  # a correction is read in the answer's last characters
_CORRECTION = linear.compile_ascii_boundaries(
    r"(?i)\b(?:no,?\s+wait|wait,?\s+no|correction|scratch\s+that|make\s+that|i\s+was\s+wrong|"
    r"on\s+second\s+thought|let\s+me\s+correct(?:\s+that)?|"
    r"actually,?\s+(?:it'?s|it\s+is|that'?s|that\s+is|the\s+answer\s+is))\b"
)
_LEADING_MARKS: Final = " \t\r\n.,;:!-–—…*()"


def after_correction(text: str) -> tuple[int, str] | None:
    """Where the answer's last self-correction starts and the text after it, or None when
    the answer corrects nothing (or nothing follows the correction)."""
    start = max(0, len(text) - _SCAN_CHARS)
    last = None
    for m in _CORRECTION.finditer(text, start):
        last = m
    if last is None:
        return None
    rest = text[last.end() :].lstrip(_LEADING_MARKS)
    return (last.start(), rest) if rest.strip() else None
