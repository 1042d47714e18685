"""`/metrics` under `server.workers = N`: every sample names the worker that counted it.

The workers share the port, so a scrape reads whichever worker the kernel gives the connection,
and each keeps its own counters. Unlabelled, two workers' counts read as one series that jumped
between them: every drop a counter reset to Prometheus, so `increase()` and `rate()` counted the
other worker's whole total again (spend shown 2x and more). With `worker="i"` on each sample,
each worker's series only grows, and summed over `worker` they are the host's.
"""

from __future__ import annotations

import os

from arbiter.workers import WORKER_ENV


def this_worker() -> str | None:
    """This process's worker index under a supervisor (None: a lone `arbiter serve`)."""
    return os.environ.get(WORKER_ENV)


def labelled(text: str, worker: str) -> str:
    """`text` (Prometheus exposition 0.0.4) with `worker` as the first label of every sample."""
    label = f'worker="{worker}"'
    out = []
    for line in text.splitlines(keepends=True):
        if not line.strip() or line.startswith("#"):
            out.append(line)
            continue
        name, sep, rest = line.partition("{")
        if sep:  # name{a="b"} v  ->  name{worker="i",a="b"} v
            out.append(f"{name}{{{label}{',' if not rest.startswith('}') else ''}{rest}")
        else:  # name v  ->  name{worker="i"} v
            name, _, value = line.partition(" ")
            out.append(f"{name}{{{label}}} {value}")
    return "".join(out)
