"""grade27: a doctest's expected value printed instead of returned fails.

A doctest's expected text is what the call displays: the value it returns. CPython's doctest
compares the printed text and the shown value as one output, so an answer that prints the
expected text and returns None passed (there and here, base27), while one that also returned
it would fail there. The strict reading: where the expected text is a value's repr (a literal,
a repr's `Name(...)` shape, `<...>`), a call that printed it and returned None fails. Held: an
example that prints (`print(f(x))`), an expected text that is no value (`Hello, Bob`), a return
beside a debug print.
"""

from __future__ import annotations

import pytest

from arbiter.sandbox.python_runner import PythonRunner
from arbiter.sandbox.runner import Job, Limits
from tests.sandbox_here import sandbox_runner

LIMITS = Limits(wall_s=5.0, cpu_s=3)


@pytest.fixture(scope="module")
def runner() -> PythonRunner:
    return sandbox_runner()


# (the example's source, its expected text): each printed by the answer, which returns None
PRINTED = {
    "int": ("add(2, 3)", "5"),
    "str_repr": ("greet('Bob')", "'Hello, Bob'"),
    "list": ("evens(4)", "[0, 2]"),
    "bool": ("is_even(4)", "True"),
    "negative": ("neg(5)", "-5"),
    "repr_shape": ("point()", "P(x=1, y=2)"),
    "angle_repr": ("colour()", "<Colour.RED: 1>"),
}


@pytest.mark.parametrize("name", sorted(PRINTED))
def test_the_expected_value_printed_fails(runner: PythonRunner, name: str) -> None:
    source, expected = PRINTED[name]
    func = source.split("(")[0]
    code = f"def {func}(*args):\n    print({expected!r})\n"
    outcome = runner.run(Job(code, None, ((source, expected),)), LIMITS)
    assert (outcome.passed, outcome.kind) == (0, "wrong_answer"), (name, outcome)


HELD = {
    # the example prints the returned value: the printed text is the value's
    "print_in_the_example": ("def add(a, b):\n    return a + b\n", "print(add(2, 3))", "5"),
    # no value writes this text: a function meant to print
    "printed_text": ("def greet(n):\n    print(f'Hello, {n}')\n", "greet('Bob')", "Hello, Bob"),
    "printed_lines": ("def show(n):\n    for i in range(n):\n        print(i)\n", "show(2)",
                      "0\n1"),
    # the value returned, a debug print beside it
    "return_and_debug_print": ("def add(a, b):\n    print('adding')\n    return a + b\n",
                               "add(2, 3)", "5"),
    "returned": ("def add(a, b):\n    return a + b\n", "add(2, 3)", "5"),
    "statement_prints": ("def add(a, b):\n    return a + b\n", "for i in [1]: print(add(i, 4))",
                         "5"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(HELD))
def test_printing_where_the_example_means_it_passes(runner: PythonRunner, name: str) -> None:
    code, source, expected = HELD[name]
    outcome = runner.run(Job(code, None, ((source, expected),)), LIMITS)
    assert (outcome.passed, outcome.total, outcome.kind) == (1, 1, None), (name, outcome)
