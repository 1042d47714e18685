"""grade26: the tests' data an answer could still read in the jail, and honest answers kept.

CPython 3.11 audits no read of a function's `__globals__` or `__closure__` nor of a generator's
or coroutine's code, and an answer could add an audit hook of its own, handed every event's
arguments (the tests' namespace, their code). Each game below returned the tests' expected
value and passed on base26; the harness now refuses them (`harness_guard._hold`, the
`sys.addaudithook` event). Controls: an answer's own function, closure and generator, the tests'
own reads, `typing`, `asyncio`, `dataclasses`, `functools`, `dis` still work.
"""

from __future__ import annotations

import pytest

from arbiter.sandbox import python_runner
from arbiter.sandbox.bwrap import Collected
from arbiter.sandbox.python_runner import LOST_COUNT, PythonRunner, outcome_of
from arbiter.sandbox.runner import Job, Limits
from tests.sandbox_here import sandbox_runner

LIMITS = Limits(wall_s=5.0, cpu_s=3)
_TWICE = "def twice(x):\n    return 2 * x\n"


@pytest.fixture(scope="module")
def runner() -> PythonRunner:
    return sandbox_runner()


CHEATS = {
    "handed_function_globals": (
        "def add(a, b, f):\n    return f.__globals__['want']\n",
        _TWICE + "want = 3\nassert add(1, 2, twice) == want\n",
    ),
    "handed_closure_cell": (
        "def add(a, b, f):\n    return f.__closure__[0].cell_contents\n",
        "def mk():\n    want = 3\n    def g():\n        return want\n    return g\n"
        "assert add(1, 2, mk()) == 3\n",
    ),
    "inspect_getmembers_globals": (
        "import inspect\n"
        "def add(a, b, f):\n    return dict(inspect.getmembers(f))['__globals__']['want']\n",
        "want = 3\ndef twice(x):\n    return want * x\nassert add(1, 2, twice) == want\n",
    ),
    # a class of the tests found without being handed anything, then its method's globals
    "subclasses_then_method_globals": (
        "def add(a, b):\n    for c in object.__subclasses__():\n"
        "        if c.__name__ == 'Case':\n            return c.m.__globals__['want']\n"
        "    return 0\n",
        "class Case:\n    def m(self):\n        pass\nwant = 3\nassert add(1, 2) == want\n",
    ),
    # a tests' generator's code: its constants
    "handed_generator_code": (
        "def add(a, b, g):\n    return [c for c in g.gi_code.co_consts if type(c) is int][-1]\n",
        "def gen():\n    yield 0\n    yield 3\nassert add(1, 2, gen()) == 3\n",
    ),
    # an audit hook of the answer's: the harness's own event hands it the tests' namespace
    "own_audit_hook_reads_the_namespace": (
        "import sys\nseen = []\ndef h(e, a):\n    if e == 'arbiter.watch':\n"
        "        seen.append(a[0][0])\nsys.addaudithook(h)\n"
        "def add(a, b):\n    return seen[0]['want'] if seen else 0\n",
        "want = 3\nassert add(1, 2) == want\n",
    ),
    # ... and the tests' compiled code (their constants) as the harness runs it
    "own_audit_hook_reads_the_tests_code": (
        "import sys\nseen = []\ndef h(e, a):\n    if e == 'exec':\n        seen.append(a[0])\n"
        "sys.addaudithook(h)\n"
        "def add(a, b):\n    return [c for c in seen[-1].co_consts if type(c) is int][-1]\n",
        "assert add(1, 2) == 3\n",
    ),
}


@pytest.mark.parametrize("name", sorted(CHEATS))
def test_an_answer_reading_the_tests_data_passes_no_check(runner: PythonRunner, name: str) -> None:
    code, tests = CHEATS[name]
    outcome = runner.run(Job(code, tests), LIMITS)
    assert outcome.passed == 0 and outcome.total == 1, (name, outcome)
    assert outcome.kind in ("exception", "wrong_answer"), (name, outcome)


HONEST = {
    "answer_reads_its_own_globals": (
        "K = 3\ndef add(a, b):\n    return add.__globals__['K'] + a + b - 3\n",
        "assert add(1, 2) == 3\n",
    ),
    "answer_inspects_its_own_closure": (
        "import inspect\ndef mk():\n    k = 1\n    def f(a, b):\n        return a + b * k\n"
        "    return f\nadd = mk()\n"
        "def get(a, b):\n    return inspect.getclosurevars(add).nonlocals['k'] * add(a, b)\n",
        "assert get(1, 2) == 3\n",
    ),
    "tests_read_their_own_function_and_type_hints": (
        "def add(a: int, b: int) -> int:\n    return a + b\n",
        "import typing\ndef chk(x: int) -> int:\n    return x\n"
        "assert typing.get_type_hints(add)['a'] is int\n"
        "assert chk.__globals__['chk'] is chk and chk(add(1, 2)) == 3\n",
    ),
    "tests_run_their_coroutine": (
        "async def add(a, b):\n    return a + b\n",
        "import asyncio\nasync def main():\n    return await add(1, 2)\n"
        "assert asyncio.run(main()) == 3\n",
    ),
    "tests_hand_a_generator": (
        "def total(g):\n    return sum(g)\n",
        "def gen():\n    yield 1\n    yield 2\nassert total(gen()) == 3\n"
        "assert total(x for x in [1, 2]) == 3\n",
    ),
    "answer_uses_dataclasses_functools_dis": (
        "import dis, functools\nfrom dataclasses import dataclass, field\n@dataclass\n"
        "class P:\n    x: int\n    y: list = field(default_factory=list)\n"
        "@functools.singledispatch\ndef add(a, b):\n    return P(a + b).x\n"
        "@add.register\ndef _(a: str, b):\n    return a * b\n"
        "def g():\n    yield 1\ndis.Bytecode(g())\n",
        "assert add(1, 2) == 3\nassert add('a', 2) == 'aa'\n",
    ),
}


@pytest.mark.parametrize("name", sorted(HONEST))
def test_honest_introspection_still_passes(runner: PythonRunner, name: str) -> None:
    code, tests = HONEST[name]
    outcome = runner.run(Job(code, tests), LIMITS)
    assert outcome.kind is None and outcome.passed == outcome.total >= 1, (name, outcome)


# doctests whose expected text is a repr no plain value writes: failed on base26 (a correct
# answer graded wrong); the same text against a wrong value still fails
_SLOTS = (
    "from dataclasses import dataclass\n@dataclass(slots=True)\nclass P:\n    x: int\n    y: int\n"
)
_FLAG = "import enum\nclass Perm(enum.Flag):\n    R = 4\n    W = 2\n    X = 1\n"
DOCTESTS = {
    "slots_dataclass": (_SLOTS + "def f():\n    return P(1, 2)\n",
                        _SLOTS + "def f():\n    return P(2, 1)\n", "P(x=1, y=2)"),
    "slots_dataclass_in_a_list": (_SLOTS + "def f():\n    return [P(1, 2)]\n",
                                  _SLOTS + "def f():\n    return [P(1, 3)]\n", "[P(x=1, y=2)]"),
    "flag_no_member_names": (_FLAG + "def f():\n    return Perm(0)\n",
                             _FLAG + "def f():\n    return Perm.X\n", "<Perm: 0>"),
    "flag_members_in_a_list": (_FLAG + "def f():\n    return [Perm.R, Perm.R | Perm.W]\n",
                               _FLAG + "def f():\n    return [Perm.R, Perm.W]\n",
                               "[<Perm.R: 4>, <Perm.R|W: 6>]"),
    "enum_member_in_a_dict": (
        "import enum\nclass C(enum.Enum):\n    RED = 'r'\ndef f():\n    return {'a': C.RED}\n",
        "import enum\nclass C(enum.Enum):\n    RED = 'r'\n    BLUE = 'b'\n"
        "def f():\n    return {'a': C.BLUE}\n",
        "{'a': <C.RED: 'r'>}",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(DOCTESTS))
def test_a_repr_doctest_passes_the_right_value_only(runner: PythonRunner, name: str) -> None:
    right, wrong, expected = DOCTESTS[name]
    outcome = runner.run(Job(right, None, (("f()", expected),)), LIMITS)
    assert (outcome.passed, outcome.total, outcome.kind) == (1, 1, None), (name, outcome)
    outcome = runner.run(Job(wrong, None, (("f()", expected),)), LIMITS)
    assert (outcome.passed, outcome.kind) == (0, "wrong_answer"), (name, outcome)


def test_a_slots_class_whose_repr_lies_fails(runner: PythonRunner) -> None:
    code = (
        "class P:\n    __slots__ = ('x', 'y')\n    def __init__(s, x, y):\n"
        "        s.x, s.y = x, y\n    def __repr__(s):\n        return 'P(x=1, y=2)'\n"
        "def f():\n    return P(5, 6)\n"
    )
    outcome = runner.run(Job(code, None, (("f()", "P(x=1, y=2)"),)), LIMITS)
    assert (outcome.passed, outcome.kind) == (0, "wrong_answer"), outcome


def test_the_harness_runs_compiled_once_and_from_source_when_it_cannot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # grade26: compiling the ~75 KB harness source was most of a run (the jail writes no
    # bytecode); the sandbox's interpreter compiles it once and each run loads the marshalled
    # code from stdin. Where it cannot, each run compiles the source as before.
    runner = sandbox_runner()
    job = Job("def add(a, b):\n    return a + b\n", "assert add(1, 2) == 3\n")
    assert runner._harness_code() is not None
    assert "marshal.loads" in runner._argv(LIMITS, runner._harness_code())[-1]
    assert runner.run(job, LIMITS).passed == 1
    monkeypatch.setattr(python_runner, "_compile_harness", lambda interpreter: None)
    fallback = PythonRunner()
    assert fallback.unavailable() is None and fallback._harness_code() is None
    assert fallback._argv(LIMITS, None)[-1] == python_runner.HARNESS_SOURCE
    outcome = fallback.run(job, LIMITS)
    assert (outcome.passed, outcome.total, outcome.kind) == (1, 1, None), outcome


# an outsider's games on the result pipe (its number is the harness's sys.argv[-1])
PIPE_GAMES = {
    # a partial line ahead of the units record, then ahead of each check it would fail: those
    # records were dropped as garbage and the rest counted as all (1/1 passed on base26)
    "hide_the_checks_it_fails": (
        "import os, sys\nFD = int(sys.argv[-1])\nos.write(FD, b'x')\n"
        "def add(a, b):\n    if a == 1:\n        return 3\n    os.write(FD, b'x')\n    return 0\n"
    ),
    # a forked child was a second harness holding the pipe and the nonce: its record of a
    # unit came after the parent's (here the right guess last: unit 0 passed on base26); now a
    # child writes no record and the parent's exit leaves the run unfinished
    "fork_guesses": (
        "import os\ndef add(a, b):\n    for guess in (0, a + b if a == 1 else 0):\n"
        "        pid = os.fork()\n        if pid == 0:\n            return guess\n"
        "        os.waitpid(pid, 0)\n    os._exit(0)\n"
    ),
}


@pytest.mark.parametrize("name", sorted(PIPE_GAMES))
def test_a_game_on_the_result_pipe_passes_nothing_it_fails(runner: PythonRunner, name: str) -> None:
    tests = "assert add(1, 2) == 3\nassert add(2, 2) == 4\nassert add(5, 5) == 10\n"
    outcome = runner.run(Job(PIPE_GAMES[name], tests), LIMITS)
    assert outcome.total == 3 and outcome.passed <= 1, (name, outcome)
    if name == "fork_guesses":
        assert outcome.passed == 0 and outcome.kind == "exception", outcome


def _collected(*lines: str) -> Collected:
    data = ("\n".join(lines) + "\n").encode()
    return Collected(b"", data, 0, False, False, 1.0)


def test_a_unit_failed_once_stays_failed_and_a_count_is_required() -> None:
    n = '"nonce": "n"'
    started, done = f'{{"event": "started", {n}}}', f'{{"event": "done", {n}}}'
    units = f'{{"event": "units", "total": 1, {n}}}'
    fail = f'{{"unit": 0, "ok": false, "kind": "wrong_answer", "line": 1, {n}}}'
    ok = f'{{"unit": 0, "ok": true, {n}}}'
    assert outcome_of(_collected(started, units, ok, done), "n").passed == 1
    assert outcome_of(_collected(started, units, fail, ok, done), "n").passed == 0
    lost = outcome_of(_collected(started, ok, done), "n")
    assert (lost.passed, lost.detail) == (0, LOST_COUNT), lost
