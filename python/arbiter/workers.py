"""Several worker processes on one port (`server.workers = N`): every core of a host.

The parent is a supervisor: it starts N copies of `arbiter serve` (each marked by
ARBITER_WORKER), each in a process group of its own, forwards SIGTERM/SIGINT to them (a
terminal's Ctrl-C reaches them once, through it) and, when one exits, stops the others and
exits with its status (the host's supervisor — systemd, Kubernetes — restarts the set).
A worker also gets SIGTERM when the supervisor itself dies, even by SIGKILL (Linux death
signal). Each worker binds the port itself with SO_REUSEPORT, so the kernel spreads new
connections over them; no process sits in the data path. A worker is a replica like any
other: budgets, policy, registry overrides and the response cache are shared through the store
(SQLite in WAL mode across processes on one host, or PostgreSQL), never through the parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

from arbiter import inherited_socket, worker_ready

if TYPE_CHECKING:
    from arbiter.config import ServerSettings

log = logging.getLogger("arbiter.serve")

WORKER_ENV = "ARBITER_WORKER"  # set in each worker: its index (0 .. N-1)
# the stores the supervisor warned were at a schema newer than it knows (JSON [[url, schema]]):
# once a set, not once more per worker
NEWER_SCHEMA_ENV = "ARBITER_NEWER_SCHEMA_WARNED"
# past server.shutdown_grace_s, how long a stopping worker may take to shut down (records
# flushed, budget holds released) before the supervisor kills it
SHUTDOWN_MARGIN_S = 15.0


def is_worker() -> bool:
    return WORKER_ENV in os.environ


def inherit_warnings() -> None:
    """In a worker: the store warnings its supervisor already logged for the set."""
    raw = os.environ.get(NEWER_SCHEMA_ENV)
    if not raw:
        return
    from arbiter.store._sql import note_newer_warned

    with contextlib.suppress(ValueError, TypeError):  # our own env, but never fatal
        note_newer_warned((str(url), int(v)) for url, v in json.loads(raw))


def _warned_env() -> dict[str, str]:
    from arbiter.store._sql import newer_warned

    return {NEWER_SCHEMA_ENV: json.dumps(newer_warned())}


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A socket bound where other workers can bind too (the kernel balances accepts), not yet
    listening: the server listens on it once its start-up is done. Listening from here, a worker
    still starting (its store, its state) took its share of new connections into a backlog
    nobody accepted from, for as long as its start took, and reset them if the start failed."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve_set(config: str, host: str, port: int, fd: int | None, server: ServerSettings) -> int:
    """`arbiter serve` with `server.workers` > 1: start the workers on `host:port` (or on the
    inherited socket `fd`) and supervise them; the status to exit with."""
    held: tuple[int, ...] = () if fd is None else (fd,)
    if fd is None and port == 0:  # each worker's own port 0 was a port of its own, unsaid
        try:
            shared = inherited_socket.loopback_listener(host, 0)
        except OSError as err:
            print(f"arbiter: cannot listen on {host}:0: {err.strerror or err}", file=sys.stderr)
            return 3
        fd, port, held = shared.fileno(), inherited_socket.port_of(shared), (shared.fileno(),)
        log.warning("server.port 0: the %d workers serve on %s:%d", server.workers, host, port)
    argv = ["serve", "--config", config, "--host", host, "--port", str(port)]
    if fd is not None:  # every worker accepts on the one inherited socket
        argv += ["--fd", str(fd)]
    elif problem := port_taken(host, port):
        print(f"arbiter: {problem}", file=sys.stderr)
        return 3  # uvicorn's start-up failure status, as a single process exits with
    # a worker's graceful stop takes up to server.shutdown_grace_s, then its shutdown (records
    # written, holds released): the supervisor's fixed 15 s killed it mid-drain
    grace = server.shutdown_grace_s + SHUTDOWN_MARGIN_S
    return supervise(argv, server.workers, grace, pass_fds=held)


def port_taken(host: str, port: int) -> str | None:
    """Why the set cannot have the port, or None. Workers bind with SO_REUSEPORT, which another
    Arbiter set's workers on the port allow too: a second `arbiter serve` started there shared
    the traffic with the first, stale code and config answering part of it. A plain bind, as a
    single process's, is refused while anything listens there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
            probe.bind((host, port))
    except OSError as err:
        return f"cannot listen on {host}:{port}: {err.strerror or err}"
    return None


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with(parent: int) -> None:
    """In a worker between fork and exec: get SIGTERM when the supervisor dies, even by SIGKILL
    (which it cannot forward). Otherwise orphaned workers keep the port, and the set the host
    restarts shares it with them: stale code and config answering part of the traffic.
    SIGHUP is ignored until the worker's own handler takes it (an ignored signal stays ignored
    across exec): a reload passed on while a worker was still importing killed it, and with it
    the whole set (the worker then reads the file as it is, so nothing is missed)."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the forwarding still works
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if os.getppid() != parent:  # it died before the prctl took hold
        os._exit(1)


def supervise(
    argv: Sequence[str], workers: int, grace_s: float = 15.0, pass_fds: Sequence[int] = ()
) -> int:
    """Run `python -m arbiter <argv>` `workers` times; return the first one's exit status.
    `pass_fds`: descriptors every worker inherits (an inherited listening socket, `--fd`)."""
    me = os.getpid()
    ready_dir = tempfile.mkdtemp(prefix="arbiter-workers-")  # worker_ready.py's markers
    shared = {worker_ready.READY_DIR_ENV: ready_dir, worker_ready.COUNT_ENV: str(workers)}
    shared |= _warned_env()  # its migration ran (serve) before the set starts
    try:
        return _run(argv, workers, grace_s, pass_fds, me, shared)
    finally:
        shutil.rmtree(ready_dir, ignore_errors=True)


def _run(
    argv: Sequence[str],
    workers: int,
    grace_s: float,
    pass_fds: Sequence[int],
    me: int,
    shared: dict[str, str],
) -> int:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "arbiter", *argv],
            env={**os.environ, **shared, WORKER_ENV: str(i)},
            preexec_fn=lambda: _die_with(me),  # the supervisor has no threads: fork-safe
            pass_fds=tuple(pass_fds),
            # a process group of its own: a terminal's Ctrl-C signals the whole foreground
            # group, so each worker got SIGINT from it and again from `forward`, which uvicorn
            # reads as Ctrl-C twice: a forced stop, streams cut at once, not given the grace
            process_group=0,
        )
        for i in range(workers)
    ]
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signum)

    def reload(_signum: int, _frame: FrameType | None) -> None:
        """SIGHUP (the operator's, or a worker's after `POST /arbiter/admin/reload`): every
        worker re-reads the config (config_reload.py); the set keeps running."""
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGHUP)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    signal.signal(signal.SIGHUP, reload)
    status = 0
    while True:
        done = [p for p in procs if p.poll() is not None]
        if done:
            status = done[0].returncode
            break
        time.sleep(0.2)
    if not stopping:  # one died on its own: take the set down, let the host restart it
        i = procs.index(done[0])
        log.error(
            "worker %d (pid %d) %s; stopping the other workers, the set exits with its status",
            i, done[0].pid, _how_it_ended(status), extra={"worker": i},
        )  # fmt: skip
        forward(signal.SIGTERM, None)
    deadline = time.monotonic() + grace_s
    for i, p in enumerate(procs):
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error(
                "worker %d (pid %d) still running %.0f s after SIGTERM: killed (what it had "
                "not yet written is lost)", i, p.pid, grace_s, extra={"worker": i},
            )  # fmt: skip
            p.kill()
            p.wait()
    return status if status >= 0 else 128 - status


def _how_it_ended(status: int) -> str:
    """A Popen return code in words: `killed by SIGKILL`, `exited with status 3`."""
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"
