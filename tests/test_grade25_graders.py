"""grade25: answers that gamed (or were misread by) the math and reference graders.

Each case below was graded wrong on base (bench/results/grade25.md): a self-correction read as
the answer it withdrew ("The answer is 42. No wait, it's 41." graded as 42), ``\\boxed`` inside
``\\boxed``, thousands grouped by a space or a thin space ("4 200", SI and French style), an
exponent read as its digits (1e999 against 999), and a hedge listing candidates ("Paris, Lyon,
Marseille"; "A or B") graded as if it named the one answer. Controls: honest answers keep their
grade.
"""

from __future__ import annotations

import pytest

from arbiter.grading import extract_final_answer, grade_answer
from arbiter.reference import ReferenceGrader


def _math(content: str, prompt: str = "What is 6 * 7?") -> float:
    grade = grade_answer(
        task="math", prompt=prompt, content=content, finish_reason="stop", response_format=None
    )
    assert grade is not None
    return grade.score


def _ref(answer: str, reference: str) -> float:
    grade = ReferenceGrader(None).grade(answer, reference)
    assert grade is not None
    return grade.score


@pytest.mark.parametrize(
    ("content", "score"),
    [
        ("The answer is 42. No wait, it's 41.", 0.0),  # base: 1.0 (read 42)
        ("The answer is 41. No wait, 42.", 1.0),  # base: 0.0
        ("41... no wait 42", 1.0),  # base: no final answer, 0.0
        ("Answer: 41. Correction: 42", 1.0),
        ("\\boxed{41}. Wait, no: \\boxed{42}", 1.0),
        # controls: a check after the answer that restates it, and no correction at all
        ("The answer is 42. No wait, let me check: 6 * 7 = 42.", 1.0),
        ("The answer is 42. Actually I first got 41.", 1.0),
        ("The answer is 41.", 0.0),
    ],
)
def test_the_last_stated_answer_wins_in_math(content: str, score: float) -> None:
    assert _math(content) == score


@pytest.mark.parametrize(
    ("answer", "reference", "score"),
    [
        ("The answer is 42. No wait, it's 41.", "41", 1.0),  # base: 0.0
        ("The answer is 42. No wait, it's 41.", "42", 0.0),  # base: 1.0
        ("Lyon... no wait, Paris", "Paris", 1.0),
        ("Paris... no wait, Lyon", "Paris", 0.0),  # base: 1.0
        ("B... no wait, C", "B", 0.0),  # base: 1.0
        ("B... no wait, C", "C", 1.0),  # base: 0.0
        ("Paris. Sorry for the delay.", "Paris", 1.0),  # control: no correction
    ],
)
def test_the_last_stated_answer_wins_against_a_reference(
    answer: str, reference: str, score: float
) -> None:
    assert _ref(answer, reference) == score


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("\\boxed{\\boxed{42}}", "42"),  # base: "\boxed{42}" (no number: graded 0)
        ("\\boxed{\\boxed{\\boxed{42}}}", "42"),
        ("The answer is 4 200.", "4200"),  # base: "4"
        ("The answer is 4\u2009200.", "4200"),  # thin space
        ("The answer is 4\u202f200.", "4200"),  # narrow no-break space
        ("The answer is 4\u00a0200.", "4200"),  # no-break space
        ("The answer is 1 234 567.5", "1234567.5"),
        ("The answer is 4 2000.", "4"),  # not a whole group: as before
        ("The answer is 1e999.", "1e999"),  # base: its 1,000 digits
    ],
)
def test_final_answers_written_other_ways_are_read(content: str, expected: str) -> None:
    assert extract_final_answer(content) == expected


@pytest.mark.parametrize(
    ("answer", "reference", "score"),
    [
        ("\\boxed{\\boxed{42}}", "42", 1.0),
        ("4 200", "4200", 1.0),  # base: 0.0 (read 200)
        ("4\u2009200", "4200", 1.0),  # base: 0.0
        ("It is about 4\u202f200 km.", "4200", 1.0),  # base: 0.0
        ("1e999", "999", 0.0),  # base: 1.0 (read 999)
        ("It is 1e999, roughly.", "999", 0.0),
        ("999", "1e999", 0.0),
        ("1e3", "1000", 1.0),  # control
    ],
)
def test_numbers_against_a_reference(answer: str, reference: str, score: float) -> None:
    assert _ref(answer, reference) == score


def test_the_1e999_reference_detail_is_bounded() -> None:
    grade = ReferenceGrader(None).grade("999", "1e999")
    assert grade is not None and len(grade.detail) < 200


@pytest.mark.parametrize(
    ("answer", "reference", "score"),
    [
        ("Paris, Lyon, Marseille", "Paris", 1 / 3),  # base: 1.0
        ("The capital is Paris, Lyon or Marseille.", "Paris", 1 / 3),  # base: 0.5
        ("Paris and Lyon", "Paris", 0.5),  # base: 1.0
        ("Paris/Lyon", "Paris", 0.5),  # base: 1.0
        ("New York, Boston, or Chicago", "New York", 1 / 3),  # base: 0.5
        ("A, B", "A", 0.5),  # base: 1.0
        ("The answer is A or B", "A", 0.5),  # base: 1.0
        ("The answer is A, B or C.", "D", 0.0),
        # controls: an apposition, a negated alternative, clauses, a lone "I", the reference's
        # own "and", a plain answer
        ("Paris, France.", "Paris", 1.0),
        ("Paris, not Lyon, not Marseille", "Paris", 1.0),
        ("Paris and only Paris", "Paris", 1.0),
        ("The capital of France is Paris, which lies on the Seine, and it is large.", "Paris", 1.0),
        ("A, I think.", "A", 1.0),
        ("Romeo and Juliet, by Shakespeare", "Romeo and Juliet", 1.0),
        ("The answer is B.", "B", 1.0),
    ],
)
def test_a_list_of_candidates_is_worth_what_guessing_among_them_is(
    answer: str, reference: str, score: float
) -> None:
    assert _ref(answer, reference) == pytest.approx(score)


@pytest.mark.parametrize(
    ("answer", "reference", "score"),
    [
        ("41 or 42", "42", 0.5),  # base: 1.0
        ("The answer is 41 or 42", "41", 0.5),  # base: 1.0
        ("\\boxed{41} or \\boxed{42}", "42", 0.5),  # base: 1.0
        ("41, 42 or 43", "43", 1 / 3),  # base: 1.0
        ("41, 42, 43", "43", 1 / 3),  # base: 1.0
        ("The answer is 41 or 40.", "42", 0.0),
        # controls: alternatives elsewhere in the answer, one number said twice
        ("It takes 2 or 3 days, so the answer is 42.", "42", 1.0),
        ("The answer is 42 (6 or 7 times 7 or 6).", "42", 1.0),
        ("42 or 42", "42", 1.0),
    ],
)
def test_numeric_alternatives_are_worth_what_guessing_among_them_is(
    answer: str, reference: str, score: float
) -> None:
    assert _ref(answer, reference) == pytest.approx(score)


@pytest.mark.parametrize(
    ("content", "score"),
    [
        ("The answer is 42 or 41.", 0.5),  # base: 1.0
        ("41 or 42", 0.5),  # base: 0.0 (no final answer)
        ("The answer is 40 or 41.", 0.0),
        ("It takes 6 or 7 steps; the answer is 42.", 1.0),  # control
    ],
)
def test_math_alternatives_are_worth_what_guessing_among_them_is(
    content: str, score: float
) -> None:
    assert _math(content) == pytest.approx(score)
