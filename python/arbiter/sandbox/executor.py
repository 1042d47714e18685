"""Execution grading: run a code answer against its tests in the sandbox, off the event loop.

``CodeExecutor.grade`` is the one entry point (the learner and bench/graders.py both call it).
It picks the checks (tests sent with the request, else the operator's tests for the tenant's or
the task's name; plus the prompt's worked examples, ``>>>`` doctests and inline ``f(x) == y``
lines, which run next to the tests, or alone for a code task without tests: HumanEval's own
tests miss wrong answers that its prompts' examples catch), extracts the program, and
runs it in a worker thread under a semaphore of ``concurrency`` slots; more than ``queue_limit``
answers waiting means the grade falls back to parsing (counted). When the sandbox mechanism is
missing or broken here, nothing is run: ``grade`` returns None (the caller's parse-only grade
stands) and ``stats()`` says why.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arbiter.config import SandboxSettings
from arbiter.grading import INLINE_CHARS, Grade
from arbiter.sandbox.bwrap import Bubblewrap
from arbiter.sandbox.examples import functions_of, inline_examples
from arbiter.sandbox.extract import MAX_DOCTESTS, code_of, doctests_of
from arbiter.sandbox.python_runner import PythonRunner
from arbiter.sandbox.runner import Job, Limits, Outcome, Runner

__all__ = ["GRADER", "Checks", "CodeExecutor"]

GRADER = "execution"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Checks:
    source: str  # "request" | "operator" | "doctest"
    tests: str | None
    doctests: tuple[tuple[str, str], ...] = ()  # the prompt's examples, run after the tests

    def label(self) -> str:
        return (
            f"{self.source}+examples" if self.tests is not None and self.doctests else self.source
        )


class CodeExecutor:
    def __init__(self, settings: SandboxSettings, runner: Runner | None = None) -> None:
        self.settings = settings
        self.runner: Runner = runner or PythonRunner(Bubblewrap(settings.bwrap), settings.python)
        self.limits = Limits(
            wall_s=settings.wall_s,
            cpu_s=settings.cpu_s,
            memory_mb=settings.memory_mb,
            processes=settings.processes,
            file_mb=settings.file_mb,
            output_bytes=settings.output_kb * 1024,
        )
        self.concurrency = settings.concurrency or max(1, min(2, os.cpu_count() or 1))
        self._slots = asyncio.Semaphore(self.concurrency)
        self._waiting = 0  # running + queued
        self._operator_tests = {
            key: Path(path).read_text(encoding="utf-8") for key, path in settings.tests.items()
        }
        self.counts: Counter[str] = Counter()

    def unavailable(self) -> str | None:
        """Why code cannot be run here (None when it can). Blocking the first time (a probe)."""
        if not self.settings.enabled:
            return "disabled by config ([sandbox] enabled = false)"
        return self.runner.unavailable()

    def checks_for(
        self, tenant: str, task: str, prompt: str, request_tests: str | None
    ) -> Checks | None:
        """The tests and the prompt's ``>>>`` examples (inline examples need the answer's
        functions: ``_job_for`` adds them)."""
        examples = doctests_of(prompt)
        if request_tests is not None and request_tests.strip():
            return Checks("request", request_tests, examples)
        operator = self._operator_tests.get(f"{tenant}/{task}") or self._operator_tests.get(task)
        if operator is not None:
            return Checks("operator", operator, examples)
        if task != "code":
            return None
        return Checks("doctest", None, examples)  # maybe none yet: inline ones may come

    async def grade(
        self,
        *,
        tenant: str,
        task: str,
        prompt: str,
        content: str,
        request_tests: str | None,
    ) -> Grade | None:
        """The execution grade of `content`, or None when there is nothing to run it against,
        no program in it, no sandbox, or no room in the queue (then the parse grade stands)."""
        prepare = functools.partial(self._job_for, tenant, task, prompt, content, request_tests)
        # reading the prompt and the answer is CPU work on client/upstream text: a long one goes
        # to a worker thread, as the other graders' (grading.INLINE_CHARS)
        off_loop = len(prompt) + len(content) > INLINE_CHARS
        prepared = await asyncio.to_thread(prepare) if off_loop else prepare()
        if prepared is None:
            return None
        if isinstance(prepared, str):
            self.counts[prepared] += 1
            return None
        job, checks = prepared
        if self._waiting >= self.concurrency + self.settings.queue_limit:
            self.counts["skipped_queue_full"] += 1
            return None
        self._waiting += 1
        try:
            async with self._slots:
                why = await asyncio.to_thread(self.unavailable)
                if why is not None:
                    self.counts["refused_no_sandbox"] += 1
                    return None
                try:
                    outcome = await asyncio.to_thread(self.runner.run, job, self.limits)
                except (OSError, subprocess.SubprocessError) as err:  # e.g. fork failed: EAGAIN
                    self.counts["sandbox_error"] += 1
                    log.warning("execution grading skipped: cannot start the sandbox: %s", err)
                    return None
        finally:
            self._waiting -= 1
        return self._grade_of(outcome, checks)

    def _job_for(
        self, tenant: str, task: str, prompt: str, content: str, request_tests: str | None
    ) -> tuple[Job, Checks] | str | None:
        """The job to run, or None (nothing to check against), or "no_code" (to count)."""
        checks = self.checks_for(tenant, task, prompt, request_tests)
        if checks is None:
            return None
        code = code_of(content)
        if code is None:
            return "no_code" if checks.tests is not None or checks.doctests else None
        inline = [
            e for e in inline_examples(prompt, functions_of(code)) if e not in checks.doctests
        ]
        examples = (*checks.doctests, *inline)[:MAX_DOCTESTS]
        if checks.tests is None and not examples:
            return None
        checks = Checks(checks.source, checks.tests, examples)
        return Job(code, checks.tests, checks.doctests), checks

    def _grade_of(self, outcome: Outcome, checks: Checks) -> Grade | None:
        if outcome.total == 0:  # nothing was checked: the parse grade stands
            self.counts[outcome.unchecked or "bad_tests"] += 1
            log.warning("execution grading skipped: %s", outcome.detail)
            return None
        self.counts["runs"] += 1
        self.counts[outcome.kind or "passed"] += 1
        summary = f"{outcome.passed}/{outcome.total} {checks.label()} tests passed"
        if outcome.kind is not None:
            summary += f"; failure: {outcome.kind} ({outcome.detail})"
        summary += f"; {self.runner.mechanism}, {outcome.wall_ms:.0f} ms"
        return Grade(outcome.fraction, GRADER, summary[:300])

    def stats(self) -> dict[str, Any]:
        """For /arbiter/stats (blocking the first time: the availability probe)."""
        why = self.unavailable()
        return {
            "available": why is None,
            "mechanism": self.runner.mechanism,
            "language": self.runner.language,
            "reason": why,
            "concurrency": self.concurrency,
            "queue_limit": self.settings.queue_limit,
            "waiting": self._waiting,
            "counts": dict(sorted(self.counts.items())),
        }
