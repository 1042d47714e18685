"""`step_check`: every claimed step of an answer re-checked in exact rational arithmetic, by a
linear scanner with bounded numbers and parts (round nine's verifier features)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from arbiter import step_check
from arbiter.cascade import arithmetic_errors
from arbiter.step_check import MAX_CHARS, MAX_DIGITS, MAX_TOKENS, check_steps


def wrong(text: str) -> int:
    return check_steps(text).wrong


def test_right_and_wrong_steps() -> None:
    assert wrong("3 * 12 = 36 pens, 36 - 5 = 31") == 0
    assert wrong("3 * 12 = 38 pens") == 1
    assert wrong("$4 + $5 + 2 = $11 and (40 - 4) / 2 = 18") == 0
    assert wrong("2 x 60 = 120 GB, 2/3 \\* 60 = 40 minutes, 6 × 7 = 42, 8 ÷ 2 = 4") == 0
    assert wrong("2 x 60 = 110 GB") == 1
    assert wrong("3 - 5 = -2 and 3 - 5 = 2") == 1
    assert check_steps("3 * 12 = 36, 36 - 5 = 31").results == (Fraction(36), Fraction(31))


def test_exact_where_the_float_check_tolerates_one_percent() -> None:
    # 1234 * 5 is 6170: a claim of 6175 is 0.08% off, under arithmetic_errors' 1% tolerance
    assert arithmetic_errors("1234 * 5 = 6175") == 0
    assert wrong("1234 * 5 = 6175") == 1
    assert wrong("0.1 + 0.2 = 0.3") == 0  # rationals: no float residue
    assert wrong("1,000,000 / 4 = 250,000") == 0


def test_rounding_is_right_to_a_unit_of_the_last_place_and_counted() -> None:
    s = check_steps("10 / 3 = 3.33, 7 / 2 = 3, 2 / 3 = 0.67, 10 / 3 = 3.5")
    assert (s.steps, s.inexact, s.wrong) == (4, 3, 1)
    assert wrong("1 / 8 = 0.125") == 0 and check_steps("1 / 8 = 0.125").inexact == 0


def test_percent_and_leading_point_numbers() -> None:
    assert wrong("0.1 * 100 = 10%") == 0  # a percentage worked out as a number
    assert wrong("50 * 20% = 10") == 0  # 20% in an expression is 0.2
    assert wrong("(6 / 12) x 100 = 50%") == 0
    assert wrong("1 / 4 = 25%") == 0  # read as 0.25
    assert wrong("500*.5*7=1750 and 500 * $.4 = $200") == 0
    assert wrong("500*.5*7=1800") == 1


def test_chains_partials_and_calculator_annotations() -> None:
    # a lone number checks the nearest earlier expression, not an expression against another
    assert wrong("10 + 68 / 2 = 10 + 34 = 44") == 0
    assert wrong("10 + 68 / 2 = 10 + 34 = 45") == 1
    assert wrong("42 - 18 = 24 - 4 = 20") == 0  # a step rewritten mid-line claims 20 of 24 - 4
    # the tail of a symbolic expression claims nothing about the numbers it holds
    assert wrong("so x * 2/5 = 12.8 and x = 32") == 0
    assert wrong("Let y - 3 = 5") == 0
    assert wrong("she pays 84 * 9/14 = $<<84*(9/14)=48>>48") == 1  # the annotation (54)
    assert wrong("that is <<80/120=2/3>>2/3 of an hour") == 0  # a fraction as the value
    assert wrong("5 / 0 = 7") == 0  # not checkable, not an error
    assert wrong("1,350 + 6 * 350 = 3,450 dollars; 3, 450") == 0


def test_units_and_words_end_a_run() -> None:
    assert wrong("2 * 6 inches = 12 inches = 1 foot") == 0
    assert wrong("5 apples x 2 = 11") == 0  # "x 2" follows a word: no claim about 5 x 2
    assert check_steps("no numbers at all = nothing").steps == 0


def test_bounds_numbers_parts_and_text() -> None:
    huge = "9" * (MAX_DIGITS + 1)
    assert wrong(f"{huge} * 2 = 5") == 0  # an over-long number ends the run: nothing claimed
    assert wrong("9" * MAX_DIGITS + " * 2 = 5") == 1
    long_part = " + ".join(["1"] * MAX_TOKENS) + " = 5"
    assert wrong(long_part) == 0  # a part past MAX_TOKENS is not evaluated
    assert wrong(" + ".join(["1"] * 5) + " = 6") == 1
    assert wrong("x" * MAX_CHARS + " 2 + 2 = 5") == 0  # past the characters read


@pytest.mark.parametrize(
    "text",
    [
        "1" * 200_000,
        "1 + " * 50_000 + "1 = 2",
        "(" * 50_000 + "1" + ")" * 50_000 + " = 1",
        "1 = " * 50_000,
        "9" * 23 + " * " + (" * ".join(["9" * 23] * 31)) + " = 1",
        "1,000," * 40_000,
        ".5" * 60_000 + " = 1",
        "%" * 60_000 + "= 1",
        "1 x " * 50_000 + "= 1",
        "\\*" * 60_000 + "= 1",
    ],
)
def test_adversarial_inputs_do_linear_bounded_work(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted, not timed: the tokens evaluated never exceed the characters read, no part
    evaluated is longer than MAX_TOKENS, and every exact value stays small."""
    evaluated: list[int] = []
    sizes: list[int] = []
    real = step_check._evaluate

    def counting(part: list[object]) -> Fraction | None:
        evaluated.append(len(part))
        value = real(part)
        if value is not None:
            sizes.append(value.numerator.bit_length() + value.denominator.bit_length())
        return value

    monkeypatch.setattr(step_check, "_evaluate", counting)
    s = check_steps(text)
    assert sum(evaluated) <= min(len(text), MAX_CHARS)
    assert all(n <= MAX_TOKENS for n in evaluated if n)  # longer parts are refused at once
    assert max(sizes, default=0) < 4 * MAX_DIGITS * MAX_TOKENS  # bits: bounded by the caps
    assert s.steps <= MAX_CHARS
