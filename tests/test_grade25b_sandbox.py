"""grade25b: honest tests the hardened harness (grade25) graded wrong, and the games still closed.

A user's tests may change their own namespace: a walrus in an assert (it was bound in the
assert's lambda: NameError), an assert in a class body (the lambda could not see the class's
names), ``globals()['want'] = 3``, ``globals()[name] = v``, ``exec('q = 3')``, ``vars().update``
(read as the answer tampering). Each honest case passes a right answer and fails a wrong one as
a wrong answer; an answer rebinding the tests' names around each of them still fails.
"""

from __future__ import annotations

import pytest

from arbiter.sandbox.python_runner import PythonRunner
from arbiter.sandbox.runner import Job, Limits
from tests.sandbox_here import sandbox_runner

LIMITS = Limits(wall_s=5.0, cpu_s=3)
RIGHT = "def add(a, b, f=None):\n    return a + b\n"
WRONG = "def add(a, b, f=None):\n    return a - b\n"
_TWICE = "def twice(x):\n    return 2 * x\n"


@pytest.fixture(scope="module")
def runner() -> PythonRunner:
    return sandbox_runner()


HONEST = {
    # a walrus in an assert binds the tests' name, and the assert's record follows in it
    "walrus_in_an_assert": "assert (x := add(1, 2)) == 3\nassert x == 3\n",
    "walrus_in_a_comprehension": "assert [(z := add(i, 1)) for i in range(2)] == [1, 2]\n"
    "assert z == 2\n",
    "walrus_then_a_check_in_one_call": "def check(v, w):\n    assert v == w\n"
    "check(add(1, 2), (w := 3))\nassert w == 3\n",
    "walrus_in_a_match_guard": "match add(1, 2):\n    case x if (y := x + 1) == 4:\n"
    "        assert add(x, y) == 7\n    case _:\n        raise AssertionError\n"
    "assert x == 3 and y == 4\n",
    # an assert in a class body sees the class's names
    "assert_in_a_class_body": "class K:\n    v = add(1, 1)\n    assert v == 2\nassert K.v == 2\n",
    # the tests writing their namespace by a named key, a computed key, exec, vars()
    "globals_named_key": "globals()['want'] = 3\nassert add(1, 2) == want\n",
    "globals_computed_key": "for name, v in [('a', 3), ('b', 5)]:\n    globals()[name] = v\n"
    "assert add(1, 2) == a\nassert add(2, 3) == b\n",
    "globals_in_a_function": "def setw(n, v):\n    globals()[n] = v\nsetw('want', 3)\n"
    "assert add(1, 2) == want\n",
    "exec_in_the_tests": "exec('q = 3')\nassert add(1, 2) == q\n",
    "vars_update": "vars().update(k=3)\nassert add(1, 2) == k\n",
    # other rebinding a test file does: a top-level loop, del, +=, a decorator, a global helper
    "loop_del_augassign_decorator": "reg = []\ndef r(f):\n    reg.append(f)\n    return f\n"
    "@r\ndef test_x():\n    assert add(1, 1) == 2\n"
    "for i in range(3):\n    assert add(i, 1) == i + 1\n"
    "n = 1\nn += add(1, 1)\ndel i\nassert n == 3 and len(reg) == 1\n",
}


@pytest.mark.parametrize("name", sorted(HONEST))
def test_honest_tests_rebinding_their_names_pass(runner: PythonRunner, name: str) -> None:
    tests = HONEST[name]
    outcome = runner.run(Job(RIGHT, tests), LIMITS)
    assert outcome.kind is None and outcome.passed == outcome.total >= 1, (name, outcome)
    wrong = runner.run(Job(WRONG, tests), LIMITS)
    assert wrong.passed < wrong.total, (name, wrong)
    assert wrong.kind in ("wrong_answer", "exception") and "tampering" not in wrong.detail, wrong


_REBIND = "def add(a, b, f):\n    f.__globals__['want'] = 0\n    return 0\n"
GAMES = {
    # the answer rebinds `want` in the statement holding the tests' walrus
    "rebind_beside_a_walrus": (
        _REBIND,
        _TWICE + "want = 3\nassert add(1, 2, twice) == want and (x := 1)\n",
    ),
    # the tests named `want` by globals(): theirs, not the answer's, to change later
    "rebind_a_name_the_tests_wrote_by_globals": (
        _REBIND,
        _TWICE + "globals()['want'] = 3\nr = add(1, 2, twice)\nassert r == want\n",
    ),
    # a tests' function writes computed keys: new names are the tests', a rebound one is not
    "rebind_when_a_function_writes_computed_keys": (
        _REBIND,
        _TWICE + "def setv(n, v):\n    globals()[n] = v\nsetv('want', 3)\n"
        "r = add(1, 2, twice)\nassert r == want\n",
    ),
    "shadow_a_builtin_when_a_function_writes_computed_keys": (
        "def add(a, b, f):\n    f.__globals__['len'] = lambda x: 3\n    return [0]\n",
        _TWICE + "def setv(n, v):\n    globals()[n] = v\nsetv('want', 3)\n"
        "r = add(1, 2, twice)\nassert len(r) == want\n",
    ),
}


@pytest.mark.parametrize("name", sorted(GAMES))
def test_the_answer_rebinding_the_tests_names_still_fails(runner: PythonRunner, name: str) -> None:
    code, tests = GAMES[name]
    outcome = runner.run(Job(code, tests), LIMITS)
    assert outcome.passed == 0 and outcome.total >= 1, (name, outcome)
    assert outcome.kind in ("exception", "wrong_answer"), (name, outcome)


_CLASSES = (
    "import enum, dataclasses, collections\n"
    "class Color(enum.Enum):\n    RED = 1\n    BLUE = 2\n"
    "@dataclasses.dataclass\nclass P:\n    x: int\n    y: int\n"
    "def c(n):\n    return Color(n)\n"
    "def p(a, b):\n    return P(a, b)\n"
    "def d(s):\n    out = collections.defaultdict(int)\n    for ch in s:\n        out[ch] += 1\n"
    "    return out\n"
    "def dl():\n    return collections.defaultdict(list, {'a': [1]})\n"
    # lying reprs: another class, a dataclass's subclass, a `__dict__` property under P's name
    "class Lie:\n    def __repr__(self):\n        return '<Color.RED: 1>'\n"
    "class Lie2(P):\n    def __repr__(self):\n        return 'P(x=1, y=2)'\n"
    "class Prop:\n    @property\n    def __dict__(self):\n        return {'x': 1, 'y': 2}\n"
    "Prop.__name__ = 'P'\n"
    "def lie(k):\n    return [Lie(), Lie2(5, 6), Prop()][k]\n"
)
_DD = "defaultdict(<class 'int'>, {'a': 2, 'b': 1})"
REPRS = [
    # honest: an Enum member, a dataclass, a defaultdict (all failed on grade25; the dataclass
    # did not even load: its module was not in sys.modules)
    (("c(1)", "<Color.RED: 1>"), True),
    (("p(1, 2)", "P(x=1, y=2)"), True),
    (("d('aab')", _DD), True),
    (("dl()", "defaultdict(<class 'list'>, {'a': [1]})"), True),
    # wrong values under the same texts, and lying reprs
    (("c(2)", "<Color.RED: 1>"), False),
    (("p(1, 3)", "P(x=1, y=2)"), False),
    (("d('ab')", _DD), False),
    (("dl()", "defaultdict(<class 'int'>, {'a': [1]})"), False),
    (("lie(0)", "<Color.RED: 1>"), False),
    (("lie(1)", "P(x=1, y=2)"), False),
    (("lie(2)", "P(x=1, y=2)"), False),
]


def test_doctests_read_what_a_stdlib_repr_states(runner: PythonRunner) -> None:
    examples = tuple(example for example, _ in REPRS)
    outcome = runner.run(Job(_CLASSES, None, examples), LIMITS)
    honest = sum(ok for _, ok in REPRS)
    assert (outcome.passed, outcome.total) == (honest, len(REPRS)), outcome
    for example, ok in REPRS:  # which ones: each alone
        alone = runner.run(Job(_CLASSES, None, (example,)), LIMITS)
        assert alone.passed == int(ok), (example, alone)
