"""Whether this host runs the code sandbox: a test that needs it fails under CI when it cannot
(CI installs bubblewrap: the sandbox must be exercised there) and is skipped elsewhere (a
developer's machine without bwrap)."""

from __future__ import annotations

import os

import pytest

from arbiter.sandbox.python_runner import PythonRunner


def require_sandbox(why: str | None) -> None:
    """`why`: a runner's or executor's `unavailable()`; None when the sandbox works."""
    if why is None:
        return
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"the sandbox must work in CI: {why}")
    pytest.skip(f"no sandbox here: {why}")


def sandbox_runner() -> PythonRunner:
    """A PythonRunner, once `require_sandbox` let the test go on."""
    r = PythonRunner()
    require_sandbox(r.unavailable())
    return r
