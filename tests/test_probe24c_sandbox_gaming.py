"""probe24c: an answer that games the code grader from inside the sandbox gets no pass.

The answer runs in the harness's own interpreter, so it could reach the harness's recorder (a
frame, a traceback, the garbage collector, `import __main__`, the checker in its globals, a
tracer, a signal handler's frame) or the run's nonce (its own or its parent's memory through a
child interpreter), or patch the builtins the harness writes its records with: every one of
tests/probe24c_rig.GAMES turned a wrong `add` into 2/2 passed before the harness's audit hook
(sandbox/harness.py _guard). Controls: the honest wrong answer fails and the right one passes,
and answers that import what the hook must leave working still pass.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from arbiter.config import SandboxSettings
from arbiter.sandbox.bwrap import Collected
from arbiter.sandbox.executor import CodeExecutor
from arbiter.sandbox.python_runner import PythonRunner, outcome_of
from arbiter.sandbox.runner import Job, Limits
from tests.probe24c_rig import GAMES, TESTS, WRONG

LIMITS = Limits(wall_s=5.0, cpu_s=3)
RIGHT = "def add(a, b):\n    return a + b\n"


@pytest.fixture(scope="module")
def runner() -> PythonRunner:
    r = PythonRunner()
    why = r.unavailable()
    if why is not None:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"the sandbox must work in CI: {why}")
        pytest.skip(f"no sandbox here: {why}")
    return r


@pytest.mark.parametrize("name", sorted(GAMES))
def test_a_gamed_answer_passes_no_check(runner: PythonRunner, name: str) -> None:
    outcome = runner.run(Job(GAMES[name], TESTS), LIMITS)
    assert outcome.passed == 0, (name, outcome)
    assert outcome.kind in ("exception", "wrong_answer"), (name, outcome)


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
        # the stdlib's callers of sys._getframe take the ValueError the hook raises
        "import warnings\nwarnings.warn('w')\nimport logging\nlogging.getLogger('a').warning('x')",
    ],
)
def test_answers_using_the_stdlib_still_pass(runner: PythonRunner, head: str) -> None:
    outcome = runner.run(Job(f"{head}\n{RIGHT}", TESTS), LIMITS)
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
