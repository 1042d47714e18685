"""A reload asked while a sidecar is still starting is neither fatal nor lost: a worker of
`server.workers = N` ignores SIGHUP from its fork until its own handler takes it, and one that
comes after the config was read runs once the loop is up (config_reload.note_early_sighup)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from arbiter import config_reload, workers


def test_a_sighup_during_start_up_reloads_once_the_loop_is_up() -> None:
    before = signal.getsignal(signal.SIGHUP)
    calls: list[str] = []
    try:
        signal.signal(signal.SIGHUP, config_reload.note_early_sighup)  # as `arbiter serve` does
        os.kill(os.getpid(), signal.SIGHUP)  # after the config was read, before any loop
        time.sleep(0.01)  # the handler runs on the main thread's next check

        async def main() -> None:
            assert config_reload.on_sighup(lambda: calls.append("reload"))
            await asyncio.sleep(0.05)
            assert calls == ["reload"]  # the noted one, once
            os.kill(os.getpid(), signal.SIGHUP)  # a later one: the loop's own handler
            for _ in range(100):
                if len(calls) == 2:
                    break
                await asyncio.sleep(0.01)
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)

        asyncio.run(main())
    finally:
        signal.signal(signal.SIGHUP, before)
    assert calls == ["reload", "reload"]


def test_without_a_sighup_during_start_up_nothing_reloads() -> None:
    calls: list[str] = []

    async def main() -> None:
        assert config_reload.on_sighup(lambda: calls.append("reload"))
        await asyncio.sleep(0.05)
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)

    before = signal.getsignal(signal.SIGHUP)
    try:
        asyncio.run(main())
    finally:
        signal.signal(signal.SIGHUP, before)
    assert calls == []


def _ignored(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16)
    raise AssertionError("no SigIgn line")


def test_a_worker_ignores_sighup_from_its_fork() -> None:
    """Before its handler exists (a worker importing Arbiter), SIGHUP's default would end it,
    and the supervisor then takes the whole set down."""
    me = os.getpid()
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"],
        preexec_fn=lambda: workers._die_with(me),
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # its exec done: the interpreter's own status
            if "python" in Path(f"/proc/{proc.pid}/cmdline").read_text():
                break
            time.sleep(0.01)
        assert _ignored(proc.pid) & (1 << (signal.SIGHUP - 1))
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.2)
        assert proc.poll() is None  # still running
    finally:
        proc.kill()
        proc.wait(10)
