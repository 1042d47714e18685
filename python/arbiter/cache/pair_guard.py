"""Hard rules the semantic cache's learned stages may not overrule: two prompts whose numbers
differ are different questions ("Give me 3 tips" is not "Give me 5 tips", "what is 2+2" is not
"what is 2+3"), whatever their cosine and however alike their words.

The learned stages see numbers only as one feature among many, trained on Quora pairs where a
number rarely decides; at the looser bounds an operator may set (`max_false_hit_rate` 0.3) the
exact stage served "Give me three tips for sleeping better" the stored answer to "five tips".
A number is a word holding a digit or a cardinal number word; each prompt's numbers are compared
as a multiset, so "2+2" and "2+2+2" differ too. "one" is left out (it is a pronoun as often as a
number: "which one is better"). Plain string operations only (no `re` on client text).
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from arbiter.cache.verifier import words


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


NUMBER_WORDS: Final = _wordset(
    "zero two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million billion trillion dozen half"
)


def numbers(text: str) -> Counter[str]:
    """The prompt's numbers, as a multiset of words."""
    return Counter(w for w in words(text) if w in NUMBER_WORDS or any(c.isdigit() for c in w))


def numbers_differ(ask: str, stored: str) -> bool:
    """True when serving `stored`'s answer to `ask` would answer other numbers."""
    return numbers(ask) != numbers(stored)
