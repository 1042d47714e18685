"""A live sidecar with its recorder's writes in a child process at SCHED_IDLE (store.writer =
"process", writer_priority = "idle"), on both backends: what the child writes is what the
sidecar reads back (stats, the decision feed), kill -9 of the child under load loses no
acknowledged decision (its batch is replayed through a new child), and a clean stop writes
everything accepted before the sidecar exits."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from arbiter.writer_priority import can_go_idle_and_back
from tests.bench_scripts import load
from tests.pg import empty_store_url

IDLE_CHILD = {"writer": "process", "writer_priority": "idle"}


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load("store")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with empty_store_url(request.param, tmp_path / "child.db") as url:
        yield url


def _writer_child(sidecar_pid: int) -> int:
    """The pid of the sidecar's writer process (its child running arbiter.writer_process)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == sidecar_pid and b"arbiter.writer_process" in cmd:
                return int(entry)
        time.sleep(0.1)
    raise AssertionError("the sidecar started no writer process")


def _drive(bench: ModuleType, base_url: str, key: str, n: int) -> list[str]:
    load_ = asyncio.run(bench.drive(base_url, key, max_requests=n, max_s=60, concurrency=4))
    assert not load_.failed, load_.failed[:3]
    return list(load_.acked)


@pytest.mark.timeout(120)
def test_the_idle_child_writes_what_the_sidecar_reads_and_survives_kill_9(
    bench: ModuleType, sim_url: str, store_url: str, tmp_path: Path
) -> None:
    cfg = bench.write_config(tmp_path / "child.toml", sim_url, store_url, store_extra=IDLE_CHILD)
    sidecar = bench.Sidecar(cfg).start()
    try:
        key = str(sidecar.create_key("child")["key"])
        child = _writer_child(bench.pid(sidecar))
        if can_go_idle_and_back():
            assert os.sched_getscheduler(child) == os.SCHED_IDLE
        acked = _drive(bench, sidecar.base_url, key, 20)
        os.kill(child, signal.SIGKILL)  # mid-run: its batch in flight, if any, is replayed
        acked += _drive(bench, sidecar.base_url, key, 20)
        assert bench._wait_drained(sidecar, 60) is not None
        assert _writer_child(bench.pid(sidecar)) != child  # a new child took over
        stats = sidecar.admin("GET", "/arbiter/stats", params={"tenant": "child"}).json()
        assert stats["requests"] == len(acked) == 40, stats
        feed = sidecar.admin("GET", "/arbiter/decisions",
                             params={"tenant": "child", "limit": 100}).json()  # fmt: skip
        assert {d["id"] for d in feed["data"]} == set(acked)
    finally:
        sidecar.stop()
    assert set(acked) <= bench.stored_ids(store_url)


@pytest.mark.timeout(120)
def test_a_clean_stop_writes_everything_accepted_through_the_child(
    bench: ModuleType, sim_url: str, store_url: str, tmp_path: Path
) -> None:
    """A 2-minute flush interval: nothing is written while the load runs (/metrics shows the
    backlog); SIGTERM drains it."""
    cfg = bench.write_config(tmp_path / "stop.toml", sim_url, store_url, flush_interval_ms=120_000,
                             store_extra=IDLE_CHILD)  # fmt: skip
    sidecar = bench.Sidecar(cfg).start()
    try:
        key = str(sidecar.create_key("stop")["key"])
        acked = _drive(bench, sidecar.base_url, key, 30)
        metrics = sidecar.admin("GET", "/metrics").text
        backlog = re.search(r"^arbiter_store_backlog (\S+)$", metrics, re.M)
        assert backlog is not None and float(backlog.group(1)) >= 30  # /metrics shows it waiting
    finally:
        sidecar.stop()  # SIGTERM: the recorder writes its backlog, then the child exits
    assert set(acked) <= bench.stored_ids(store_url)
