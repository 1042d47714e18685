"""A server started by the test fixtures dies with the process that started it: a pytest killed
mid-run (timeout, SIGKILL, closed terminal) leaves no `arbiter sim` / `arbiter serve` behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.child_process import die_with_parent

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")

# stands for a pytest process: starts a sim through the fixtures' Proc, says its pid, waits
PARENT = """
import sys, time
from pathlib import Path
from arbiter.offline.demo import sim_config
from tests.conftest import start_sim
config = Path(sys.argv[1])
config.write_text(sim_config())
sim, _ = start_sim(config)
print(sim.proc.pid, flush=True)
time.sleep(120)
"""


def _running(pid: int) -> bool:
    """Alive and not a zombie (a dead child nobody has reaped yet still has a /proc entry)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_a_killed_parent_takes_its_spawned_server_with_it(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "python"), str(root)])}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "sim.toml")],
        env=env, stdout=subprocess.PIPE, preexec_fn=die_with_parent(),
    )  # fmt: skip
    child = 0
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())  # once its sim answers
        assert _running(child)
        parent.kill()  # as a test process is killed: no teardown runs
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(child), "the server outlived the process that started it"
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
        if child and _running(child):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


def test_a_server_started_from_a_worker_thread_outlives_that_thread() -> None:
    """PR_SET_PDEATHSIG fires when the starting thread ends: a child started from a pool thread
    (bench/store.start_all) must not be armed, or it would die as soon as the pool closes."""
    started: list[subprocess.Popen[bytes]] = []
    worker = threading.Thread(
        target=lambda: started.append(
            subprocess.Popen(["sleep", "30"], preexec_fn=die_with_parent())
        )
    )
    worker.start()
    worker.join()
    [child] = started
    try:
        time.sleep(0.5)  # a SIGKILL at the thread's end would have landed by now
        assert child.poll() is None, "the child died with the thread that started it"
    finally:
        child.kill()
        child.wait()
