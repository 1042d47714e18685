"""`server.workers = 2` on a port: a worker listened on its SO_REUSEPORT socket from before its
start-up (the store's state, a spool to replay), so the kernel handed it its share of new
connections while it accepted none: with one worker ready (/healthz answering) and the other
4 s into a slow start, half the fresh connections hung for those 4 s (reset, had the start
failed). Now a worker listens once its start is done."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx

from arbiter.inherited_socket import unheld_port
from tests.conftest import ENV
from tests.probe23d_rig import children, listening_ports, serve_process, write_config

SLOW_START_S = 4.0
# loaded by the sidecar's processes only (their PYTHONPATH): worker 1's start-up takes
# SLOW_START_S longer, as a slow store or a large spool to replay makes it
_SLOW_SECOND_WORKER = """
import os

if os.environ.get("ARBITER_WORKER") == "1":
    import asyncio

    from arbiter.services import Services

    _start = Services.start

    async def _slow_start(self):
        await asyncio.sleep(float(os.environ["PROBE23D_SLOW_START_S"]))
        await _start(self)

    Services.start = _slow_start
"""


def _answered(url: str) -> bool:
    try:  # a fresh connection each: the kernel spreads them over the listening workers
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.TransportError:  # hung (a timeout), or nothing listens yet
        return False


def test_a_worker_still_starting_takes_no_connections(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SLOW_SECOND_WORKER)
    port = unheld_port()
    cfg = write_config(tmp_path, port=port, workers=2)
    path = os.pathsep.join(p for p in (str(site), ENV.get("PYTHONPATH", "")) if p)
    env = {**ENV, "PYTHONPATH": path, "PROBE23D_SLOW_START_S": str(SLOW_START_S)}
    url = f"http://127.0.0.1:{port}/healthz"
    with serve_process(cfg, env, stdout=subprocess.DEVNULL) as proc:
        deadline = time.monotonic() + 30
        while not _answered(url):  # worker 0 is up; worker 1 is still starting
            assert time.monotonic() < deadline and proc.poll() is None, "never answered"
            time.sleep(0.1)
        t0 = time.monotonic()
        answered = [_answered(url) for _ in range(16)]
        assert all(answered), f"{answered.count(False)} of 16 fresh connections hung"
        # all within worker 1's slow start, or the pass would say nothing
        assert time.monotonic() - t0 < SLOW_START_S, "the checks outlasted the slow start"
        deadline = time.monotonic() + 30  # and worker 1 listens once it has started
        while [listening_ports(w) for w in children(proc.pid)] != [{port}, {port}]:
            assert time.monotonic() < deadline, [listening_ports(w) for w in children(proc.pid)]
            time.sleep(0.2)
