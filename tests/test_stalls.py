"""Stall attribution (stalls.py): background work and collections are timed, and a loop-lag
event is charged to whatever ran during it."""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import time
from pathlib import Path

from arbiter import logs, stalls
from arbiter.loop_lag import LoopLag
from arbiter.recorder import Recorder
from arbiter.store import open_store
from tests.store.conftest import decision


def test_collections_are_timed_by_generation() -> None:
    stalls.watch_gc()
    stalls.watch_gc()  # idempotent: one callback
    assert gc.callbacks.count(stalls._on_gc) == 1
    full, young = stalls.GC_FULL.runs, stalls.GC_YOUNG.runs
    gc.collect()
    gc.collect(0)
    assert stalls.GC_FULL.runs == full + 1
    assert stalls.GC_YOUNG.runs >= young + 1
    assert stalls.GC_FULL.wall_s > 0


def test_a_lag_event_is_charged_to_the_sources_that_overlapped_it() -> None:
    source = stalls.Source("test")
    source.record(100.0, 100.020, 0.015)
    assert source.overlaps(100.010, 100.030)
    assert not source.overlaps(100.020, 100.040)  # touching is not overlapping
    assert source.runs == 1 and source.over_10ms == 1 and source.max_cpu_s == 0.015

    none_before = stalls.unattributed
    recorder_before = stalls.RECORDER.stalls
    far = time.perf_counter() + 1e6  # no source ran then
    stalls.attribute(far, far + 0.02)
    assert stalls.unattributed == none_before + 1
    t0 = time.perf_counter()
    with stalls.RECORDER.measure():
        time.sleep(0.002)
    stalls.attribute(t0, time.perf_counter())
    assert stalls.RECORDER.stalls == recorder_before + 1


def test_recorder_batches_are_measured(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    store.migrate()
    rec = Recorder(store, flush_interval_s=0.05)
    runs, cpu = stalls.RECORDER.runs, stalls.RECORDER.cpu_s
    rec.start()
    try:
        rec.submit(decision("d1"))
        assert rec.flush(5.0)
    finally:
        rec.stop()
        store.close()
    assert stalls.RECORDER.runs > runs
    assert stalls.RECORDER.cpu_s > cpu


def test_metrics_name_every_source() -> None:
    text = stalls.metrics_text()
    for s in stalls.SOURCES:
        assert f'arbiter_background_cpu_seconds_total{{source="{s.name}"}} ' in text
        assert f'arbiter_background_max_seconds{{source="{s.name}",clock="cpu"}} ' in text
        assert f'arbiter_event_loop_stalls_total{{source="{s.name}"}} ' in text
    assert 'arbiter_event_loop_stalls_total{source="none"} ' in text


def test_log_lines_are_timed() -> None:
    stream = io.StringIO()
    handler = logs.MeasuredStreamHandler(stream)
    runs = stalls.LOG.runs
    handler.emit(logging.LogRecord("x", logging.WARNING, __file__, 1, "hello", (), None))
    assert stream.getvalue() == "hello\n"
    assert stalls.LOG.runs == runs + 1
    assert isinstance(logs.configure("warning"), logs.MeasuredStreamHandler)


def test_a_stall_is_told_apart_by_whether_the_loop_thread_ran() -> None:
    ran, waited = stalls.loop_ran, stalls.loop_waited
    far = time.perf_counter() + 1e6
    stalls.attribute(far, far + 0.020, loop_cpu_s=0.015)  # its own work filled the stall
    assert (stalls.loop_ran, stalls.loop_waited) == (ran + 1, waited)
    stalls.attribute(far, far + 0.020, loop_cpu_s=0.002)  # it was off the CPU or the GIL
    assert (stalls.loop_ran, stalls.loop_waited) == (ran + 1, waited + 1)
    assert 'arbiter_event_loop_stalls_by_loop_thread_total{state="ran"} ' in stalls.metrics_text()


def test_the_lag_monitor_reports_the_loop_threads_cpu() -> None:
    lag = LoopLag()

    async def run() -> None:
        lag.start()
        await asyncio.sleep(0.03)
        waited = stalls.loop_waited
        time.sleep(0.06)  # noqa: ASYNC251  # the point: the loop's thread is off the CPU
        await asyncio.sleep(0.03)
        assert stalls.loop_waited >= waited + 1
        await lag.stop()

    asyncio.run(run())
