"""The recorder's writer thread's CPU priority: idle while it keeps up, niced when it is late.

On one core the writer and the event loop share the CPU. A niced thread (today's fallback) still
keeps a share of the core whenever both want it, so a request that arrives during a batch waits
behind part of it. Linux's SCHED_IDLE runs a thread only when the core has nothing else to run:
the loop thread takes the core back the moment it wakes, and the writer lives on the idle gaps
(20-50% of the core at the loads the sidecar is run at). What the loop can still wait for is the
GIL, at most one switch interval (`sys.setswitchinterval`, 1 ms in `serve`), and only while the
writer is in Python rather than in the store's C code.

An idle thread starves on a saturated core (it keeps ~0.3% of it, less than any niced process),
and the recorder's durability bound must hold there too: the writer *hurries* (back to
SCHED_OTHER, niced as before) when a record has waited 3/4 of a flush interval -- noticed by
whichever thread sees it first: the request path submitting the next record (a starved writer
may not run to notice) or the writer taking a batch -- and goes idle again once it takes a
batch in time. Leaving SCHED_IDLE needs
CAP_SYS_NICE or a RLIMIT_NICE that allows the thread's niceness (root in most containers has
neither the capability nor the limit: Docker drops CAP_SYS_NICE), so a throwaway thread probes
the round trip first; where it fails the writer stays niced, as before this module.
"""

from __future__ import annotations

import os
import threading
from typing import Literal, Protocol

# how much nicer than its process the writer thread runs when it is not idle (Linux: a thread's
# own priority): when it and the event loop's thread both want the core, the loop's go first
WRITER_NICER_BY = 10

Priority = Literal["idle", "nice", "none"]


def _tid() -> int:
    return threading.get_native_id()


def _nice_this_thread() -> bool:
    """Run this thread WRITER_NICER_BY nicer than now; False where threads have no priority."""
    try:
        tid = _tid()
        now = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, now + WRITER_NICER_BY))
        return True
    except (AttributeError, OSError):
        return False


def set_policy(idle: bool, tid: int = 0) -> bool:
    """A thread (this one by default; a process's id: its main thread) to SCHED_IDLE (idle) or
    back to SCHED_OTHER; False if refused or unsupported."""
    try:
        policy = os.SCHED_IDLE if idle else os.SCHED_OTHER
        os.sched_setscheduler(tid or _tid(), policy, os.sched_param(0))
        return True
    except (AttributeError, OSError):
        return False


def can_go_idle_and_back() -> bool:
    """Whether a thread here can enter SCHED_IDLE and leave it again (a throwaway thread tries,
    niced as the writer would be, so a thread left stuck idle is not the writer)."""
    result: list[bool] = []

    def probe() -> None:
        _nice_this_thread()
        result.append(set_policy(True) and set_policy(False))

    t = threading.Thread(target=probe, name="arbiter-writer-probe", daemon=True)
    t.start()
    t.join(5.0)
    return bool(result and result[0])


class IdleChild(Protocol):
    """A writer process whose child is what goes idle (writer_process.ProcessWriter)."""

    def can_go_idle_and_back(self) -> bool: ...

    def set_idle(self, idle: bool) -> bool: ...


class WriterPriority:
    """The writer's priority: `start` runs on the writer thread; `hurry` on any thread. With a
    `child` (a writer process), the child goes idle and hurries; the thread, which only hands
    the batches over, is niced."""

    def __init__(self, want_idle: bool, child: IdleChild | None = None) -> None:
        self.want_idle = want_idle
        self._child = child
        self.mode: Priority | Literal[""] = ""  # what start() got
        self.hurrying = False
        self.hurries = 0  # how often the writer was found late and left idle
        self._tid = 0
        self._lock = threading.Lock()

    def start(self) -> Priority:
        niced = _nice_this_thread()
        self._tid = _tid()
        if self._child is not None:
            idle = self.want_idle and self._child.can_go_idle_and_back()
            self.mode = "idle" if idle and self._child.set_idle(True) else "nice"
            return self.mode
        if self.want_idle and can_go_idle_and_back() and set_policy(True):
            self.mode = "idle"
        else:
            self.mode = "nice" if niced else "none"
        return self.mode

    def hurry(self, late: bool) -> None:
        """late: the writer thread leaves idle (niced, with a share of the core) until called
        with False."""
        if self.mode != "idle" or late == self.hurrying:
            return
        with self._lock:
            if late != self.hurrying and self._apply(not late):
                self.hurrying = late
                self.hurries += int(late)

    def _apply(self, idle: bool) -> bool:
        if self._child is not None:
            return self._child.set_idle(idle)
        return set_policy(idle, self._tid)
