"""ops25: a worker of a `server.workers = 2` set killed by the kernel (SIGKILL, as the OOM
killer does). The supervisor stops the other and exits with the dead worker's status, as README
says; its log now says which worker died and how (base25 wrote nothing: the operator read the
survivor's "Shutting down" and an exit status 137)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

from tests.ops25_rig import Upstream, served
from tests.probe23d_rig import children
from tests.scripted_upstream import serving


def _worker(pids: list[int], index: int) -> int:
    """The child whose environment marks it worker `index` (workers.WORKER_ENV)."""
    mark = f"ARBITER_WORKER={index}".encode()
    found = [p for p in pids if mark in Path(f"/proc/{p}/environ").read_bytes().split(b"\0")]
    assert len(found) == 1, (pids, found)
    return found[0]


def test_a_killed_worker_is_named_in_the_log_and_the_set_exits_with_its_status(
    tmp_path: Path,
) -> None:
    with serving(Upstream) as url, served(tmp_path, url, workers=2) as s:
        victim = _worker(children(s.proc.pid), 1)
        os.kill(victim, signal.SIGKILL)
        try:
            status = s.proc.wait(30)
        except subprocess.TimeoutExpired:
            raise AssertionError("the set did not stop after a worker died") from None
    assert status == 128 + signal.SIGKILL
    said = [line for line in s.lines() if " arbiter.serve: worker " in line]
    assert said, s.lines()[-10:]
    assert re.search(
        rf"ERROR arbiter\.serve: worker 1 \(pid {victim}\) was killed by SIGKILL", said[0]
    )
