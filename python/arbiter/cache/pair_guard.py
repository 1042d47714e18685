"""Hard rules the semantic cache's learned stages may not overrule: two prompts that differ in
one of these ways are different questions, whatever their cosine and however alike their words.

- numbers: "Give me 3 tips" is not "Give me 5 tips", "what is 2+2" is not "what is 2+3". The
  learned stages see numbers only as one feature among many, trained on Quora pairs where a
  number rarely decides; at the looser bounds an operator may set (`max_false_hit_rate` 0.3) the
  exact stage served "Give me three tips for sleeping better" the stored answer to "five tips".
  A number is a word holding a digit or a cardinal number word; each prompt's numbers are
  compared as a multiset, so "2+2" and "2+2+2" differ too. "one" is left out (it is a pronoun as
  often as a number: "which one is better").
- negation: "Is ibuprofen safe during pregnancy?" is not "Is ibuprofen not safe ...?", "Can dogs
  eat grapes?" is not "Can't dogs eat grapes?"; nor is a JSON `true` a `false`. At bound 0.3 the
  exact stage served each of those the other's answer (bench/semantic_guard_rules.py): a
  negation is one word of ten, and Quora's pairs rarely turn on one. Two prompts with another
  count of negation words (the verifier's NEGATIONS, "don't" read as "dont"; which word does
  not matter: "can't" is "not able") or of the literals true / false differ.
- order: the same words in another order ask another thing ("Convert 5 miles to kilometers" /
  "Convert 5 kilometers to miles", "100 Fahrenheit in Celsius" / "100 Celsius in Fahrenheit",
  "USD to EUR" / "EUR to USD": all served at 0.3). A paraphrase changes words; a pure reordering
  swaps roles. Punctuation and case are not words, so they never make an order.

Plain string operations only (no `re` on client text).
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from arbiter.cache.verifier import NEGATIONS, words


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


NUMBER_WORDS: Final = _wordset(
    "zero two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million billion trillion dozen half"
)
RULES: Final = ("numbers", "negation", "order")


def numbers(text: str) -> Counter[str]:
    """The prompt's numbers, as a multiset of words."""
    return _numbers(words(text))


def _numbers(ws: list[str]) -> Counter[str]:
    return Counter(w for w in ws if w in NUMBER_WORDS or any(c.isdigit() for c in w))


def numbers_differ(ask: str, stored: str) -> bool:
    """True when serving `stored`'s answer to `ask` would answer other numbers."""
    return numbers(ask) != numbers(stored)


def _polarity(ws: list[str]) -> tuple[int, int, int]:
    """How many negations (whichever word: "can't" and "not able" both negate once), trues and
    falses."""
    return (
        sum(w in NEGATIONS for w in ws),
        sum(w == "true" for w in ws),
        sum(w == "false" for w in ws),
    )


def differ(ask: str, stored: str, rules: tuple[str, ...] = RULES) -> str | None:
    """The first of `rules` by which `ask` and `stored` are different questions, or None."""
    a, s = words(ask), words(stored)
    for rule in rules:
        if rule == "numbers" and _numbers(a) != _numbers(s):
            return rule
        if rule == "negation" and _polarity(a) != _polarity(s):
            return rule
        if rule == "order" and a != s and Counter(a) == Counter(s):
            return rule
    return None
