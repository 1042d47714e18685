"""Which of a supervisor's workers serve (`server.workers = N`), for /healthz.

Each worker binds its own SO_REUSEPORT socket before its start-up (store, tokenizer, discovery)
runs, so the kernel hands it connections that wait in its backlog until it serves: /healthz,
answered by whichever worker was up first, said ready while part of the traffic waited. The
supervisor gives the workers a directory (READY_DIR_ENV); a worker leaves a file named by its
index there once it accepts, and /healthz is ready (200) only when all N have, a 503
`starting` saying how many serve until then. A lone `arbiter serve` has no directory: always
ready once it answers."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

READY_DIR_ENV = "ARBITER_WORKERS_READY_DIR"  # the supervisor's directory of ready markers
COUNT_ENV = "ARBITER_WORKERS"  # how many workers the supervisor started
_WORKER_ENV = "ARBITER_WORKER"  # workers.WORKER_ENV (not imported: workers.py imports ctypes)

_all_ready: str | None = None  # the directory whose every worker served (a death ends the set)


def mark_ready() -> None:
    """In a worker, once it accepts connections: leave its marker (no-op in a lone sidecar)."""
    where, index = os.environ.get(READY_DIR_ENV), os.environ.get(_WORKER_ENV)
    if where and index is not None:
        with contextlib.suppress(OSError):  # a missing directory: the supervisor is gone
            (Path(where) / index).touch()


def workers_ready() -> tuple[int, int] | None:
    """(workers serving, workers started), or None outside a supervised set."""
    global _all_ready
    where, count = os.environ.get(READY_DIR_ENV), os.environ.get(COUNT_ENV)
    if not where or not count or not count.isdigit():
        return None
    n = int(count)
    if _all_ready == where:
        return n, n
    try:
        ready = min(len(os.listdir(where)), n)  # a few names: a cheap syscall
    except OSError:
        ready = 0
    if ready == n:
        _all_ready = where
    return ready, n
