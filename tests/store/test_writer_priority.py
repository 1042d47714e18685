"""The recorder's writer thread at idle priority (store.writer_priority = "idle", opt-in).

It runs at SCHED_IDLE while it keeps up, hurries (SCHED_OTHER, niced) when it finds itself late,
and stays niced where the kernel would not let it back out of SCHED_IDLE.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from arbiter import writer_priority
from arbiter.config import StoreSettings
from arbiter.recorder import Recorder
from arbiter.store import open_store
from arbiter.writer_priority import WriterPriority, can_go_idle_and_back

from .conftest import decision

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="thread scheduling policies are Linux's"
)


def _policy(tid: int) -> int:
    return os.sched_getscheduler(tid)


def _nice(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


def _in_a_thread(fn: Callable[[], None]) -> None:
    err: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as e:  # re-raised in the test's thread
            err.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join(10.0)
    if err:
        raise err[0]


def test_nice_is_the_default() -> None:
    # idle raised the added p50 at 50% load with serve's 1 ms switch interval (scale.md)
    assert StoreSettings().writer_priority == "nice"


def test_an_idle_writer_runs_at_sched_idle_and_hurries_niced_when_late() -> None:
    if not can_go_idle_and_back():
        pytest.skip("this kernel / these capabilities keep a thread in SCHED_IDLE")

    def check() -> None:
        tid = threading.get_native_id()
        base = _nice(tid)
        p = WriterPriority(want_idle=True)
        assert p.start() == "idle"
        assert _policy(tid) == os.SCHED_IDLE
        p.hurry(True)
        assert _policy(tid) == os.SCHED_OTHER and p.hurrying and p.hurries == 1
        assert _nice(tid) == min(19, base + writer_priority.WRITER_NICER_BY)
        p.hurry(True)  # already hurrying: no second count
        p.hurry(False)
        assert _policy(tid) == os.SCHED_IDLE and not p.hurrying and p.hurries == 1

    _in_a_thread(check)


def test_a_niced_writer_stays_niced_and_never_goes_idle() -> None:
    def check() -> None:
        tid = threading.get_native_id()
        base = _nice(tid)
        p = WriterPriority(want_idle=False)
        assert p.start() == "nice"
        p.hurry(True)  # a no-op: only an idle writer hurries
        assert _policy(tid) == os.SCHED_OTHER and not p.hurrying
        assert _nice(tid) == min(19, base + writer_priority.WRITER_NICER_BY)

    _in_a_thread(check)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux setpriv")
def test_without_cap_sys_nice_the_writer_stays_niced_instead_of_stuck_idle() -> None:
    # root without CAP_SYS_NICE (as in a default Docker container) and RLIMIT_NICE 0: a thread
    # may enter SCHED_IDLE but not leave it, so the writer must not go idle at all
    if os.geteuid() != 0:
        pytest.skip("dropping the capability from a bounding set needs root")
    code = (
        "import os, threading\n"
        "from arbiter.writer_priority import WriterPriority, can_go_idle_and_back\n"
        "out = []\n"
        "def run():\n"
        "    p = WriterPriority(want_idle=True)\n"
        "    out.append((can_go_idle_and_back(), p.start(),\n"
        "                os.sched_getscheduler(threading.get_native_id())))\n"
        "t = threading.Thread(target=run); t.start(); t.join()\n"
        "print(out[0])\n"
    )
    src = str(Path(writer_priority.__file__).resolve().parents[1])
    run = subprocess.run(
        ["setpriv", "--bounding-set=-sys_nice", "--inh-caps=-sys_nice", sys.executable, "-c",
         code],
        capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": src},
        preexec_fn=lambda: __import__("resource").setrlimit(  # type: ignore[no-any-return]
            __import__("resource").RLIMIT_NICE, (0, 0)
        ),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"(False, 'nice', {os.SCHED_OTHER})"


@pytest.fixture
def idle_recorder(tmp_path: Path) -> Iterator[Recorder]:
    # SQLite only: what is measured is the writer thread's share of a core, not a backend
    if not can_go_idle_and_back():
        pytest.skip("this kernel / these capabilities keep a thread in SCHED_IDLE")
    store = open_store(f"sqlite:///{tmp_path}/idle.db")
    store.migrate()
    rec = Recorder(store, flush_interval_s=0.1, idle_priority=True, chunk_max=64, rest_ratio=2.0)
    rec.start()
    yield rec
    rec.stop(10.0)
    store.close()


def _writer_tid() -> int:
    for t in threading.enumerate():
        if t.name == "arbiter-recorder" and t.native_id is not None:
            return t.native_id
    raise AssertionError("no recorder thread")


def test_a_starved_idle_writer_hurries_and_still_writes(idle_recorder: Recorder) -> None:
    rec = idle_recorder
    rec.submit(decision("first"))
    assert rec.flush(10.0) and rec.priority.mode == "idle"
    tid = _writer_tid()
    core = min(os.sched_getaffinity(0))
    # a busy normal-priority process on the writer's only core: SCHED_IDLE alone would leave the
    # writer ~0.3% of it; the recorder must notice it is late and hurry
    spinner = subprocess.Popen(
        ["taskset", "-c", str(core), sys.executable, "-c",
         "import time\nend = time.monotonic() + 20\nwhile time.monotonic() < end: pass"],
    )  # fmt: skip
    try:
        os.sched_setaffinity(tid, {core})
        time.sleep(0.3)  # the spinner owns the core
        # a drain of many transactions: between them the writer stays runnable, and at
        # SCHED_IDLE would get ~0.3% of the core (minutes for these)
        for i in range(5_000):
            rec.submit(decision(f"starved{i}"))
        assert rec.flush(15.0), "an idle writer on a busy core never caught up"
        assert rec.priority.hurries >= 1
    finally:
        spinner.kill()
        spinner.wait(10)
        os.sched_setaffinity(tid, os.sched_getaffinity(0))
    assert rec.dropped == 0


def test_an_idle_writer_does_not_rest_between_its_transactions(idle_recorder: Recorder) -> None:
    # rests (store.writer_pace) would only delay an idle writer: it has only the spare core
    rests: list[float] = []
    rec = idle_recorder
    rec._rest = rests.append  # type: ignore[method-assign]
    for i in range(1_000):
        rec.submit(decision(f"d{i}"))
    assert rec.flush(20.0)
    assert rests == []


def test_the_request_path_hurries_a_writer_whose_oldest_record_is_late(tmp_path: Path) -> None:
    # a starved idle writer may not run to see that it is late: submit() looks for it (no
    # writer thread here, so nothing else takes the records or calls hurry)
    store = open_store(f"sqlite:///{tmp_path}/late.db")
    rec = Recorder(store, flush_interval_s=0.1, idle_priority=True)
    calls: list[bool] = []
    rec.priority.hurry = calls.append  # type: ignore[method-assign]
    rec.submit(decision("fresh"))
    rec.submit(decision("fresh too"))
    assert calls == []  # nothing has waited 3/4 of the interval
    with rec._lock:  # the oldest record queued 80 ms ago, still not taken
        seq, _, record = rec._queue.popleft()
        rec._queue.appendleft((seq, time.monotonic() - 0.08, record))
    rec.submit(decision("new"))
    assert calls == [True]
    store.close()
