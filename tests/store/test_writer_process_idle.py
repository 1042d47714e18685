"""The writer process as the tail's lever (store.writer = "process", writer_priority = "idle"):
the serving process only packs records (no rows built there), the child runs SCHED_IDLE and is
hurried back when a record waits too long, and every guarantee of the recorder holds through it
(kill -9 of the child, clean stop), on both backends."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from arbiter import writer_process
from arbiter.config import StoreSettings
from arbiter.recorder import Recorder
from arbiter.records import PolicyDelta
from arbiter.store import Store, _sql
from arbiter.writer_priority import can_go_idle_and_back
from arbiter.writer_process import ProcessWriter, for_settings

from .conftest import decision, grade

# the writer thread unniced: a child it restarts starts at the test's own priority (conftest)
pytestmark = pytest.mark.usefixtures("writer_thread_unniced")

needs_idle = pytest.mark.skipif(
    not can_go_idle_and_back(), reason="Linux here lets no thread back out of SCHED_IDLE"
)


@pytest.fixture
def recorders(store_url: str) -> Iterator[Callable[..., tuple[Recorder, ProcessWriter]]]:
    made: list[Recorder] = []

    def make(**kw: Any) -> tuple[Recorder, ProcessWriter]:
        store: Store = kw.pop("store")
        writer = for_settings(StoreSettings(url=store_url, writer="process"), "test")
        assert writer is not None
        rec = Recorder(store, writer=writer, **kw)
        rec.start()
        made.append(rec)
        return rec, writer

    yield make
    for rec in made:
        rec.stop(10.0)


def _policy_of(pid: int) -> int:
    return os.sched_getscheduler(pid)


def _eventually(check: Callable[[], bool], seconds: float = 20.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.02)
    return check()


def test_the_serving_process_builds_no_rows(
    store: Store, recorders: Callable[..., tuple[Recorder, ProcessWriter]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The request path packs each record; the writer thread only hands the bytes over. Before,
    the writer thread built the batch's rows (`encode_rows`: ~6-10 us of GIL-holding Python per
    decision, bunched in batches) in the serving process."""

    def not_here(*_: Any, **__: Any) -> Any:
        raise AssertionError("rows built in the serving process")

    monkeypatch.setattr(_sql, "encode_rows", not_here)
    monkeypatch.setattr(writer_process, "encode_rows", not_here, raising=False)
    rec, _ = recorders(store=store, flush_interval_s=0.02)
    for i in range(50):
        rec.submit(decision(f"d{i}"))
        rec.submit(grade(f"d{i}", 0.5))
    rec.submit(PolicyDelta("t1", "qa", "small", 1.0, 0.0, 1.0))
    assert rec.flush(20.0)
    assert rec.dropped == 0
    assert store.stats(tenant=None)["requests"] == 50
    assert store.stats(tenant=None)["graded"] == 50
    assert [a.n for a in store.load_arms()] == [1.0]


@needs_idle
def test_the_child_runs_idle_and_a_restarted_one_too(
    store: Store,
    recorders: Callable[..., tuple[Recorder, ProcessWriter]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With writer_priority = "idle" the child (not the serving process's thread) is at
    SCHED_IDLE; kill -9 of it loses nothing acknowledged and the new child is idle as well.
    Before, the setting was ignored with a writer process: the child ran SCHED_OTHER."""
    rec, w = recorders(store=store, flush_interval_s=0.2, idle_priority=True)
    assert _eventually(lambda: rec.priority.mode == "idle")
    pid = w.pid
    assert pid is not None and _policy_of(pid) == os.SCHED_IDLE
    assert _policy_of(os.getpid()) == os.SCHED_OTHER  # the serving process is left alone
    rec.submit(decision("a"))
    assert rec.flush(20.0)
    os.kill(pid, signal.SIGKILL)
    rec.submit(decision("b"))
    rec.submit(PolicyDelta("t1", "qa", "small", 1.0, 0.0, 1.0))
    assert rec.flush(20.0)
    assert w.pid not in (None, pid) and w.started == 2
    # the replayed batch was late, so the writer may be hurrying (the new child niced, not
    # idle): the next batch taken in time puts it back (a loaded host may be late again)
    # (each change of its policy with the kernel's word right after it: a loaded host's next
    # reply may be late again, and the child hurried anew by the time this looks)
    changes: list[tuple[bool, int]] = []
    set_idle = w.set_idle

    def seen(idle: bool) -> bool:
        done = set_idle(idle)
        changes.append((idle, _policy_of(w.pid or 0)))
        return done

    def idle_again() -> bool:
        return _policy_of(w.pid or 0) == os.SCHED_IDLE or (True, os.SCHED_IDLE) in changes

    monkeypatch.setattr(w, "set_idle", seen)
    more = []
    for i in range(20):
        more.append(f"c{i}")
        rec.submit(decision(more[-1]))
        assert rec.flush(20.0)
        if idle_again():
            break
    assert idle_again(), (rec.priority.hurrying, rec.priority.hurries, changes)
    assert {d["id"] for d in store.decisions(tenant=None, limit=50)} == {"a", "b", *more}
    assert rec.dropped == 0 and rec.store_healthy


@needs_idle
def test_a_starved_idle_child_is_hurried_and_goes_idle_again(
    store: Store, recorders: Callable[..., tuple[Recorder, ProcessWriter]]
) -> None:
    """The durability bound on a saturated core: a record that waited 3/4 of the flush interval
    takes the child out of SCHED_IDLE (the request path notices: the writer thread is stuck
    waiting on the child); once a batch is taken in time again it is idle again."""
    rec, w = recorders(store=store, flush_interval_s=0.1, idle_priority=True)
    assert _eventually(lambda: rec.priority.mode == "idle")
    pid = w.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # starved: it takes no batch (its writer thread waits on it)
    try:
        rec.submit(decision("a"))  # the writer thread hands it over and waits for the reply
        time.sleep(0.1)
        rec.submit(decision("b"))  # queued behind it
        time.sleep(0.1)  # > 3/4 of the interval
        rec.submit(decision("c"))  # the request path finds "b" late
        assert rec.priority.hurrying
        assert _policy_of(pid) == os.SCHED_OTHER
    finally:
        os.kill(pid, signal.SIGCONT)
    assert rec.flush(20.0)
    more = []  # a batch taken in time puts the child back (a loaded host may be late again)
    for i in range(20):
        more.append(f"d{i}")
        rec.submit(decision(more[-1]))
        assert rec.flush(20.0)
        if not rec.priority.hurrying:
            break
    assert not rec.priority.hurrying and _policy_of(pid) == os.SCHED_IDLE
    assert rec.priority.hurries >= 1
    assert {d["id"] for d in store.decisions(tenant=None, limit=50)} == {"a", "b", "c", *more}


@needs_idle
def test_an_idle_child_starved_with_the_last_batch_is_hurried(
    store: Store,
    recorders: Callable[..., tuple[Recorder, ProcessWriter]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No record follows the one handed over (traffic stopped) and the child does not answer
    (starved: stopped here): the writer thread, waiting on the reply, hurries it within the
    bound. Before, only the next record's submit or the next batch's take noticed: on a
    saturated core an idle child with the last batch never ran (the suite's flush(20) timed
    out at load ~18 with two CPU loops beside it)."""
    rec, w = recorders(store=store, flush_interval_s=0.2, idle_priority=True)
    assert _eventually(lambda: rec.priority.mode == "idle")
    pid = w.pid
    assert pid is not None
    # each change of the child's policy and the kernel's word right after it (a loaded host's
    # next reply may be late again: the state at the end says nothing of the change)
    changes: list[tuple[bool, int]] = []
    set_idle = w.set_idle

    def seen(idle: bool) -> bool:
        done = set_idle(idle)
        changes.append((idle, _policy_of(pid)))
        return done

    monkeypatch.setattr(w, "set_idle", seen)
    os.kill(pid, signal.SIGSTOP)
    try:
        rec.submit(decision("a"))  # handed over; nothing submitted after it
        assert _eventually(lambda: rec.priority.hurrying, 10.0), "never hurried"
        assert changes == [(False, os.SCHED_OTHER)] and rec.priority.hurries == 1
    finally:
        os.kill(pid, signal.SIGCONT)
    assert rec.flush(20.0)
    more = []  # a batch taken in time puts it back (a loaded host's writer may be late too)
    for i in range(20):
        more.append(f"b{i}")
        rec.submit(decision(more[-1]))
        assert rec.flush(20.0)
        if len(changes) > 1:
            break
    assert changes[1] == (True, os.SCHED_IDLE), changes
    assert {d["id"] for d in store.decisions(tenant=None, limit=50)} == {"a", *more}


def test_a_clean_stop_drains_through_the_idle_child(
    store: Store, recorders: Callable[..., tuple[Recorder, ProcessWriter]]
) -> None:
    """stop() without a flush first: everything accepted is written before the child exits."""
    rec, w = recorders(store=store, flush_interval_s=5.0, idle_priority=True)
    for i in range(300):
        rec.submit(decision(f"d{i}"))
    rec.submit(PolicyDelta("t1", "qa", "small", 2.0, 1.0, 3.0))
    assert rec.backlog > 0  # a 5 s interval: nothing written yet
    rec.stop(20.0)
    assert w.pid is None  # the child exited with its pipe
    assert store.stats(tenant=None)["requests"] == 300
    assert [a.n for a in store.load_arms()] == [3.0]
    assert rec.backlog == 0 and rec.dropped == 0
