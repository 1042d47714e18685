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
        workers: list[int] = []
        until = time.monotonic() + 30
        while time.monotonic() < until:  # both workers up, each done starting
            workers = children(proc.pid)
            up = len(workers) == 2 and all(listening_ports(w) for w in workers)
            if up and httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                break
            time.sleep(0.2)
        assert [listening_ports(w) for w in workers] == [{port}, {port}], (port, workers)
    reader.join(5)  # the process is gone: its stderr is at its end
    proc.stderr.close()
