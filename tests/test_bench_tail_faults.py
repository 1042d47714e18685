"""Two faults of the tail bench (bench/scale.py --only tail) that cost whole runs: a read of
/metrics that timed out in an overloaded window ended the run with no figures, and a base tree
(without server.idle_poll_us) refused the config start.sh wrote for ARBITER_BENCH_IDLE_POLL_US=0."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.bench_scripts import BENCH_DIR, load


@pytest.fixture(scope="module")
def workers() -> ModuleType:
    return load("scale_workers")


class _Rig:
    """Rig's reads, answered from memory; the 80% window's /metrics read times out."""

    port, mock_port = 1, 2

    def __init__(self) -> None:
        self.lag_reads = 0
        self.cpu = 0.0

    def backlog(self) -> float:
        return 0.0

    def drain_s(self, limit_s: float = 120.0) -> float:
        return 0.0

    def cpu_s(self, only_children: bool = False) -> float:
        self.cpu += 0.05  # the sidecar's CPU grows with each read
        return self.cpu

    def lag(self) -> dict[str, float]:
        self.lag_reads += 1
        if self.lag_reads == 3:  # the 80% window's first read (the 50% window made two)
            raise TimeoutError("timed out")
        return {"0.01": 0.0, "+Inf": 0.0, "max": 0.001, "idle_poll_s": 0.0}

    def sources(self) -> dict[str, dict[str, float]]:
        return {}

    def stop(self) -> None:
        pass


class _Control:
    def communicate(self, timeout: float) -> tuple[str, None]:
        return '{"ticks": 1, "over_10ms": 0, "max_ms": 1.0}', None


def test_a_window_whose_metrics_read_times_out_is_recorded_and_the_run_goes_on(
    workers: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rig = _Rig()
    answer: dict[str, Any] = {"ok": 100, "rps": 50.0, "latency_ms": {"p50": 1.0, "p99": 2.0}}
    monkeypatch.setattr(workers, "PEERBENCH", BENCH_DIR)  # only checked for loadgen.py
    monkeypatch.setattr(workers.Path, "exists", lambda self: True)
    monkeypatch.setattr(workers, "_host_cores", lambda: [0, 1])
    monkeypatch.setattr(workers, "Rig", lambda *a: rig)
    monkeypatch.setattr(workers, "closed_loop", lambda *a, **k: {
        "requests": 1000, "elapsed_s": 10.0, "rps": 100.0, "tool": "fake"})  # fmt: skip
    monkeypatch.setattr(workers, "loadgen", lambda *a, **k: answer)
    monkeypatch.setattr(workers, "_control", lambda *a: _Control())
    monkeypatch.setattr("sys.stderr", io.StringIO())
    out = workers.bench_tail(True, tmp_path)
    assert "failed" in out["80pct"] and "TimeoutError" in out["80pct"]["failed"]
    assert out["added_p99_ms_at_80pct"] is None
    assert out["50pct"]["added_p99_ms"] == 0.0  # the windows around it are measured
    assert out["80pct_of_open_loop_max"]["added_p99_ms"] == 0.0
    assert out["max_stall_ms"] == out["50pct"]["loop_lag"]["max_ms"]  # from the measured one


def _config_for(tmp_path: Path, idle_poll: str | None) -> str:
    """The config start.sh writes (its `arbiter` prints the file instead of serving)."""
    fake = tmp_path / "arbiter"
    fake.write_text('#!/bin/sh\ncat "$3"\n')  # serve --config <file> ...
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBITER_BENCH_")}
    env |= {"UPSTREAM_BASE": "http://127.0.0.1:9/v1", "PROXY_PORT": "9", "ARBITER": str(fake),
            "PEERBENCH_WORKDIR": str(tmp_path / "w")}  # fmt: skip
    if idle_poll is not None:
        env["ARBITER_BENCH_IDLE_POLL_US"] = idle_poll
    run = subprocess.run(["bash", str(BENCH_DIR / "peers/arbiter/start.sh")], env=env,
                         capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    return run.stdout


def test_start_sh_writes_idle_poll_us_only_when_it_is_not_zero(tmp_path: Path) -> None:
    assert "idle_poll_us" not in _config_for(tmp_path, None)
    assert "idle_poll_us" not in _config_for(tmp_path, "0")  # a base tree rejects the key
    assert "idle_poll_us = 1000" in _config_for(tmp_path, "1000")


def test_tail_rates_pin_the_windows_for_an_equal_rate_ab(
    workers: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two writers' closed-loop maxima differ, so "50% of max" is a different load per arm:
    --tail-rates runs each window at the rate given, whatever this run's max."""
    rig = _Rig()
    rig.lag = lambda: {"0.01": 0.0, "+Inf": 0.0, "max": 0.001, "idle_poll_s": 0.0}  # type: ignore[method-assign]
    asked: list[float] = []

    def loadgen(*a: Any, rate: float = 0.0, **k: Any) -> dict[str, Any]:
        asked.append(rate)
        return {"ok": 100, "rps": rate, "latency_ms": {"p50": 1.0, "p99": 2.0}}

    monkeypatch.setattr(workers, "PEERBENCH", BENCH_DIR)
    monkeypatch.setattr(workers.Path, "exists", lambda self: True)
    monkeypatch.setattr(workers, "_host_cores", lambda: [0, 1])
    monkeypatch.setattr(workers, "Rig", lambda *a: rig)
    monkeypatch.setattr(workers, "closed_loop", lambda *a, **k: {
        "requests": 1000, "elapsed_s": 10.0, "rps": 100.0, "tool": "fake"})  # fmt: skip
    monkeypatch.setattr(workers, "loadgen", loadgen)
    monkeypatch.setattr(workers, "_control", lambda *a: _Control())
    out = workers.bench_tail(True, tmp_path, workers.parse_tail_rates("840,1344"))
    assert (out["50pct"]["rate"], out["80pct"]["rate"]) == (840.0, 1344.0)
    assert out["rates_pinned"] == [840.0, 1344.0]
    assert "80pct_of_open_loop_max" not in out  # only with a third rate
    assert set(asked) == {840.0, 1344.0}  # via and direct, each at the pinned rate
    # the serving process's share next to the whole sidecar's (a writer child included)
    assert "serving_process_cpu_ms_per_request" in out["50pct"]
    asked.clear()
    out = workers.bench_tail(True, tmp_path, workers.parse_tail_rates("840, 1344, 753"))
    assert out["80pct_of_open_loop_max"]["rate"] == 753.0
    assert workers.bench_tail(True, tmp_path)["50pct"]["rate"] == 50.0  # unpinned: 50% of 100


@pytest.mark.parametrize("text", ["840", "840,x", "840,1344,1,2", "0,100", "-5,10"])
def test_tail_rates_refuse_what_is_not_two_or_three_positive_rates(
    workers: ModuleType, text: str
) -> None:
    with pytest.raises(ValueError, match="tail rates"):
        workers.parse_tail_rates(text)
    assert workers.parse_tail_rates(None) is None and workers.parse_tail_rates(" ") is None


def test_by_source_gives_each_windows_cpu_per_run_next_to_the_max_since_start(
    workers: ModuleType,
) -> None:
    """`max_cpu_ms` is the longest run since the sidecar started (its closed-loop max phase
    included): a window's own mean per run is what tells a window's collections apart."""
    before = {"gc_young": {"background_runs_total": 10.0, "background_cpu_seconds_total": 0.5,
                           "background_max_seconds_cpu": 0.040}}  # fmt: skip
    after = {"gc_young": {"background_runs_total": 110.0, "background_cpu_seconds_total": 0.62,
                          "background_max_seconds_cpu": 0.040}}  # fmt: skip
    row = workers._by_source(before, after, 1000)["gc_young"]
    assert row["cpu_ms_per_run"] == 1.2 and row["max_cpu_ms"] == 40.0
    assert row["cpu_us_per_request"] == 120.0
