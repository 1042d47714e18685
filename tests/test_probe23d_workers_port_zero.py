"""`server.port = 0` (the kernel picks) with `server.workers = 2`: each worker bound port 0 for
itself, so the two listened on two ports of their own, neither announced anywhere (a worker's
sockets are handed to uvicorn, which then logs no address): a sidecar nobody could reach, and
two of them. Now the supervisor listens once and every worker accepts on that socket; the port
is logged."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import httpx

from tests.probe23d_rig import children, listening_ports, serve_process, write_config


def test_two_workers_on_port_0_share_one_announced_port(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, port=0, workers=2)
    said: list[str] = []
    with serve_process(cfg, stderr=subprocess.PIPE) as proc:
        assert proc.stderr is not None
        reader = threading.Thread(target=lambda: said.extend(proc.stderr or ()), daemon=True)
        reader.start()
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline and proc.poll() is None:
            found = [
                m for line in list(said) if (m := re.search(r"serve on 127.0.0.1:(\d+)", line))
            ]
            port = int(found[0].group(1)) if found else None
            time.sleep(0.1)
        assert port, "".join(said)[-3000:]
        until = time.monotonic() + 30
        while time.monotonic() < until:  # both workers up, each done starting
            # the shared socket listens from before the workers start (so a worker "listens"
            # from its fork on): a connection made then waits in the backlog until a worker
            # serves, which on a loaded host took past httpx's 5 s default. It is answered,
            # never reset: wait for its answer (503 `starting` until both workers serve).
            left = max(until - time.monotonic(), 1.0)
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=left).status_code == 200:
                break
            time.sleep(0.2)
        workers = children(proc.pid)
        assert [listening_ports(w) for w in workers] == [{port}, {port}], (port, workers)
    reader.join(5)  # the process is gone: its stderr is at its end
    proc.stderr.close()
