"""Child processes that die with the test process: a pytest killed by a timeout, SIGKILL or a
closed terminal leaves no `arbiter serve` / `arbiter sim` behind on its ports.

Linux's PR_SET_PDEATHSIG: the kernel sends the child SIGKILL when the thread that started it
ends. So start children from the main thread (fixtures do), never from a worker thread that
may end before the test does.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` for `subprocess.Popen` that makes the child die with this process (None
    off Linux). It applies to the child only, not to what the child starts in turn."""
    if not sys.platform.startswith("linux"):
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
