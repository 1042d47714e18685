"""The runner interface: one language's way to run an answer against its checks in a sandbox.

A runner turns a ``Job`` (the answer's code, the tests or doctest examples) into an ``Outcome``
(units passed of units run, and the failure kind). Python is the only language today
(``python_runner.py``). Another one adds a runner: its own harness run in the same ``bwrap``
jail (``Bubblewrap.argv`` takes any command and the read-only paths it needs), reporting the
same result lines; ``CodeExecutor`` then picks the runner by the answer block's language tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = ["FailureKind", "Job", "Limits", "Outcome", "Runner"]

FailureKind = Literal["syntax", "exception", "wrong_answer", "timeout", "resource_limit"]


@dataclass(frozen=True, slots=True)
class Limits:
    wall_s: float = 10.0  # the whole run, startup included
    cpu_s: int = 5  # RLIMIT_CPU: SIGXCPU, then SIGKILL
    memory_mb: int = 512  # RLIMIT_AS
    processes: int = 32  # RLIMIT_NPROC (of the sandbox's uid)
    file_mb: int = 16  # RLIMIT_FSIZE and the size of the private /tmp
    open_files: int = 64  # RLIMIT_NOFILE
    output_bytes: int = 1 << 20  # stdout + stderr read at most; past it the tree is killed


@dataclass(frozen=True, slots=True)
class Job:
    code: str
    tests: str | None = None  # test source (asserts / test_* functions); else the doctests
    doctests: tuple[tuple[str, str], ...] = ()  # (source, expected output) per example


@dataclass(frozen=True, slots=True)
class Outcome:
    passed: int
    total: int
    kind: FailureKind | None  # None when every unit passed
    detail: str  # the first failure, short (or why nothing could be checked)
    wall_ms: float
    # why nothing was checked, when nothing was (total == 0): "bad_tests" (the checks do not
    # parse) or "sandbox_error" (the jail or the harness never started: not the answer's fault)
    unchecked: str | None = None

    @property
    def fraction(self) -> float:
        return self.passed / self.total if self.total else 0.0


class Runner(Protocol):
    language: str
    mechanism: str  # e.g. "bubblewrap"

    def unavailable(self) -> str | None:
        """Why this runner cannot run code here (None when it can); may probe once."""
        ...

    def run(self, job: Job, limits: Limits) -> Outcome:
        """Run `job` sandboxed (blocking: call it from a worker thread)."""
        ...
