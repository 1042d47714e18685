"""The execution grader on real problems (the shared HumanEval dev file, first 10 rows):
canonical solutions pass, and wrong variants of them fail (bench/graders.py runs all 82)."""

from __future__ import annotations

import asyncio

import pytest

from arbiter.config import SandboxSettings
from arbiter.sandbox.executor import CodeExecutor
from tests.bench_scripts import load
from tests.sandbox_here import require_sandbox
from tests.shared_data import require_shared

pytestmark = pytest.mark.timeout(300)
graders = load("graders")


def test_canonical_solutions_pass_and_wrong_variants_fail() -> None:
    require_shared(graders.DEFAULT_PROBLEMS)
    executor = CodeExecutor(SandboxSettings())
    require_sandbox(executor.unavailable())
    problems = graders.load_problems(graders.DEFAULT_PROBLEMS, limit=10)

    async def go() -> None:
        for problem in problems:
            right = await graders.grade_one(executor, problem, "canonical", problem.source)
            assert right.score == 1.0, (problem.task_id, right.detail)
            wrong = dict(graders.mutants(problem, problems, seed=0))
            assert {"wrong_return", "drop_line", "other_solution"} <= set(wrong)
            for op in ("wrong_return", "other_solution"):
                got = await graders.grade_one(executor, problem, op, wrong[op])
                assert got.score is not None and got.score < 1.0, (problem.task_id, op)
                assert "failure: " in got.detail

    asyncio.run(go())


def test_mutants_are_deterministic_and_differ_from_the_original() -> None:
    require_shared(graders.DEFAULT_PROBLEMS)
    problems = graders.load_problems(graders.DEFAULT_PROBLEMS, limit=5)
    for problem in problems:
        first = graders.mutants(problem, problems, seed=0)
        assert first == graders.mutants(problem, problems, seed=0)
        assert all(source != problem.source for _, source in first)
