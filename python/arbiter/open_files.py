"""Raise the soft open-files limit to the hard one as `arbiter serve` starts.

A process inherits its soft RLIMIT_NOFILE, often 1,024 (systemd's default, most shells'),
while the hard limit is far higher (524,288 under systemd). Every client connection, upstream
connection and store file takes a descriptor, so a busy sidecar under the soft limit fails its
accepts at about a thousand sockets with EMFILE. Raising the soft limit up to the hard one
needs no privilege; nothing here ever lowers a limit.
"""

from __future__ import annotations

import logging
import resource

_log = logging.getLogger(__name__)


def raise_to_hard_limit() -> tuple[int, int]:
    """Set the soft RLIMIT_NOFILE to the hard limit; (soft before, soft after). Logged once,
    only when it changed (a worker inherits the raised limit: it logs nothing)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != resource.RLIM_INFINITY and soft >= hard:
        return soft, soft
    # an infinite hard limit is refused as a soft one by Linux past fs.nr_open: try, else keep
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as err:
        _log.warning("open files: the soft limit stays %d (raising it to %d failed: %s)",
                     soft, hard, err)  # fmt: skip
        return soft, soft
    _log.info("open files: soft limit raised from %d to the hard limit %d", soft, hard)
    return soft, hard
