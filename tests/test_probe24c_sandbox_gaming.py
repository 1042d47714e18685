"""probe24c: an answer that games the code grader from inside the sandbox gets no pass.

The answer runs in the harness's own interpreter, so it could reach the harness's recorder (a
frame, a traceback, the garbage collector, `import __main__`, the checker in its globals, a
tracer, a signal handler's frame) or the run's nonce (its own or its parent's memory through a
child interpreter), or patch the builtins the harness writes its records with: every one of
tests/probe24c_rig.GAMES turned a wrong `add` into 2/2 passed before the harness's audit hook
(sandbox/harness_guard.py _guard). Controls: the honest wrong answer fails and the right one passes,
and answers that import what the hook must leave working still pass.
"""

from __future__ import annotations

import asyncio

import pytest

from arbiter.config import SandboxSettings
from arbiter.sandbox.bwrap import Collected
from arbiter.sandbox.executor import CodeExecutor
from arbiter.sandbox.python_runner import TAMPERED, PythonRunner, outcome_of
from arbiter.sandbox.runner import Job, Limits
from tests.probe24c_rig import GAMES, GAMES_HANDED, HANDING, TESTS, WRONG
from tests.sandbox_here import sandbox_runner

LIMITS = Limits(wall_s=5.0, cpu_s=3)
RIGHT = "def add(a, b):\n    return a + b\n"


@pytest.fixture(scope="module")
def runner() -> PythonRunner:
    return sandbox_runner()


@pytest.mark.parametrize("name", sorted(GAMES))
def test_a_gamed_answer_passes_no_check(runner: PythonRunner, name: str) -> None:
    outcome = runner.run(Job(GAMES[name], TESTS), LIMITS)
    assert outcome.passed == 0, (name, outcome)
    assert outcome.kind in ("exception", "wrong_answer"), (name, outcome)


# a check in a function defined after the answer ran (its builtins are read at its creation)
LATER = "def later():\n    assert abs(add(1, 1, twice) - 2) < 1e-9\nlater()\n"


@pytest.mark.parametrize("name", sorted(GAMES_HANDED))
def test_a_gamed_answer_handed_a_test_function_passes_no_check(
    runner: PythonRunner, name: str
) -> None:
    tests = HANDING + LATER
    outcome = runner.run(Job(GAMES_HANDED[name], tests), LIMITS)
    assert outcome.passed == 0, (name, outcome)
    # fix24: said as what it is (was "exited 0 before finishing", as a crash would read);
    # grade26: a tests' function's __globals__ and __closure__ are no longer the answer's to
    # read (the hook then caught what it did with them)
    held = outcome.detail.endswith("what the tests' functions hold is not the answer's to read")
    assert outcome.detail == TAMPERED or held, (name, outcome)


def test_controls_an_answer_calling_a_handed_function_passes(runner: PythonRunner) -> None:
    right = "def add(a, b, f):\n    return f(a + b) // 2\n"
    outcome = runner.run(Job(right, HANDING + LATER), LIMITS)
    assert (outcome.passed, outcome.total, outcome.kind) == (3, 3, None), outcome
    outcome = runner.run(Job("def add(a, b, f):\n    return 0\n", HANDING), LIMITS)
    assert (outcome.passed, outcome.total, outcome.kind) == (0, 2, "wrong_answer"), outcome


def test_answers_patching_builtins_do_not_change_the_tests(runner: PythonRunner) -> None:
    # the tests look builtins up in a copy made before the answer ran
    code = "import builtins\nbuiltins.all = lambda it: True\nbuiltins.abs = lambda x: 0\n" + WRONG
    tests = "assert all([add(1, 2) == 3])\nassert abs(add(2, 2) - 4) < 1\n"
    outcome = runner.run(Job(code, tests), LIMITS)
    assert (outcome.passed, outcome.total) == (0, 2), outcome


def test_controls_the_wrong_answer_fails_and_the_right_one_passes(runner: PythonRunner) -> None:
    wrong = runner.run(Job(WRONG, TESTS), LIMITS)
    right = runner.run(Job(RIGHT, TESTS), LIMITS)
    assert (wrong.passed, wrong.total, wrong.kind) == (0, 2, "wrong_answer")
    assert (right.passed, right.total, right.kind) == (2, 2, None)


@pytest.mark.parametrize(
    "head",
    [
        "import json, re, functools, typing, dataclasses, enum, fractions, statistics",
        "import asyncio, unittest, doctest, threading, logging, inspect, traceback",
        "import subprocess, signal  # imported, not used",
        "from collections import namedtuple\nP = namedtuple('P', 'x y')",
        # a traceback formatted by the stdlib (its own code reads the frames: game24)
        "import traceback\ntry:\n    1 / 0\nexcept ZeroDivisionError:\n"
        "    text = traceback.format_exc()\nassert 'ZeroDivisionError' in text, text",
        # the stdlib's callers of sys._getframe take the ValueError the hook raises
        "import warnings\nwarnings.warn('w')\nimport logging\nlogging.getLogger('a').warning('x')",
    ],
)
def test_answers_using_the_stdlib_still_pass(runner: PythonRunner, head: str) -> None:
    outcome = runner.run(Job(f"{head}\n{RIGHT}", TESTS), LIMITS)
    assert (outcome.passed, outcome.total, outcome.kind) == (2, 2, None), outcome


_E = "class E:\n    def __eq__(self, other):\n        return True\n"


@pytest.mark.parametrize(
    ("code", "tests"),
    [
        # game24: truth, membership and order asked of the answer's own object
        ("class B:\n    def __bool__(self):\n        return True\ndef f(x):\n    return B()\n",
         "assert f(0)\nassert not f(1)\n"),
        ("class C:\n    def __contains__(self, x):\n        return True\n"
         "def f():\n    return C()\n",
         "assert 5 in f()\nassert [5] in [f()]\n"),
        ("class L:\n    def __lt__(self, o):\n        return True\n    __gt__ = __lt__\n"
         "def f():\n    return L()\n", "assert f() < 1\nassert 0 < f() < 1\n"),
        # inside a built-in container
        (_E + "def f():\n    return [1, E()]\n",
         "assert f() == [1, 2]\nassert (f(),) == ([1, 2],)\n"),
    ],
)  # fmt: skip
def test_an_answer_value_that_lies_about_comparison_fails(
    runner: PythonRunner, code: str, tests: str
) -> None:
    outcome = runner.run(Job(code, tests), LIMITS)
    assert outcome.passed == 0 and outcome.total == 2, outcome


def test_an_always_equal_value_fails_the_prompt_examples(runner: PythonRunner) -> None:
    # the doctest path: an example's expected output read as a literal, compared with the value
    job = Job(
        _E + "def add(a, b):\n    return E()\n", None, (("add(1, 2)", "3"), ("add(2, 2)", "4"))
    )
    outcome = runner.run(job, LIMITS)
    assert (outcome.passed, outcome.total) == (0, 2), outcome


@pytest.mark.parametrize(
    ("code", "tests"),
    [
        # subclasses of built-in types compare as their values
        ("from collections import Counter\ndef f(s):\n    return Counter(s)\n",
         "assert f('aab') == {'a': 2, 'b': 1}\nassert f('') == {}\n"),
        ("from collections import namedtuple, OrderedDict\nP = namedtuple('P', 'x y')\n"
         "def f():\n    return [P(1, 2)], OrderedDict(a=1)\n",
         "assert f()[0] == [(1, 2)]\nassert f()[1] == {'a': 1}\n"),
        ("import enum\nclass N(enum.IntEnum):\n    ONE = 1\ndef f():\n    return N.ONE\n",
         "assert f() == 1\nassert f() in (1, 2) and f() not in {3}\n"),
        # the tests' own class compares with itself; static types (Decimal) as they are
        ("def f(p):\n    return p\n",
         "class P:\n    def __init__(s, x):\n        s.x = x\n"
         "    def __eq__(s, o):\n        return isinstance(o, P) and s.x == o.x\n"
         "assert f(P(1)) == P(1)\nassert f(P(1)) != P(2) and f(P(1)) != None\n"),
        ("from decimal import Decimal\ndef f():\n    return Decimal('1.5')\n",
         "assert f() == Decimal('1.5')\nassert f() == 1.5\n"),
        # fix24: the stdlib's numbers compare by their own code, mixed with int/float too
        ("from fractions import Fraction\ndef f():\n    return Fraction(4, 2)\n",
         "assert f() == 2 and 2 == f() and f() != 3\nassert f() < 2.5 and f() == 2.0\n"),
        ("from decimal import Decimal\nfrom fractions import Fraction\n"
         "def f():\n    return Decimal(2), complex(2, 0), True\n",
         "assert f()[0] == 2 and f()[1] == Fraction(2) == 2.0\n"
         "assert f()[2] == 1 == Fraction(1)\n"),
        # fix24: the tests' own class ordered against a built-in value, either side
        ("def f(p):\n    return p\n",
         "class V:\n    def __init__(s, x):\n        s.x = x\n"
         "    def __lt__(s, o):\n        return s.x < o\n"
         "    def __gt__(s, o):\n        return s.x > o\n"
         "assert f(V(1)) < 2\nassert 0 < f(V(1)) and not f(V(1)) < 1\n"),
        # chains, `not`, float tolerance, identity, a check() function as HumanEval writes it
        ("def f(x):\n    return x / 2\n",
         "assert 0 < f(1) <= 0.5 < 1\nassert not f(0) and abs(f(1) - 0.5) < 1e-9\n"),
        ("def f(x):\n    return None if x else [x]\n",
         "def check(candidate):\n    assert candidate(1) is None\n"
         "    assert candidate(0) == [0] != [1]\ncheck(f)\n"),
    ],
)  # fmt: skip
def test_honest_values_still_compare_as_before(runner: PythonRunner, code: str, tests: str) -> None:
    outcome = runner.run(Job(code, tests), LIMITS)
    assert (outcome.passed, outcome.total, outcome.kind) == (2, 2, None), outcome


def test_a_failing_assert_is_still_located_on_its_line(runner: PythonRunner) -> None:
    # the harness reads a traceback's frames itself (under its own flag) to name the line
    outcome = runner.run(Job(RIGHT, "assert add(1, 2) == 3\nassert add(1, 1) / 0\n"), LIMITS)
    assert (outcome.passed, outcome.total, outcome.kind) == (1, 2, "exception")
    assert outcome.detail.startswith("line 2: ZeroDivisionError"), outcome


def test_only_the_harness_own_true_passes_a_unit() -> None:
    # a record whose ok is "False" (a string), or whose unit is "0", is not the harness's
    nonce = "n0"
    lines = [
        '{"event": "started", "nonce": "n0"}',
        '{"event": "units", "total": 2, "nonce": "n0"}',
        '{"unit": "0", "ok": "False", "nonce": "n0"}',
        '{"unit": 1, "ok": "false", "nonce": "n0"}',
        '{"unit": 1, "ok": 1, "nonce": "n0"}',
        '{"event": "done", "nonce": "n0"}',
    ]
    got = Collected(("\n".join(lines) + "\n").encode(), ("\n".join(lines) + "\n").encode(),
                    0, False, False, 1.0)  # fmt: skip
    outcome = outcome_of(got, nonce)
    assert outcome.passed == 0 and outcome.total == 2, outcome


def test_the_executor_grades_a_gamed_answer_zero() -> None:
    # the grade the learner records: fenced answer text, the request's tests
    executor = CodeExecutor(SandboxSettings())
    if executor.unavailable() is not None:
        pytest.skip("no sandbox here")
    answer = f"```python\n{GAMES['patch_recorder_via_checker_in_globals']}```\n"
    grade = asyncio.run(
        executor.grade(tenant="t", task="code", prompt="add two numbers", content=answer,
                       request_tests=TESTS)
    )  # fmt: skip
    assert grade is not None and grade.grader == "execution"
    assert grade.score == 0.0, grade


@pytest.mark.parametrize(
    "code",
    [
        # fix24: an answer's subclass of a stdlib number is copied into its base type
        "from fractions import Fraction\nclass F(Fraction):\n    def __eq__(s, o):\n"
        "        return True\n    __ne__ = lambda s, o: False\n"
        "def add(a, b):\n    return F(7)\n",
        "from decimal import Decimal\nclass D(Decimal):\n    def __eq__(s, o):\n"
        "        return True\n    __ne__ = lambda s, o: False\n"
        "def add(a, b):\n    return D(7)\n",
        # patching Fraction itself (a Python class) makes the guard fail closed
        "from fractions import Fraction\nFraction.__eq__ = lambda s, o: True\n"
        "def add(a, b):\n    return Fraction(7)\n",
        # a class claiming the tests' comparison but defining its own
        "class V:\n    def __lt__(s, o):\n        return True\n    __eq__ = __lt__\n"
        "def add(a, b):\n    return V()\n",
    ],
)
def test_a_number_subclass_or_patched_number_passes_no_check(
    runner: PythonRunner, code: str
) -> None:
    outcome = runner.run(Job(code, TESTS), LIMITS)
    assert outcome.passed == 0, outcome
