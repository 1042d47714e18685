"""classify20: word problems known by their question, their narrative requests, and the
classifier's patterns kept on the regex engine's DFA for non-ASCII text.

The prompts are written here (none is a row of the shared tables)."""

from __future__ import annotations

import re

import pytest

from arbiter import classify as classify_module
from arbiter import linear
from arbiter.classify import TaskType, classify

WORD_PROBLEMS: list[str] = [
    # a quantity asked for after the givens, no math word, no quantity cue (were "chat")
    "Simon mixed 3 cups of flour with 9 cups of water. What is the ratio of flour to water?",
    "A map shows 2 centimeters for every 25 kilometers. Two towns lie 8 centimeters apart on it. "
    "What is the distance between the towns?",
    # the question ends on a period, not "?"
    "Mia drove 120 kilometres in 2 hours and then 60 more in 1 hour. What was her speed over the "
    "whole trip.",
    "Ravi's test marks were 71, 64 and 90. What was his average mark?",
    "A tank holds 40 liters and leaks 3 liters a day for 6 days. Which number of liters is left?",
    # every number spelled (no digit, no math word)
    "Ana had twelve apples and gave away five. What is the number of apples she kept?",
    # a request inside the setup (third person, mid-sentence): the question decides
    "Nora wants to write a story of 12 chapters. She writes 3 pages a day and a chapter is 6 pages"
    " long. How many days will the story take her?",
    "A press extracted 12 liters of oil from 40 kilograms of olives. What is the weight of olives "
    "needed for 30 liters?",
]

NOT_MATH: list[tuple[str, TaskType]] = [
    # a question of fact: no numbers stated before the ask
    ("What was the price of a stamp in 1950?", "chat"),
    ("Which countries had the highest population in 2020 and 2021?", "chat"),
    # "most likely" is no quantity; "mean" the verb is none either
    (
        "A 42-year-old man has had a fever for 3 days. Which of the following is the most likely "
        "diagnosis?",
        "chat",
    ),
    ("I have four lines on three of my fingers? What does it mean?", "chat"),
    ("My kids are 5 and 7 years old. What should we do to change the weekend routine?", "chat"),
    ("In 1969 and 1972 astronauts walked on the moon. Which mission went best?", "chat"),
    # a request to the model stays its task, numbers and quantity question or not
    ("Write a story of 300 words about a farmer with 12 cows. How many cows does he sell?",
     "creative"),
    ("Can you write a poem about 2 kids who save 5 dollars? How many lines should it have?",
     "creative"),
    ("Please extract the 3 prices and 2 dates from this receipt. What is the total?", "extraction"),
    ("Write a Python function that takes 2 lists and 3 limits. What is the maximum number it "
     "returns?", "code"),
]  # fmt: skip


@pytest.mark.parametrize("prompt", WORD_PROBLEMS)
def test_word_problems_are_math(prompt: str) -> None:
    assert classify([{"role": "user", "content": prompt}]) == "math"


@pytest.mark.parametrize(("prompt", "expected"), NOT_MATH)
def test_prompts_that_must_not_become_math(prompt: str, expected: TaskType) -> None:
    assert classify([{"role": "user", "content": prompt}]) == expected


def test_the_reason_names_the_rule() -> None:
    def reason(text: str) -> str | None:
        lower = classify_module._bounded_lower(text)
        return classify_module._math_reason(lower, classify_module._words(lower))

    assert reason(WORD_PROBLEMS[0]) == "word problem"
    assert reason("What is 17 * 23?") == "expression"
    assert reason("Tom has 12 apples and gives 3 to each friend. Any left?") == "quantity cue"
    assert reason(NOT_MATH[0][0]) is None


def _patterns() -> list[linear.Pattern]:
    return [v for v in vars(classify_module).values() if isinstance(v, linear.Pattern)]


def test_every_pattern_uses_ascii_word_boundaries() -> None:
    """A Unicode \\b keeps the regex engine's DFA off non-ASCII text: one search of a 4 KB CJK
    prompt with a digit in it took 3 ms (the loop bench's CJK classify time,
    bench/classify_cost.py measures it); an ASCII boundary keeps the DFA."""
    patterns = _patterns()
    assert len(patterns) >= 20
    bare = [p.pattern for p in patterns if re.search(r"(?<!\(\?-u:)\\b", p.pattern)]
    assert bare == []


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("用python写一个函数", "chat"),  # no "in/using python", no code noun: as before
        ("請把這段話 translate into French", "translation"),
        ("小明有 12 个苹果, 给了 3 个. how many apples are left?", "math"),
        ("路由模型的成本与质量之间需要权衡。" * 300 + " 2024", "chat"),
    ],
)
def test_cjk_text_keeps_its_labels(prompt: str, expected: TaskType) -> None:
    assert classify([{"role": "user", "content": prompt}]) == expected


@pytest.mark.parametrize(
    "text",
    [
        "write a c++ function, in c# too! (and f#)",
        "路由模型的成本与质量之间需要权衡。how many? 12",
        "ça coûte 3 € — naïve café?\ud800 x\ttab\nnew_line",
        "",
    ],
)
def test_words_split_as_the_ascii_separators_say(text: str) -> None:
    """`_words` (a bytes table over UTF-8, classify20) splits exactly where the old str table
    did: at every ASCII character but letters, digits, "+" and "#"."""
    separators = {chr(c) for c in range(128) if not (chr(c).isalnum() or chr(c) in "+#")}
    expected = frozenset("".join(" " if ch in separators else ch for ch in text).split())
    assert classify_module._words(text) == expected
