"""gc_tuning: the serving process's collector settings (rarer young collections, one freeze of
the warmed-up heap right after a full collection)."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterator

import pytest

from arbiter import gc_tuning


@pytest.fixture
def restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    threshold = gc.get_threshold()
    monkeypatch.setattr(gc_tuning, "_frozen", False)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        while gc_tuning._freeze_when_warm in gc.callbacks:
            gc.callbacks.remove(gc_tuning._freeze_when_warm)
        gc.unfreeze()  # the test suite keeps collecting what it makes


@pytest.mark.usefixtures("restored")
def test_young_collections_are_rarer_and_the_older_thresholds_kept() -> None:
    _, middle, old = gc.get_threshold()
    gc_tuning.tune_for_serving()
    gc_tuning.tune_for_serving()  # idempotent: one callback
    assert gc.get_threshold() == (gc_tuning.YOUNG_THRESHOLD, middle, old)
    assert gc.callbacks.count(gc_tuning._freeze_when_warm) == 1


@pytest.mark.usefixtures("restored")
def test_the_heap_is_frozen_once_after_the_first_full_collection_when_warm() -> None:
    gc.unfreeze()
    gc_tuning.tune_for_serving()  # warm only WARM_S from now
    gc.collect()
    assert gc.get_freeze_count() == 0  # not yet warm: nothing frozen
    gc_tuning.tune_for_serving(now=time.monotonic() - gc_tuning.WARM_S - 1)
    gc.collect(1)
    assert gc.get_freeze_count() == 0  # only after a full collection
    gc.collect()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    keep = [[i] for i in range(1000)]  # new objects, collected as usual from now on
    gc.collect()
    # once only: the new objects went to the oldest generation, not the frozen one (whose count
    # can only shrink, as frozen objects other threads or finalisers drop are unlinked)
    assert gc.get_freeze_count() <= frozen
    assert any(o is keep for o in gc.get_objects(generation=2))


@pytest.fixture
def idle_collector() -> Iterator[gc_tuning.IdleCollector]:
    threshold = gc.get_threshold()
    c = gc_tuning.IdleCollector(young=500, poll_s=0.001)
    gc.disable()  # only the collector under test collects (the interpreter's trigger would too)
    try:
        yield c
    finally:
        gc.enable()
        c.stop()
        gc.set_threshold(*threshold)


def test_the_idle_collector_collects_what_cpython_would_when_due(
    idle_collector: gc_tuning.IdleCollector,
) -> None:
    c = idle_collector
    gc.collect()
    assert c.collect_due() == -1  # nothing built up yet
    keep = [[i] for i in range(2_000)]  # 2,000 tracked containers: over the young threshold
    gen = c.collect_due()
    assert gen in (0, 1) and c.collections[gen] == 1
    assert gc.get_count()[0] < 500
    # every threshold1-th young collection is a generation-1 one, as the interpreter does
    _, t1, _ = gc.get_threshold()
    for _ in range(t1 + 1):
        keep.extend([i] for i in range(600))
        c.collect_due()
    assert c.collections[1] >= 1
    assert len(keep) > 2_000


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
def test_the_idle_collector_thread_runs_at_sched_idle_and_collects(
    idle_collector: gc_tuning.IdleCollector,
) -> None:
    from arbiter.writer_priority import can_go_idle_and_back

    c = idle_collector
    if not can_go_idle_and_back():  # its collections could not leave SCHED_IDLE: not used
        assert not c.start()
        return
    assert c.start()
    assert c.thread is not None and c.thread.native_id is not None
    assert os.sched_getscheduler(c.thread.native_id) == os.SCHED_IDLE
    keep = [[i] for i in range(5_000)]
    # the test's own thread sleeps: the core has spare time, though on a saturated CI machine
    # a SCHED_IDLE thread gets only slivers of it (hence the generous bound)
    deadline = time.monotonic() + 30.0
    while sum(c.collections) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sum(c.collections) >= 1 and len(keep) == 5_000


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
@pytest.mark.usefixtures("restored")
def test_serving_with_the_idle_collector_keeps_the_interpreters_trigger_as_a_backstop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from arbiter.writer_priority import can_go_idle_and_back

    monkeypatch.setattr(gc_tuning, "_idle", None)
    _, middle, old = gc.get_threshold()
    gc_tuning.tune_for_serving(idle_collector=True)
    idle = gc_tuning._idle
    if not can_go_idle_and_back():  # no idle collector: the interpreter collects at 2,000
        assert idle is None and gc.get_threshold() == (gc_tuning.YOUNG_THRESHOLD, middle, old)
        return
    assert idle is not None
    try:
        assert gc.get_threshold() == (gc_tuning.BACKSTOP, middle, old)
        gc_tuning.tune_for_serving(idle_collector=True)  # idempotent: one thread
        assert gc_tuning._idle is idle
    finally:
        idle.stop()


def test_the_idle_collector_looks_rarely_while_little_is_allocated() -> None:
    """Each look is a wake-up and a GIL hand-off: a fixed 5 ms poll cost 200 a second at rest.
    The wait after a look follows the allocation rate (a fake clock: no timing here)."""
    c = gc_tuning.IdleCollector(young=10_000, poll_s=0.001, max_poll_s=0.1)
    gc.disable()  # only the collector under test collects
    try:
        gc.collect()
        assert c.poll(100.0) == 0.001  # a first look: no rate yet
        assert c.poll(101.0) == 0.1  # (next to) nothing allocated for a second: the longest wait
        keep = [[i] for i in range(3_000)]  # ~3,000 in 10 ms: ~7,000 to go, ~23 ms away
        wait = c.poll(101.01)
        assert 0.001 < wait < 0.02 and c.collections == [0, 0, 0]
        keep.extend([i] for i in range(8_000))  # over the threshold: collected
        c.poll(101.02)
        assert sum(c.collections) == 1 and len(keep) == 11_000 and c.polls == 4
    finally:
        gc.enable()


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
def test_the_idle_collectors_collections_run_at_sched_other_and_it_goes_idle_again(
    idle_collector: gc_tuning.IdleCollector,
) -> None:
    """A collection sets CPython's "collecting" flag, then calls the gc callbacks (Python: the
    GIL can go to the loop there). An idle thread waited for the core's next idle moment with
    the flag set, the interpreter's trigger blocked meanwhile: young objects piled up to 15x the
    threshold and the collection held the GIL for 10-40 ms (bench/results/scale.md). Only the
    decision to collect waits for spare time; the collection runs at SCHED_OTHER."""
    from arbiter.writer_priority import can_go_idle_and_back

    c = idle_collector
    policies: list[int] = []

    def seen(phase: str, info: dict[str, object]) -> None:
        thread = c.thread
        if thread is not None and thread.native_id == threading.get_native_id():
            policies.append(os.sched_getscheduler(0))

    if not can_go_idle_and_back():  # no CAP_SYS_NICE / RLIMIT_NICE: the interpreter collects
        assert not c.start() and c.thread is None
        return
    gc.callbacks.append(seen)
    try:
        assert c.start()
        assert c.thread is not None and c.thread.native_id is not None
        keep = [[i] for i in range(5_000)]
        deadline = time.monotonic() + 30.0  # a SCHED_IDLE thread on a saturated CI machine
        while sum(c.collections) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sum(c.collections) >= 1 and len(keep) == 5_000
        assert policies and set(policies) == {os.SCHED_OTHER}  # start and stop callbacks
        time.sleep(0.01)
        assert os.sched_getscheduler(c.thread.native_id) == os.SCHED_IDLE
    finally:
        gc.callbacks.remove(seen)


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
@pytest.mark.usefixtures("restored")
def test_where_a_thread_cannot_leave_sched_idle_the_interpreter_collects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No CAP_SYS_NICE and RLIMIT_NICE 0 (a default container): entering SCHED_IDLE works,
    leaving it does not. A collection stuck at SCHED_IDLE is the stall above, so no idle
    collector: the interpreter's own trigger at YOUNG_THRESHOLD."""
    monkeypatch.setattr(gc_tuning, "_idle", None)
    monkeypatch.setattr(gc_tuning, "set_policy", lambda idle, tid=0: idle)  # only into idle
    _, middle, old = gc.get_threshold()
    gc_tuning.tune_for_serving(idle_collector=True)
    assert gc_tuning._idle is None
    assert gc.get_threshold() == (gc_tuning.YOUNG_THRESHOLD, middle, old)
