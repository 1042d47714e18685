"""The prompt's worked examples as checks: which are read (``>>>`` doctests and inline
``f(x) == y`` lines), and that they run next to the request's tests, the tests winning where
both speak of one input."""

from __future__ import annotations

import asyncio

import pytest

from arbiter.config import SandboxSettings
from arbiter.sandbox.examples import functions_of, inline_examples
from arbiter.sandbox.executor import CodeExecutor
from arbiter.sandbox.extract import doctests_of
from arbiter.sandbox.python_runner import PythonRunner
from arbiter.sandbox.runner import Job, Limits
from tests.sandbox_here import sandbox_runner

LIMITS = Limits(wall_s=5.0, cpu_s=3)

PROMPT = '''def rank(xs, k):
    """The k largest, ascending.
    Examples:
        rank([3, 1, 2], 2) == [2, 3]
        * rank([5], 1) => [5]
        rank([1, 2], 0) ==> []
        rank([4, 4], 1) returns [4]
        rank(xs, 1) == [9]              (not literal arguments: skipped)
        other([1], 1) == [1]            (not the answer's function: skipped)
        rank([1], 1) == the list [1]    (not a literal result: skipped)
    Input: xs = [7, 8, 9], k = 1
    Output: [9]
    For xs = [2, 1] the output should be [2]   (no k: matches no signature, skipped)
    is_ok("x") => true
    """
'''


def test_inline_examples_are_read_when_unambiguous() -> None:
    functions = {"rank": ("xs", "k"), "is_ok": ("s",)}
    assert inline_examples(PROMPT, functions) == (
        ("rank([3, 1, 2], 2) == [2, 3]", "True"),
        ("rank([5], 1) == [5]", "True"),
        ("rank([1, 2], 0) == []", "True"),
        ("rank([4, 4], 1) == [4]", "True"),
        ("rank(xs = [7, 8, 9], k = 1) == [9]", "True"),
        ('is_ok("x") == True', "True"),
    )
    assert inline_examples(PROMPT, {}) == ()  # no functions in the answer: nothing applies
    # prose writes ("Venus") for the 1-tuple ("Venus",): either matches
    assert inline_examples('bf("Earth") ==> ("Venus")', {"bf": ("p",)}) == (
        ('bf("Earth") in (("Venus"), (("Venus"),))', "True"),
    )
    assert inline_examples("my_rank([1], 1) == [1]", {"rank": ("xs", "k")}) == ()


def test_functions_are_read_from_def_lines() -> None:
    code = (
        "import x\n\ndef f(a, b=1, *, c):\n    def inner(z):\n        pass\nasync def g() -> int:\n"
    )
    assert functions_of(code) == {"f": ("a", "b", "c"), "g": ()}


def test_doctest_output_keeps_a_strings_quotes() -> None:
    """Regression: the expected output lost its closing quote ('100' -> '100), so a right
    answer failed every example whose result is a string."""
    prompt = (
        '    >>> xor("010", "110")\n    \'100\'\n    >>> f(1)\n    "21"\n    >>> g()\n    3"""\n'
    )
    assert doctests_of(prompt) == (('xor("010", "110")', "'100'"), ("f(1)", '"21"'), ("g()", "3"))


def test_an_equality_example_without_output_claims_true() -> None:
    prompt = ">>> roman(19) == 'xix'\n>>> roman(1)\n"
    assert doctests_of(prompt) == (("roman(19) == 'xix'", "True"),)


@pytest.fixture(scope="module")
def runner() -> PythonRunner:
    return sandbox_runner()


TESTS = "def check(candidate):\n    assert candidate([1, 3, 2], 1) == [3]\n\ncheck(rank)\n"
RIGHT = "```python\ndef rank(xs, k):\n    return sorted(xs)[len(xs) - k:]\n```"
# passes the tests (k = 1 only) but not the prompt's examples
WRONG = "```python\ndef rank(xs, k):\n    return [max(xs)]\n```"


def _grade(runner: PythonRunner, prompt: str, answer: str, tests: str | None) -> tuple[float, str]:
    executor = CodeExecutor(SandboxSettings(), runner)
    grade = asyncio.run(
        executor.grade(tenant="t", task="code", prompt=prompt, content=answer, request_tests=tests)
    )
    assert grade is not None
    return grade.score, grade.detail


def test_request_tests_and_the_prompts_examples_both_run(runner: PythonRunner) -> None:
    """Regression: with tests in the request the prompt's examples were ignored, so a wrong
    answer that the (weak) tests missed graded 1.0."""
    score, detail = _grade(runner, PROMPT, RIGHT, TESTS)
    assert score == 1.0 and detail.startswith("6/6 request+examples tests passed"), detail
    score, detail = _grade(runner, PROMPT, WRONG, TESTS)
    assert score < 1.0 and "failure: wrong_answer" in detail, detail


def test_inline_examples_alone_grade_a_code_answer(runner: PythonRunner) -> None:
    score, detail = _grade(runner, PROMPT, WRONG, None)
    assert 0.0 < score < 1.0 and "doctest tests passed" in detail, detail
    executor = CodeExecutor(SandboxSettings(), runner)
    assert executor._job_for("t", "code", "write rank", RIGHT, None) is None  # nothing to check


def test_where_the_tests_and_an_example_share_an_input_the_tests_decide(
    runner: PythonRunner,
) -> None:
    """A prompt's example can be wrong (HumanEval/47's docstring says median(...) is 15.0, its
    tests and solution 8.0): the example on an input the tests assert is not run."""
    code = "def median(xs):\n    return sorted(xs)[len(xs) // 2]\n"
    tests = "assert median([3, 1, 2]) == 2\n"
    wrong_example = (("median([3, 1, 2]) == 9", "True"), ("median([5]) == 5", "True"))
    outcome = runner.run(Job(code, tests, wrong_example), LIMITS)
    assert (outcome.passed, outcome.total, outcome.kind) == (2, 2, None), outcome
    outcome = runner.run(Job(code, tests, (("median([7]) == 8", "True"),)), LIMITS)
    assert (outcome.passed, outcome.total, outcome.kind) == (1, 2, "wrong_answer"), outcome
