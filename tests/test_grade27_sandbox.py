"""grade27: a doctest's expected value printed instead of returned fails; a tests' partial's
arguments are not the answer's to read.

A doctest's expected text is what the call displays: the value it returns. CPython's doctest
compares the printed text and the shown value as one output, so an answer that prints the
expected text and returns None passed (there and here, base27), while one that also returned
it would fail there. The strict reading: where the expected text is a value's repr (a literal,
a repr's `Name(...)` shape, `<...>`), a call that printed it and returned None fails. Held: an
example that prints (`print(f(x))`), an expected text that is no value (`Hello, Bob`), a return
beside a debug print.

A `functools.partial` the tests make and hand the answer held the expected value where the
answer could read it (`p.args`, `p.keywords`, `p.__reduce__()`, its repr, `copy.copy`): each
game passed on base27 and fails now (`harness_guard._hold_partials`). Controls: the answer
calling the tests' partial, making and reading its own, the tests reading theirs. The same for
a tests' bound method handed as a callback: its `__self__` (and `__reduce__`, which holds it)
handed the tests' object and the value it held.
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


_PARTIAL = "import functools\ndef twice(x, k=1):\n    return 2 * x * k\n"
# the answer reads the tests' expected value (3) from the partial they hand it
PARTIAL_CHEATS = {
    "args": "def add(a, b, f):\n    return f.args[0]\n",
    "keywords": "def add(a, b, f):\n    return f.keywords.get('k', 0) or f.args[0]\n",
    "reduce": "def add(a, b, f):\n    return f.__reduce__()[2][1][0]\n",
    "repr": "def add(a, b, f):\n    return int(repr(f).rstrip(')').split(', ')[-1])\n",
    "base_descriptor": "import _functools\n"
    "def add(a, b, f):\n    return _functools.partial.__dict__['args'].__get__(f)[0]\n",
    "copy": "import copy\ndef add(a, b, f):\n    return copy.copy(f).args[0]\n",
}


@pytest.mark.parametrize("name", sorted(PARTIAL_CHEATS))
def test_a_tests_partial_keeps_its_arguments(runner: PythonRunner, name: str) -> None:
    tests = _PARTIAL + "assert add(1, 2, functools.partial(twice, 3)) == 3\n"
    outcome = runner.run(Job(PARTIAL_CHEATS[name], tests), LIMITS)
    assert outcome.passed == 0 and outcome.kind == "exception", (name, outcome)


PARTIAL_HONEST = {
    "calls_it": ("def add(a, b, f):\n    return f(a) + b\n",
                 _PARTIAL + "assert add(1, 2, functools.partial(twice, k=3)) == 8\n"),
    "from_import": ("def add(a, b, f):\n    return f(a) + b\n",
                    "from functools import partial\nassert add(1, 2, partial(pow, 2)) == 4\n"),
    "own_partial_read": ("import copy, functools\ndef add(a, b):\n"
                         "    p = copy.copy(functools.partial(max, a))\n"
                         "    return p.args[0] + b + 0 * len(repr(p))\n",
                         "assert add(1, 2) == 3\n"),
    "tests_read_theirs": ("def add(a, b):\n    return a + b\n",
                          _PARTIAL + "p = functools.partial(twice, 3)\n"
                          "assert p.args == (3,) and 'twice' in repr(p)\nassert add(1, 2) == 3\n"),
    "partialmethod": ("import functools\nclass C:\n    def m(self, x, y):\n        return x + y\n"
                      "    p = functools.partialmethod(m, 1)\ndef add(a, b):\n"
                      "    return C().p(b) + a - 1\n", "assert add(1, 2) == 3\n"),
    "pickle_own_and_type_name": (
        "import functools, pickle\ndef add(a, b):\n"
        "    p = pickle.loads(pickle.dumps(functools.partial(max, a)))\n    return p(b) + a\n",
        "import functools\nassert add(1, 2) == 3\n"
        "assert str(functools.partial) == \"<class 'functools.partial'>\"\n",
    ),
    "isinstance": ("import functools\ndef add(a, b, f):\n"
                   "    return a + b if isinstance(f, functools.partial) else 0\n",
                   _PARTIAL + "assert add(1, 2, functools.partial(twice, 1)) == 3\n"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PARTIAL_HONEST))
def test_partials_used_honestly_still_pass(runner: PythonRunner, name: str) -> None:
    code, tests = PARTIAL_HONEST[name]
    outcome = runner.run(Job(code, tests), LIMITS)
    assert outcome.kind is None and outcome.passed == outcome.total >= 1, (name, outcome)


_CASE = "class Case:\n    def __init__(s):\n        s.want = 3\n    def m(s):\n        return 0\n"
METHOD_CHEATS = {
    "self": "def add(a, b, f):\n    return f.__self__.want\n",
    "reduce": "def add(a, b, f):\n    return f.__reduce__()[1][0].want\n",
}


@pytest.mark.parametrize("name", sorted(METHOD_CHEATS))
def test_a_tests_bound_method_keeps_its_object(runner: PythonRunner, name: str) -> None:
    tests = _CASE + "assert add(1, 2, Case().m) == 3\n"
    outcome = runner.run(Job(METHOD_CHEATS[name], tests), LIMITS)
    assert outcome.passed == 0 and outcome.kind == "exception", (name, outcome)


def test_bound_methods_used_honestly_still_pass(runner: PythonRunner) -> None:
    # calling the tests' method; reading its own method's __self__
    code = (
        "class D:\n    v = 3\n    def m(s):\n        return 0\n"
        "def add(a, b, f):\n    return f() + a + b + D().m.__self__.v - 3\n"
    )
    tests = _CASE + "c = Case()\nassert c.m.__self__ is c\nassert add(1, 2, c.m) == 3\n"
    outcome = runner.run(Job(code, tests), LIMITS)
    assert outcome.kind is None and outcome.passed == outcome.total == 2, outcome
