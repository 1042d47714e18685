"""Child processes that die with the test process: a pytest killed by a timeout, SIGKILL or a
closed terminal leaves no `arbiter serve` / `arbiter sim` behind on its ports.

Linux's PR_SET_PDEATHSIG: the kernel sends the child SIGKILL when the THREAD that started it
ends, not the process. So only a child started from the main thread (which lives as long as
pytest) is armed; one started from a worker thread (bench/store.start_all starts replicas from
a pool that ends at once) is left as before, stopped by its fixture.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` for `subprocess.Popen` that makes the child die with this process (None
    off Linux, or off the main thread: see above). It applies to the child only, not to what
    the child starts in turn."""
    if (
        not sys.platform.startswith("linux")
        or threading.current_thread() is not threading.main_thread()
    ):
        return None
    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            err = ctypes.get_errno()  # Popen raises this in the parent: no unguarded child
            raise OSError(err, f"prctl(PR_SET_PDEATHSIG): {os.strerror(err)}")
        if os.getppid() != parent:  # the parent died before the prctl: nobody will signal us
            os._exit(1)

    return preexec
