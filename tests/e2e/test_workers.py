"""server.workers = N: N processes on one port (SO_REUSEPORT), each a replica sharing the store,
under one supervisor that starts and stops them together."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import tomllib
from pathlib import Path

import httpx

from arbiter.toml_text import to_toml
from tests.conftest import Sidecar

CHAT = [{"role": "user", "content": "Say hello."}]


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _with_workers(config: Path, n: int) -> Path:
    doc = tomllib.loads(config.read_text())
    doc.setdefault("server", {})["workers"] = n
    config.write_text(to_toml(doc))
    return config


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _two_workers(s: Sidecar) -> list[int]:
    """The supervisor's two workers, once both are up (30 s at most)."""
    assert s.proc.proc is not None
    deadline = time.monotonic() + 30
    while len(workers := _children(s.proc.proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    return workers


def test_two_workers_share_the_port_and_the_store(sidecar_config: Path) -> None:
    s = Sidecar(_with_workers(sidecar_config, 2)).start()
    assert s.proc.proc is not None
    try:
        workers = _two_workers(s)
        assert len(workers) == 2
        key = str(s.create_key("w")["key"])  # made on one worker, known to every one
        for _ in range(30):  # a fresh connection each: the kernel spreads them
            r = httpx.post(
                f"{s.base_url}/chat/completions",
                headers={"authorization": f"Bearer {key}"},
                json={"model": "auto", "messages": CHAT},
            )
            assert r.status_code == 200, r.text
    finally:
        s.stop()
    assert s.proc.proc.poll() is not None
    assert not any(_alive(w) for w in workers), "SIGTERM to the supervisor stops every worker"


def test_a_worker_that_dies_takes_the_set_down(sidecar_config: Path) -> None:
    s = Sidecar(_with_workers(sidecar_config, 2)).start()
    assert s.proc.proc is not None
    try:
        workers = _two_workers(s)
        os.kill(workers[0], signal.SIGKILL)
        s.proc.proc.wait(timeout=30)  # the host's supervisor restarts the whole set
        assert not _alive(workers[1])
    finally:
        s.stop()


def test_workers_do_not_outlive_a_killed_supervisor(sidecar_config: Path) -> None:
    """SIGKILL cannot be forwarded: without the death signal the workers kept the port, and the
    set the host restarts would share it with them."""
    s = Sidecar(_with_workers(sidecar_config, 2)).start()
    assert s.proc.proc is not None
    try:
        workers = _two_workers(s)
        assert len(workers) == 2
        os.kill(s.proc.proc.pid, signal.SIGKILL)
        s.proc.proc.wait(timeout=10)
        deadline = time.monotonic() + 20
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), "workers outlived their supervisor"
    finally:
        for w in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(w, signal.SIGKILL)
        s.stop()
