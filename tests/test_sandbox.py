"""Execution grading: what is run (code from the answer), against what (request, operator or
doctest checks), the grade (fraction passed and failure kind), the queue, and the learner's use
of it. The escape suite is tests/test_sandbox_escapes.py."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter.alerts import AlertRules
from arbiter.config import SandboxSettings
from arbiter.errors import InvalidRequest
from arbiter.learning import Answered, Learner
from arbiter.records import GradeRecord
from arbiter.routing import PoolModel, Router, RouterParams
from arbiter.sandbox.bwrap import Bubblewrap
from arbiter.sandbox.executor import CodeExecutor
from arbiter.sandbox.extract import code_of, decode_tests_header, doctests_of
from arbiter.sandbox.python_runner import PythonRunner
from arbiter.sandbox.request_tests import request_tests
from arbiter.sandbox.runner import Job, Limits
from tests.inproc import sidecar_in_process
from tests.sandbox_here import sandbox_runner

LIMITS = Limits(wall_s=5.0, cpu_s=3)


@pytest.fixture(scope="module")
def runner() -> PythonRunner:
    return sandbox_runner()


# --- what is run ---------------------------------------------------------------------------


def test_code_of_takes_the_biggest_python_block_and_the_last_on_a_tie() -> None:
    answer = (
        "Here:\n```python\ndef f(x):\n    return x + 1\n```\nUsage:\n```python\nf(1)\n```\n"
        '```json\n{"not": "code", "but": "much longer than the function above is"}\n```'
    )
    assert code_of(answer) == "def f(x):\n    return x + 1\n"
    assert code_of("```py\na = 1\n```\n```py\nb = 2\n```") == "b = 2\n"


def test_code_of_reads_unfenced_programs_and_skips_prose_and_json() -> None:
    assert code_of("def f():\n    return 1\n") == "def f():\n    return 1\n"
    assert code_of("The answer is that you should loop.") is None
    assert code_of('```\n{"a": 1}\n```') is None
    assert code_of("```bash\nrm -rf /\n```") is None
    assert code_of("```\nfunction add(a, b) { return a + b; }\n```") is None  # untagged JS
    assert code_of("```\ndef add(a, b):\n    return a + b\n```") == ADD


def test_doctests_are_read_from_the_prompt() -> None:
    prompt = (
        "def add(a, b):\n"
        '    """Add.\n'
        "    >>> add(1, 2)\n"
        "    3\n"
        "    >>> for i in range(2):\n"
        "    ...     print(add(i, i))\n"
        "    0\n"
        "    2\n"
        "    >>> add(0, 0)  # no output shown: checks nothing\n"
        '    """\n'
    )
    assert doctests_of(prompt) == (
        ("add(1, 2)", "3"),
        ("for i in range(2):\n    print(add(i, i))", "0\n2"),
    )
    assert doctests_of("no examples here") == ()


def test_the_tests_header_is_base64_or_one_line() -> None:
    source = "assert f(1) == 2\nassert f(2) == 3\n"
    encoded = "base64:" + base64.b64encode(source.encode()).decode()
    assert decode_tests_header(encoded) == source
    assert decode_tests_header("assert f(1) == 2") == "assert f(1) == 2"
    with pytest.raises(ValueError, match="base64"):
        decode_tests_header("base64:%%%")


def test_request_tests_come_from_the_header_or_the_body_and_never_go_upstream() -> None:
    body: dict[str, Any] = {"model": "auto", "arbiter": {"tests": "assert True"}}
    assert request_tests({}, body) == "assert True"
    assert "arbiter" not in body  # an upstream would refuse the unknown field
    body = {"arbiter": {"tests": "assert 1"}}
    assert request_tests({"x-arbiter-tests": "assert 2"}, body) == "assert 2"
    for bad in ({"arbiter": "x"}, {"arbiter": {"tests": 3}}, {"arbiter": {"tests": "a\x00"}}):
        with pytest.raises(InvalidRequest):
            request_tests({}, dict(bad))
    with pytest.raises(InvalidRequest) as err:
        request_tests({"x-arbiter-tests": "base64:!!"}, {})
    assert err.value.param == "x-arbiter-tests"


# --- the grade -----------------------------------------------------------------------------

ADD = "def add(a, b):\n    return a + b\n"


@pytest.mark.parametrize(
    ("code", "tests", "passed", "total", "kind"),
    [
        (ADD, "assert add(1, 2) == 3\nassert add(2, 2) == 4\n", 2, 2, None),
        ("def add(a, b):\n    return a * b\n", "assert add(1, 2) == 3\nassert add(2, 2) == 4\n",
         1, 2, "wrong_answer"),
        ("def add(a, b)\n    return a\n", "assert add(1, 2) == 3\n", 0, 1, "syntax"),
        ("def add(a, b):\n    return a / 0\n", "assert add(1, 2) == 3\n", 0, 1, "exception"),
        ("raise ImportError('no numpy')\n", "assert add(1, 2) == 3\n", 0, 1, "exception"),
        ("def add(a, b):\n    return add(a, b)\n", "assert add(1, 2) == 3\n", 0, 1,
         "resource_limit"),
        ("def add(a, b):\n    while True:\n        pass\n", "assert add(1, 2) == 3\n", 0, 1,
         "timeout"),
        # HumanEval's shape: a check(candidate) function, called by the tests
        (ADD, "def check(candidate):\n    assert candidate(1, 1) == 2\n"
              "    for i in range(3):\n        assert candidate(i, 0) == i\ncheck(add)\n", 2, 2,
         None),
        # pytest's shape: test_* functions, one unit each besides their asserts
        (ADD, "def test_one():\n    assert add(1, 1) == 2\ndef test_two():\n    add(None, 1)\n",
         2, 3, "exception"),
        # the tests stop at an exception outside an assert: the asserts after it fail
        (ADD, "assert add(1, 1) == 2\nadd(None, 1)\nassert add(2, 2) == 4\n", 1, 2,
         "exception"),
    ],
)  # fmt: skip
def test_outcome_is_the_fraction_passed_and_the_failure_kind(
    runner: PythonRunner, code: str, tests: str, passed: int, total: int, kind: str | None
) -> None:
    outcome = runner.run(Job(code, tests), LIMITS)
    assert (outcome.passed, outcome.total, outcome.kind) == (passed, total, kind), outcome


def test_doctest_examples_are_checked(runner: PythonRunner) -> None:
    job = Job(
        "def pair(x):\n    return [x, x]\n",
        None,
        (("pair(1)", "[1, 1]"), ("print(pair(2))", "[2, 2]"), ("pair(3)", "[3]"),
         ("pair()", "Traceback (most recent call last):\n...\nTypeError: missing"),
         ("pair(0.5)", "[0.5, 0.5]")),
    )  # fmt: skip
    outcome = runner.run(job, LIMITS)
    assert (outcome.passed, outcome.total, outcome.kind) == (4, 5, "wrong_answer")


def test_result_lines_without_the_run_nonce_are_ignored(runner: PythonRunner) -> None:
    forge = (
        "import os, sys, json\n"
        "fd = int(sys.argv[1])\n"
        "for unit in range(3):\n"
        "    os.write(fd, (json.dumps({'unit': unit, 'ok': True, 'nonce': 'guess'}) + '\\n')"
        ".encode())\n"
        'os.write(fd, b\'{"event": "done", "nonce": "guess"}\\n\')\n'
        "def add(a, b):\n    return 0\n"
    )
    outcome = runner.run(Job(forge, "assert add(1, 2) == 3\n"), LIMITS)
    assert (outcome.passed, outcome.kind) == (0, "wrong_answer")


def test_tests_that_do_not_parse_grade_nothing(runner: PythonRunner) -> None:
    executor = CodeExecutor(SandboxSettings(wall_s=5.0, cpu_s=3), runner)
    grade = asyncio.run(
        executor.grade(
            tenant="t", task="code", prompt="", content=ADD, request_tests="assert (((\n"
        )
    )
    assert grade is None
    assert executor.counts["bad_tests"] == 1


# --- the executor --------------------------------------------------------------------------


def test_checks_come_from_the_request_then_the_operator_then_doctests(tmp_path: Path) -> None:
    (tmp_path / "code.py").write_text("assert add(1, 1) == 2\n")
    (tmp_path / "acme.py").write_text("assert add(2, 2) == 4\n")
    executor = CodeExecutor(
        SandboxSettings(
            tests={"code": str(tmp_path / "code.py"), "acme/code": str(tmp_path / "acme.py")}
        )
    )
    prompt = ">>> add(1, 2)\n3\n"
    picked = executor.checks_for("t", "code", prompt, "assert 1")
    assert picked is not None and picked.source == "request"
    picked = executor.checks_for("acme", "code", prompt, None)
    assert picked is not None and (picked.source, picked.tests) == (
        "operator",
        "assert add(2, 2) == 4\n",
    )
    picked = executor.checks_for("t", "code", prompt, None)
    assert picked is not None and picked.source == "operator"
    plain = CodeExecutor(SandboxSettings())
    picked = plain.checks_for("t", "code", prompt, None)
    assert picked is not None and picked.source == "doctest"
    assert plain.checks_for("t", "chat", prompt, None) is None  # doctests only for code tasks
    add = "```python\ndef add(a, b):\n    return a + b\n```"
    assert plain._job_for("t", "code", "write add", add, None) is None  # nothing to check


def test_over_the_queue_limit_answers_are_not_run_and_the_loop_stays_free(
    runner: PythonRunner,
) -> None:
    executor = CodeExecutor(SandboxSettings(concurrency=1, queue_limit=1), runner)
    slow = "```python\nimport time\ntime.sleep(1)\ndef add(a, b):\n    return a + b\n```"

    async def go() -> None:
        grades = [
            asyncio.create_task(
                executor.grade(
                    tenant="t", task="code", prompt="", content=slow,
                    request_tests="assert add(1, 1) == 2",
                )
            )
            for _ in range(4)
        ]  # fmt: skip
        ticks = 0
        while not all(g.done() for g in grades):  # the event loop keeps running meanwhile
            await asyncio.sleep(0.01)
            ticks += 1
        results = [g.result() for g in grades]
        assert ticks > 10
        assert [r.score if r else None for r in results].count(1.0) == 2
        assert results.count(None) == 2

    asyncio.run(go())
    assert executor.counts["skipped_queue_full"] == 2
    assert executor.stats()["waiting"] == 0


# --- the learner ---------------------------------------------------------------------------

POOL = [PoolModel(m, 1.0, 1.0, 8000, frozenset({"chat"}), {}) for m in ("cheap", "strong")]


def _learner(executor: CodeExecutor) -> tuple[Learner, list[GradeRecord]]:
    router = Router(POOL, RouterParams(baseline="strong"), seed=1)
    grades: list[GradeRecord] = []
    rules = AlertRules(lambda _a: None)

    async def lookup(decision_id: str, tenant: str | None) -> dict[str, Any] | None:
        return None

    learner = Learner(
        lambda _t: router, grades.append, rules, judge_call=None, judge_sample_rate=0.0,
        lookup=lookup, executor=executor,
    )  # fmt: skip
    return learner, grades


def _answered(decision_id: str, prompt: str, content: str, tests: str | None) -> Answered:
    return Answered(
        decision_id, "t", "code", "cheap", prompt, content, "stop", None, None, tests=tests
    )


def test_the_learner_records_execution_grades(runner: PythonRunner) -> None:
    learner, grades = _learner(CodeExecutor(SandboxSettings(wall_s=5.0, cpu_s=3), runner))
    wrong = "```python\ndef add(a, b):\n    return a - b\n```"

    async def go() -> None:
        learner.after_answer(_answered("d1", "Write add", wrong, "assert add(1, 1) == 2\n"))
        learner.after_answer(
            _answered("d2", "Write add\n>>> add(2, 3)\n5\n", f"```python\n{ADD}```", None)
        )
        learner.after_answer(_answered("d3", "Write add", f"```python\n{ADD}```", None))
        await learner.drain()

    asyncio.run(go())
    by_id = {g.decision_id: g for g in grades}
    assert (by_id["d1"].grader, by_id["d1"].score) == ("execution", 0.0)
    assert "0/1 request tests passed; failure: wrong_answer" in by_id["d1"].detail
    assert (by_id["d2"].grader, by_id["d2"].score) == ("execution", 1.0)
    assert "1/1 doctest tests passed" in by_id["d2"].detail
    assert (by_id["d3"].grader, by_id["d3"].detail) == (
        "auto",
        "code_parse: 1 code block(s) parsed",
    )


def test_without_a_sandbox_the_learner_keeps_the_parse_grade(tmp_path: Path) -> None:
    executor = CodeExecutor(SandboxSettings(bwrap=str(tmp_path / "none")))
    learner, grades = _learner(executor)

    async def go() -> None:
        learner.after_answer(_answered("d1", "Write add", f"```python\n{ADD}```", "assert 0"))
        await learner.drain()

    asyncio.run(go())
    assert [(g.grader, g.score) for g in grades] == [("auto", 1.0)]
    assert executor.counts["refused_no_sandbox"] == 1


def test_request_tests_reach_the_grade_shown_by_the_decision(
    runner: PythonRunner, tmp_path: Path
) -> None:
    async def go() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            seen: list[Answered] = []
            learner = sc.services.learner
            real = learner.after_answer
            learner.after_answer = lambda a: (seen.append(a), real(a))[1]  # type: ignore[method-assign]
            tests = "assert add(1, 1) == 2\nassert add(0, 0) == 0\n"
            body = {"model": "auto", "messages": [{"role": "user", "content": "Write add(a, b)"}]}
            encoded = "base64:" + base64.b64encode(tests.encode()).decode()
            r = await sc.client.post(
                "/v1/chat/completions", json=body, headers={**sc.auth, "x-arbiter-tests": encoded}
            )
            assert r.status_code == 200, r.text
            await learner.drain()
            assert seen[0].tests == tests
            decision = r.headers["x-arbiter-decision-id"]
            # the same learner, now with a code answer for that decision (the sim's is prose)
            real(_answered(decision, "Write add(a, b)", f"```python\n{ADD}```", tests))
            await learner.drain()
            shown = (await sc.client.get(f"/arbiter/decisions/{decision}", headers=sc.auth)).json()
            execution = [g for g in shown["grades"] if g["grader"] == "execution"]
            assert execution and execution[0]["score"] == 1.0
            assert execution[0]["detail"].startswith("2/2 request tests passed")
            bad = await sc.client.post(
                "/v1/chat/completions",
                json=body,
                headers={**sc.auth, "x-arbiter-tests": "base64:@@"},
            )
            assert bad.status_code == 400
            assert orjson.loads(bad.content)["error"]["param"] == "x-arbiter-tests"

    asyncio.run(go())


def test_body_tests_never_reach_an_upstream_of_either_protocol(tmp_path: Path) -> None:
    """The `arbiter` field leaves both the body and an Anthropic request's canonical form: a
    model of the other protocol stays eligible (it was a 400 'cannot carry' before)."""

    async def go() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=("sim-medium",)) as sc:
            seen: list[Answered] = []
            learner = sc.services.learner
            real = learner.after_answer
            learner.after_answer = lambda a: (seen.append(a), real(a))[1]  # type: ignore[method-assign]
            extra = {"arbiter": {"tests": "assert add(1, 1) == 2"}}
            message = {"role": "user", "content": "Write add(a, b)"}
            anthropic = {**sc.auth, "anthropic-version": "2023-06-01"}
            for model in ("sim-small", "sim-medium"):  # OpenAI's protocol, Anthropic's
                r = await sc.client.post(
                    "/v1/messages",
                    json={"model": model, "max_tokens": 50, "messages": [message], **extra},
                    headers=anthropic,
                )
                assert r.status_code == 200, r.text
                r = await sc.client.post(
                    "/v1/chat/completions",
                    json={"model": model, "messages": [message], **extra},
                    headers=sc.auth,
                )
                assert r.status_code == 200, r.text
            await learner.drain()
            assert [a.tests for a in seen] == ["assert add(1, 1) == 2"] * 4

    asyncio.run(go())


def test_the_sandbox_section_is_parsed_strictly(tmp_path: Path) -> None:
    from arbiter import config
    from arbiter.errors import ConfigError

    example = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"
    env = {"SIM_API_KEY": "sk-test", "ARBITER_ADMIN_KEY": "adm-test"}
    text = example.read_text()
    settings = config.loads(text, env=env)
    assert (settings.sandbox.enabled, settings.sandbox.queue_limit) == (True, 16)
    checks = tmp_path / "checks.py"
    checks.write_text("assert True\n")
    good = text + f'\n[sandbox.tests]\ncode = "{checks}"\n'
    assert config.loads(good, env=env).sandbox.tests == {"code": str(checks)}
    for bad, message in (
        ("wall_s = 10.0", "wall_sec = 10.0"),
        ("queue_limit = 16", "queue_limit = -1"),
        ("concurrency = 0", "concurrency = 1000"),
    ):
        with pytest.raises(ConfigError, match=message.split(" ")[0]):
            config.loads(text.replace(bad, message), env=env)
    with pytest.raises(ConfigError, match="no test file"):
        config.loads(text + '\n[sandbox.tests]\ncode = "/nonexistent/checks.py"\n', env=env)


def test_a_jail_that_fails_to_start_grades_nothing(runner: PythonRunner) -> None:
    """A broken jail (here: bwrap refusing an option) is not the answer's failure: no grade."""

    class Broken(Bubblewrap):
        def argv(self, command: list[str], ro_paths: list[str], tmp_bytes: int) -> list[str]:
            argv = super().argv(command, ro_paths, tmp_bytes)
            return [argv[0], "--no-such-option", *argv[1:]]

    broken = PythonRunner(Broken(), runner.interpreter)
    broken._probed = (None,)  # it worked when probed; it broke since
    executor = CodeExecutor(SandboxSettings(), broken)
    grade = asyncio.run(
        executor.grade(
            tenant="t", task="code", prompt="", content=ADD, request_tests="assert add(1, 1) == 2"
        )
    )
    assert grade is None
    assert executor.counts["sandbox_error"] == 1


def test_a_sandbox_that_cannot_be_started_grades_nothing(tmp_path: Path) -> None:
    """bwrap gone after the probe (Popen raises): the parse grade stands, nothing crashes."""
    gone = PythonRunner(Bubblewrap())
    gone._probed = (None,)
    gone.bwrap.missing = lambda: None  # type: ignore[method-assign]
    gone.bwrap.path = str(tmp_path / "bwrap-removed")
    executor = CodeExecutor(SandboxSettings(), gone)
    grade = asyncio.run(
        executor.grade(
            tenant="t", task="code", prompt="", content=ADD, request_tests="assert add(1, 1) == 2"
        )
    )
    assert grade is None
    assert executor.counts["sandbox_error"] == 1
