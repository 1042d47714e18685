"""grade25: the sandbox games game24 left open, closed in the harness (the real jail).

An answer handed one of the tests' functions rebound the tests' names through its `__globals__`
(`want = 0` before `assert add(...) == want` read it) or read the expected values from the
tests' code (`__code__.co_consts`); any answer patched a stdlib module the tests import
(`math.isclose`, `operator.eq`, `sys.modules['math']`; patched, then restored once the tests had
imported the patched function); a `SimpleNamespace`, a `slice` or a `functools.cmp_to_key` key
holding the answer's object ran its `__eq__`; a `__repr__` writing the expected text passed a
doctest. Each turned a wrong answer into a pass on base (marked below). Controls: honest tests
that import, loop, rebind their own names and hand functions still pass, and the wrong answer
still fails as a wrong answer.
"""

from __future__ import annotations

import pytest

from arbiter.sandbox.python_runner import PythonRunner
from arbiter.sandbox.runner import Job, Limits
from tests.sandbox_here import sandbox_runner

LIMITS = Limits(wall_s=5.0, cpu_s=3)
_E = (
    "class E:\n    def __eq__(self, o):\n        return True\n"
    "    __hash__ = object.__hash__\n    def __repr__(self):\n        return '3'\n"
)
_TWICE = "def twice(x):\n    return 2 * x\n"


@pytest.fixture(scope="module")
def runner() -> PythonRunner:
    return sandbox_runner()


GAMES = {
    # the tests' name rebound through a handed function's globals
    "rebind_the_expected_name": (
        "def add(a, b, f):\n    f.__globals__['want'] = 0\n    return 0\n",
        _TWICE + "want = 3\nassert add(1, 2, twice) == want\n",
    ),
    # a builtin shadowed in the tests' globals, read by a later check
    "shadow_a_builtin_in_the_tests": (
        "def add(a, b, f):\n    f.__globals__['len'] = lambda x: 3\n    return [0]\n",
        _TWICE + "r = add(1, 2, twice)\nassert len(r) == 3\n",
    ),
    # the expected value read from the tests' own code
    "read_the_tests_constants": (
        "def add(a, b, f):\n"
        "    for c in f.__globals__['check'].__code__.co_consts:\n"
        "        if getattr(c, 'co_name', '') == '<lambda>':  # the assert's: 'Eq', 1, 2, 3\n"
        "            return [k for k in c.co_consts if type(k) is int][-1]\n",
        _TWICE + "def check(g):\n    assert g(1, 2, twice) == 3\ncheck(add)\n",
    ),
    # a stdlib function the tests use, patched by the answer
    "patch_math_isclose": (
        "import math\nmath.isclose = lambda *a, **k: True\ndef add(a, b):\n    return 0\n",
        "import math\nassert math.isclose(add(1, 2), 3)\n",
    ),
    "patch_operator_eq": (
        "import operator\noperator.eq = lambda a, b: True\ndef add(a, b):\n    return 0\n",
        "import operator\nassert operator.eq(add(1, 2), 3)\n",
    ),
    # patched for the tests' `from` import, restored before the check is written
    "patch_then_restore_isclose": (
        "import math\n_real = math.isclose\nmath.isclose = lambda *a, **k: True\n"
        "def add(a, b):\n    math.isclose = _real\n    return 0\n",
        "from math import isclose\nassert isclose(add(1, 2), 3)\n",
    ),
    # a module of its own in sys.modules under the stdlib's name
    "swap_sys_modules_math": (
        "import sys, types\nm = types.ModuleType('math')\nm.isclose = lambda *a, **k: True\n"
        "sys.modules['math'] = m\ndef add(a, b):\n    return 0\n",
        "import math\nassert math.isclose(add(1, 2), 3)\n",
    ),
    # C containers that compare by what they hold
    "simplenamespace_holding_the_answers_object": (
        _E + "import types\ndef add(a, b):\n    return types.SimpleNamespace(x=E())\n",
        "import types\nassert add(1, 2) == types.SimpleNamespace(x=3)\n",
    ),
    "slice_holding_the_answers_object": (
        _E + "def add(a, b):\n    return slice(E())\n",
        "assert add(1, 2) == slice(3)\n",
    ),
    "cmp_to_key_calling_the_answers_function": (
        "import functools\ndef add(a, b):\n    return functools.cmp_to_key(lambda x, y: 0)(0)\n",
        "import functools\nassert add(1, 2) == functools.cmp_to_key(lambda x, y: 0)(3)\n",
    ),
}


@pytest.mark.parametrize("name", sorted(GAMES))
def test_a_game_game24_left_open_passes_no_check(runner: PythonRunner, name: str) -> None:
    code, tests = GAMES[name]
    outcome = runner.run(Job(code, tests), LIMITS)
    assert outcome.passed == 0 and outcome.total >= 1, (name, outcome)
    assert outcome.kind in ("exception", "wrong_answer"), (name, outcome)


def test_a_repr_writing_the_expected_text_passes_no_doctest(runner: PythonRunner) -> None:
    job = Job(_E + "def add(a, b):\n    return E()\n", None, (("add(1, 2)", "3"),))
    outcome = runner.run(job, LIMITS)
    assert (outcome.passed, outcome.total) == (0, 1), outcome


# the same two added through a str and an int subclass's `__repr__`
@pytest.mark.parametrize(
    "code",
    [
        "class S(str):\n    def __repr__(self):\n        return '3'\n"
        "def add(a, b):\n    return S('0')\n",
        "class I(int):\n    def __repr__(self):\n        return '3'\n"
        "def add(a, b):\n    return I(0)\n",
    ],
)
def test_a_builtin_subclass_repr_passes_no_doctest(runner: PythonRunner, code: str) -> None:
    outcome = runner.run(Job(code, None, (("add(1, 2)", "3"),)), LIMITS)
    assert (outcome.passed, outcome.total) == (0, 1), outcome


RIGHT = "def add(a, b, f=None):\n    return a + b\n"


@pytest.mark.parametrize(
    "tests",
    [
        # imports of every shape, used at module level and in a function
        "import math, os.path\nimport collections.abc as cabc\n"
        "from math import isclose as close, pi\nfrom collections import Counter\n"
        "assert close(add(1, 2), 3) and math.isclose(pi, 3.14159, rel_tol=1e-3)\n"
        "def check(g):\n    import operator\n    from functools import reduce\n"
        "    assert reduce(operator.add, [g(1, 1), 1]) == 3 and os.path.join('a') == 'a'\n"
        "check(add)\nassert isinstance({}, cabc.Mapping) and Counter('aa') == {'a': 2}\n",
        # a loop rebinding its names, a with block, except .. as, a name rebound by the tests
        "cases = [(1, 2, 3), (2, 2, 4)]\nfor a, b, want in cases:\n    assert add(a, b) == want\n"
        "want = 7\nwant += 1\nassert add(4, 4) == want\ntry:\n    1 / 0\n"
        "except ZeroDivisionError as err:\n    e = err\nassert add(0, 0) == 0 and e is not None\n",
        # a global the tests' own function rebinds, and a handed function
        "seen = 0\ndef count(x):\n    global seen\n    seen += 1\n    return x\n"
        "assert add(count(1), 2, count) == 3\nassert seen == 1\n",
        # a test function, a class of the tests, match statement
        "class P:\n    def __init__(s, x):\n        s.x = x\n"
        "def test_p():\n    assert add(P(1).x, 1) == 2\n"
        "match add(1, 1):\n    case 2 as two:\n        assert two == 2\n"
        "    case _:\n        raise AssertionError\n",
    ],
)
def test_honest_tests_still_pass(runner: PythonRunner, tests: str) -> None:
    outcome = runner.run(Job(RIGHT, tests), LIMITS)
    assert outcome.kind is None and outcome.passed == outcome.total >= 2, outcome
    wrong = runner.run(Job("def add(a, b, f=None):\n    return a - b\n", tests), LIMITS)
    assert wrong.passed < wrong.total and wrong.kind in ("wrong_answer", "exception"), wrong
    assert "tampering" not in wrong.detail, wrong


@pytest.mark.parametrize(
    ("code", "tests"),
    [
        # identity-compared C values, C values with no objects inside, plain containers
        ("def f():\n    return len, int, (1, 2)\n", "assert f() == (len, int, (1, 2))\n"
         "assert type(f()[2]) == tuple and f()[0] != print\n"),
        ("import types, datetime\ndef f():\n    return types.SimpleNamespace(a=[1]), slice(1, 2)\n",
         "import types\nassert f() == (types.SimpleNamespace(a=[1]), slice(1, 2))\n"
         "assert {'a': 1}.keys() == {'a'} and f()[1] != slice(2)\n"),
        # the answer imports a stdlib submodule of a package the tests import (a new name there)
        ("import email\ndef f():\n    import email.utils\n    return 1\n",
         "import email\nassert f() == 1\nassert email.utils is not None\n"),
    ],
)  # fmt: skip
def test_honest_values_and_imports_still_compare(
    runner: PythonRunner, code: str, tests: str
) -> None:
    outcome = runner.run(Job(code, tests), LIMITS)
    assert (outcome.passed, outcome.total, outcome.kind) == (2, 2, None), outcome


def test_an_honest_doctest_still_passes(runner: PythonRunner) -> None:
    job = Job(
        "def f(n):\n    print('n', n)\n    return [n, str(n)]\n",
        None,
        (("f(1)", "n 1\n[1, '1']"), ("f(2) == [2, '2']", "True")),
    )
    outcome = runner.run(job, LIMITS)
    assert (outcome.passed, outcome.total, outcome.kind) == (2, 2, None), outcome


def test_tests_importing_traceback_leave_format_exc_working(runner: PythonRunner) -> None:
    # the tests' modules are imported under the hook, which learns the traceback module's code
    # as importlib runs it (imported before the hook, format_exc() in the answer was refused)
    code = (
        "import traceback\ndef add(a, b):\n    try:\n        1 / 0\n    except ZeroDivisionError:\n"
        "        assert 'ZeroDivisionError' in traceback.format_exc()\n    return a + b\n"
    )
    tests = "import logging, traceback\nassert add(1, 2) == 3\nassert add(2, 2) == 4\n"
    outcome = runner.run(Job(code, tests), LIMITS)
    assert (outcome.passed, outcome.total, outcome.kind) == (2, 2, None), outcome


def test_stdlib_subclass_reprs_in_doctests_compare_by_value(runner: PythonRunner) -> None:
    # their text is the type's name around literals: those must equal the plain value
    code = (
        "from collections import Counter, OrderedDict, namedtuple\nP = namedtuple('P', 'x y')\n"
        "def f(s):\n    return Counter(s)\ndef g():\n    return P(1, 2)\n"
        "def h():\n    return OrderedDict(a=1)\n"
        "class Lie(dict):\n    def __repr__(self):\n        return \"Counter({'a': 2})\"\n"
        "Lie.__name__ = 'Counter'\ndef k():\n    return Lie()\n"
    )
    examples = (
        ("f('aa')", "Counter({'a': 2})"),
        ("g()", "P(x=1, y=2)"),
        ("h()", "OrderedDict([('a', 1)])"),
        ("k()", "Counter({'a': 2})"),  # named so, and empty: fails
    )
    outcome = runner.run(Job(code, None, examples), LIMITS)
    assert (outcome.passed, outcome.total) == (3, 4), outcome
