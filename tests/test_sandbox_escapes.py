"""The code sandbox holds: every escape attempt in tests/sandbox_escapes.py fails inside it, and
this process (and a sidecar running in it) stays healthy. With the mechanism missing, no code
runs at all and /arbiter/stats says so."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arbiter.config import SandboxSettings
from arbiter.sandbox.bwrap import SANDBOX_UID
from arbiter.sandbox.executor import CodeExecutor
from arbiter.sandbox.python_runner import PythonRunner
from tests.inproc import sidecar_in_process
from tests.sandbox_escapes import (
    ESCAPES,
    LIMITS,
    ORPHAN_WAKES_S,
    RUN_MARK_ENV,
    SECRET,
    Escape,
    attempt,
    run_pids,
    world,
)
from tests.sandbox_here import require_sandbox

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[None]:
    require_sandbox(PythonRunner().unavailable())
    yield


@pytest.mark.parametrize("escape", ESCAPES, ids=lambda e: e.name)
def test_escape_fails_inside_the_sandbox(
    escape: Escape, sandbox: None, tmp_path: Path, free_listener_port: int
) -> None:
    with world(tmp_path, free_listener_port) as w:
        escaped, outcome, got = attempt(escape, w)
        assert not escaped, (escape.name, outcome, got.output[-500:])
        assert escape.ended_as_expected(outcome.kind), (outcome, got.output[-500:])  # it ran
        assert SECRET.encode() not in got.output + got.results
        assert not (tmp_path / "pwned").exists()
    # the wall limit holds: no run outlives 10x it, however loaded the host (it was limit + 3 s)
    assert got.wall_ms < 10 * LIMITS.wall_s * 1000
    if escape.name == "orphan_outlives_run":
        time.sleep(ORPHAN_WAKES_S + 0.5)  # the orphan would have written its file by now
        assert not (tmp_path / "orphan").exists()
    deadline = time.monotonic() + 5
    while run_pids(w.run_mark) and time.monotonic() < deadline:
        time.sleep(0.05)  # a killed tree takes a moment to be reaped by the kernel
    assert not run_pids(w.run_mark), "a process of the run outlived it"


def test_only_this_runs_processes_count_as_outliving_it(sandbox: None, tmp_path: Path) -> None:
    """A process of another sandbox run (another test, another pytest run on the machine: the
    same sandbox uid) does not count against this one; one started with this run's mark does."""
    with world(tmp_path, 9) as w:
        uid = SANDBOX_UID if os.geteuid() == 0 else None
        other = subprocess.Popen(
            ["sleep", "30"], env={RUN_MARK_ENV: "another-run"}, user=uid, group=uid,
            extra_groups=[] if uid is not None else None,
        )  # fmt: skip
        ours = subprocess.Popen(["sleep", "30"], env={RUN_MARK_ENV: w.run_mark})
        try:
            assert run_pids(w.run_mark) == {ours.pid}
        finally:
            for proc in (other, ours):
                proc.kill()
                proc.wait()
        assert run_pids(w.run_mark) == set()


@pytest.fixture
def free_listener_port() -> Iterator[int]:
    import socket

    with socket.socket() as s:  # a second real listener: stands for the sidecar's own port
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield int(s.getsockname()[1])


def test_a_sidecar_in_process_stays_healthy_through_every_escape(
    sandbox: None, tmp_path: Path
) -> None:
    async def go() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            port = int(sc.sim.base_url.rsplit(":", 1)[1].split("/")[0])
            executor = sc.services.executor
            with world(tmp_path, port) as w:
                for escape in ESCAPES:
                    grade = await executor.grade(
                        tenant="default",
                        task="code",
                        prompt="",
                        content=f"```python\n{escape.program(w)}```",
                        request_tests="assert True\n",
                    )
                    assert grade is not None and grade.grader == "execution"
                    r = await sc.client.get("/healthz")
                    assert r.status_code == 200, escape.name
                assert not w.accepted()
            stats = (await sc.client.get("/arbiter/stats", headers=sc.admin)).json()
            assert stats["sandbox"]["available"] is True
            assert stats["sandbox"]["counts"]["runs"] == len(ESCAPES)

    asyncio.run(go())


def test_with_the_mechanism_missing_no_code_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    executor = CodeExecutor(SandboxSettings(bwrap=str(tmp_path / "no-such-bwrap")))
    answer = f"```python\nopen({str(marker)!r}, 'w').write('ran unsandboxed')\n```"

    async def go() -> None:
        grade = await executor.grade(
            tenant="t", task="code", prompt="", content=answer, request_tests="assert True"
        )
        assert grade is None  # the caller keeps its parse-only grade

    asyncio.run(go())
    assert not marker.exists()
    stats = executor.stats()
    assert stats["available"] is False
    assert "no-such-bwrap" in stats["reason"]
    assert stats["counts"] == {"refused_no_sandbox": 1}


def test_stats_say_when_the_sandbox_is_missing(tmp_path: Path) -> None:
    async def go() -> None:
        missing = str(tmp_path / "no-bwrap")
        async with sidecar_in_process(
            tmp_path, edit_config=lambda t: t + f'\n[sandbox]\nbwrap = "{missing}"\n'
        ) as sc:
            stats = (await sc.client.get("/arbiter/stats", headers=sc.admin)).json()
            assert stats["sandbox"]["available"] is False
            assert stats["sandbox"]["mechanism"] == "bubblewrap"
            assert "no-bwrap" in stats["sandbox"]["reason"]

    asyncio.run(go())
