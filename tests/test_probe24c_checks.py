"""probe24c: the automatic checks on hostile and odd answers give the grade a reviewer would.

A ``` inside a line of code (a string that holds one) closed the code fence there: the parse
check and the sandbox run saw half a program and graded a right answer 0 (fails on base). A
parse check of a long answer held the GIL in the grading thread and stalled the event loop as
long (1.3 s for 256 KiB of code on a loaded host: bench/grading_cost.py): past MAX_PARSE_CHARS
(code) and MAX_JSON_CHARS, no parse grade (base graded them 1.0 after the stall). A reference
answer written with an invisible character inside a word (zero-width space, soft hyphen) was
graded 0 against the same word (NFKC keeps them). A math answer as LaTeX writes it (\\$18,
4{,}200, \\mathbf{42}, \\(42\\), \\tfrac{1}{2}) was graded 0 against the prompt's own value. A
JSON answer holding NaN or Infinity (not JSON: a client's JSON.parse refuses it) was valid. A
short answer that negates the reference ("It is not Paris.") or hedges between it and another
("Paris or Lyon") was graded 1.0 against it.
"""

from __future__ import annotations

import asyncio

import pytest

from arbiter.config import SandboxSettings
from arbiter.grading import MAX_JSON_CHARS, MAX_PARSE_CHARS, grade_answer
from arbiter.reference import ReferenceGrader
from arbiter.sandbox.executor import CodeExecutor
from arbiter.sandbox.extract import code_of

STRIP = 'def strip_fences(s):\n    return s.replace("```", "")\n'
STRIP_ANSWER = f"Here it is:\n```python\n{STRIP}```\nIt removes every fence."
STRIP_TESTS = 'assert strip_fences("a```b") == "ab"\nassert strip_fences("") == ""\n'


def _code(content: str) -> tuple[float, str] | None:
    g = grade_answer(task="code", prompt="Write a Python function strip_fences.",
                     content=content, finish_reason="stop", response_format=None)  # fmt: skip
    return None if g is None else (g.score, g.detail)


def test_a_fence_inside_a_line_of_code_does_not_end_the_block() -> None:
    assert code_of(STRIP_ANSWER) == STRIP
    assert _code(STRIP_ANSWER) == (1.0, "1 code block(s) parsed")


@pytest.mark.parametrize(
    ("answer", "program"),
    [
        ("```python\nx = 1```\nprose", "x = 1"),  # closed at the end of its last line
        ("```python\nx = 1\n   ```\nprose", "x = 1\n"),  # an indented close
        ("```python\nx = 1\n", "x = 1\n"),  # never closed: to the end
    ],
)
def test_the_usual_fences_still_close(answer: str, program: str) -> None:
    assert code_of(answer) == program


def test_a_broken_block_still_fails_its_parse_check() -> None:
    score, detail = _code('```python\ndef f(:\n    return "```"\n```') or (None, "")
    assert score == 0.0 and "SyntaxError" in detail


def test_a_json_answer_whose_string_holds_a_fence_is_valid() -> None:
    g = grade_answer(task="extraction", prompt="Return the snippet as JSON.",
                     content='```json\n{"md": "```python\\nx = 1\\n```"}\n```',
                     finish_reason="stop", response_format={"type": "json_object"})  # fmt: skip
    assert g is not None and (g.score, g.grader) == (1.0, "json_object"), g


def test_the_sandbox_runs_the_whole_program() -> None:
    executor = CodeExecutor(SandboxSettings())
    if executor.unavailable() is not None:
        pytest.skip("no sandbox here")
    grade = asyncio.run(
        executor.grade(tenant="t", task="code", prompt="Write strip_fences.",
                       content=STRIP_ANSWER, request_tests=STRIP_TESTS)
    )  # fmt: skip
    assert grade is not None and (grade.grader, grade.score) == ("execution", 1.0), grade


def test_code_past_the_parse_bound_gets_no_parse_grade() -> None:
    program = "x = 1\n" * (MAX_PARSE_CHARS // 6 + 1)
    assert _code(f"```python\n{program}```") is None
    assert _code(program) is None  # unfenced too
    half = program[: (MAX_PARSE_CHARS // 12) * 6]  # whole lines, half the bound
    assert _code(f"```python\n{half}```") == (
        1.0, "1 code block(s) parsed"
    )  # fmt: skip


def test_json_past_its_bound_gets_no_parse_grade() -> None:
    doc = '{"a": "' + "x" * MAX_JSON_CHARS + '"}'
    g = grade_answer(task="extraction", prompt="Return JSON only.", content=doc,
                     finish_reason="stop", response_format={"type": "json_object"})  # fmt: skip
    assert g is None


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ("Pa\u200bris", 1.0),  # zero-width space
        ("Pa\u00adris.", 1.0),  # soft hyphen
        ("\ufeffParis\u2060", 1.0),  # BOM, word joiner
        ("Ｐａｒｉｓ", 1.0),  # fullwidth (NFKC, as before)
        ("\u0420aris", 0.0),  # a Cyrillic look-alike is another word
        ("Lyon\u200b", 0.0),
    ],
)
def test_invisible_characters_do_not_change_a_reference_grade(answer: str, score: float) -> None:
    grade = ReferenceGrader(None).grade(answer, "Paris")
    assert grade is not None and grade.score == score, grade


@pytest.mark.parametrize(
    ("prompt", "answer", "score"),
    [
        ("What is 6 * 7?", r"So she pays \boxed{\$42}.", 1.0),
        ("What is 6 * 7?", r"\boxed{\mathbf{42}}", 1.0),
        ("What is 6 * 7?", r"\boxed{\textbf{42}}", 1.0),
        ("What is 6 * 7?", r"Answer: \(42\)", 1.0),
        ("What is 4200 + 0?", r"\boxed{4{,}200}", 1.0),
        ("What is 1 / 2?", r"\boxed{\tfrac{1}{2}}", 1.0),
        ("What is 1 / 2?", r"\boxed{\frac12}", 1.0),
        # controls: the same forms holding a wrong value
        ("What is 6 * 7?", r"So she pays \boxed{\$41}.", 0.0),
        ("What is 6 * 7?", r"Answer: \(41\)", 0.0),
        ("What is 4200 + 0?", r"\boxed{4{,}201}", 0.0),
        ("What is 1 / 2?", r"\boxed{\tfrac{1}{3}}", 0.0),
    ],
)
def test_a_math_answer_written_in_latex_is_read_as_its_value(
    prompt: str, answer: str, score: float
) -> None:
    g = grade_answer(task="math", prompt=prompt, content=answer, finish_reason="stop",
                     response_format=None)  # fmt: skip
    assert g is not None and (g.grader, g.score) == ("math_checked", score), g


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ('{"a": NaN}', 0.0),
        ('{"a": [1, Infinity]}', 0.0),
        ('```json\n{"a": -Infinity}\n```', 0.0),
        ('{"a": 1e999}', 1.0),  # JSON's grammar has no bound on a number
        ('{"a": 123456789012345678901234567890}', 1.0),
        ('{"a": "NaN"}', 1.0),
    ],
)
def test_nan_and_infinity_are_not_json(answer: str, score: float) -> None:
    g = grade_answer(task="extraction", prompt="Return JSON only.", content=answer,
                     finish_reason="stop", response_format={"type": "json_object"})  # fmt: skip
    assert g is not None and g.score == score, g


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ("It is not Paris.", 0.0),
        ("It isn't Paris, it is Lyon.", 0.0),
        ("It is either Paris or Lyon.", 0.5),
        ("Lyon or Paris", 0.5),
        # controls: the reference meant, a negation of something else beside it
        ("The capital of France is Paris.", 1.0),
        ("It is Paris, not Lyon.", 1.0),
        ("Not Lyon but Paris.", 1.0),
        ("Paris, or rather Paris itself.", 1.0),
    ],
)
def test_a_short_answer_that_negates_or_hedges_the_reference(answer: str, score: float) -> None:
    grade = ReferenceGrader(None).grade(answer, "Paris")
    assert grade is not None and grade.score == score, grade
