"""`server.workers = 2` on a port: a worker listened on its SO_REUSEPORT socket from before its
start-up (the store's state, a spool to replay), so the kernel handed it its share of new
connections while it accepted none: with one worker ready (/healthz answering) and the other
4 s into a slow start, half the fresh connections hung for those 4 s (reset, had the start
failed). Now a worker listens once its start is done."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

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


def _status(port: int) -> int | None:
    """The status of a GET /healthz on a fresh connection (the kernel spreads them over the
    listening workers; a raw socket: an httpx client per check took long enough on a loaded
    host to outlast the slow start); None: it hung (no status line in 1 s) or nothing listens."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
            head = sock.recv(64)
    except OSError:  # refused, or timed out
        return None
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else None


def test_a_worker_still_starting_takes_no_connections(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SLOW_SECOND_WORKER)
    port = unheld_port()
    cfg = write_config(tmp_path, port=port, workers=2)
    path = os.pathsep.join(p for p in (str(site), ENV.get("PYTHONPATH", "")) if p)
    env = {**ENV, "PYTHONPATH": path, "PROBE23D_SLOW_START_S": str(SLOW_START_S)}
    with serve_process(cfg, env, stdout=subprocess.DEVNULL) as proc:
        deadline = time.monotonic() + 30
        # worker 0 answers; its /healthz is a 503 `starting` until worker 1 serves too (a wait
        # for a 200 ended after the slow start, where no check could fail: suite26)
        while _status(port) is None:
            assert time.monotonic() < deadline and proc.poll() is None, "never answered"
            time.sleep(0.05)
        statuses = [_status(port) for _ in range(16)]
        assert None not in statuses, f"{statuses.count(None)} of 16 fresh connections hung"
        # enough of them within worker 1's slow start, as the set itself said (503 starting;
        # not the wall clock: a loaded host), for a worker listening early to have taken some
        # (each fresh connection goes to either worker: 8 all missing it is 1 in 256)
        assert statuses.count(503) >= 8, f"the checks outlasted the slow start: {statuses}"
        deadline = time.monotonic() + 30  # and worker 1 listens once it has started
        while [listening_ports(w) for w in children(proc.pid)] != [{port}, {port}]:
            assert time.monotonic() < deadline, [listening_ports(w) for w in children(proc.pid)]
            time.sleep(0.2)
