"""The recorder's writes in a child process: the store transaction does not share the GIL.

In one process the recorder's batch (rollup plan, parameter binding: ~15-25 us of Python per
decision) holds the GIL in runs of up to the switch interval; on one core the event loop then
waits for it on every wake-up (bench/results/scale.md, Tail under load). Here the request path
packs each record into bytes as it submits it (`pack`, record_wire.py: a few us, spread over
the requests instead of bunched in a batch), the recorder's thread joins a batch's bytes and
pickles the list down a pipe (C work; the pipe's I/O releases the GIL), and the child, started
with `python -m arbiter.writer_process` when the recorder starts (not by the first batch:
spawned from the niced writer thread under load, its start-up took seconds), builds the rows
straight from the bytes (`record_wire.encode`: the same rows `encode_rows` builds from the
records, without rebuilding them) and runs `write_rows` on its own store connection.

Priority: niced like the writer thread; with `store.writer_priority = "idle"` the child runs
SCHED_IDLE (`set_idle`): the kernel takes the core from it the moment the serving process's
loop wakes, and, being another process, it holds no GIL the loop could wait for. When a record
has waited too long (a saturated core starves an idle task) the recorder hurries it back to
SCHED_OTHER, niced, as it does its own thread (writer_priority.py); a restarted child gets the
policy of the moment.

Protocol (stdin / stdout of the child, frames of a 4-byte big-endian length + a pickle):
  first frame      (store URL, log format, secrets): the URL unredacted (not in argv, where
                   `ps` would show a password); the child's log lines in the server's format,
                   every secret the serving process masks masked (log_secrets.py) too
  its reply        ("ready",) once its imports are done and its store opened
  request          (batch_id, ts, [record bytes, or a record marshal cannot carry])
  reply            ("ok",) | ("store_error", message, transient) | ("error", message)
`ts`: when the serving process sent the batch (the rows' and the batch id's timestamp, as
`encode_rows` there stamped them before).
Durability is the recorder's: a batch is acknowledged only by the child's "ok" after its
commit. A child that dies or closes its pipe fails the call as a transient StoreError; the
recorder keeps that batch (same batch id) and retries, and the next call starts a new child: a
batch the dead child did commit is skipped by its batch id. The child exits when its stdin
closes (the parent stopped or died) and ignores SIGINT / SIGTERM sent to the process group, so
a stopping server's last batch is still written. It inherits the parent's CPU affinity.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from arbiter import log_secrets, logs, record_wire
from arbiter.config import StoreSettings
from arbiter.records import Record
from arbiter.store import StoreError
from arbiter.writer_priority import WRITER_NICER_BY, set_policy

log = logging.getLogger("arbiter.writer_process")  # in the child too (there: __main__)

_LEN = struct.Struct("!I")
_STOP_WAIT_S = 10.0  # how long close() lets the child finish a write before killing it


def _send(pipe: IO[bytes], obj: Any) -> None:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(_LEN.pack(len(body)) + body)
    pipe.flush()


def _replied(pipe: IO[bytes], within_s: float) -> bool:
    """Whether `pipe` has something to read within `within_s`."""
    return bool(select.select([pipe], [], [], within_s)[0])


def _recv(pipe: IO[bytes]) -> Any:
    """The next frame's object; EOFError when the pipe closed."""
    head = pipe.read(_LEN.size)
    if len(head) < _LEN.size:
        raise EOFError("pipe closed")
    (size,) = _LEN.unpack(head)
    body = pipe.read(size)
    if len(body) < size:
        raise EOFError("pipe closed mid-frame")
    return pickle.loads(body)  # our own child / parent, over a private pipe


class ProcessWriter:
    """`write(records, batch_id=)` like a Store's, done by a child process (one at a time: the
    recorder's writer thread is the only caller)."""

    def __init__(
        self, url: str, *, redacted_url: str, nicer_by: int, log_format: str = "text"
    ) -> None:
        self._url = url
        self._log_format = log_format
        self.url = redacted_url  # what logs and alerts name
        self._nicer_by = nicer_by
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.started = 0  # children started so far (the first, then one per restart)
        # the child's scheduling policy: SCHED_IDLE when True (set_idle), kept for a restart
        self._idle = False
        self._late_after_s = 0.0  # hurry_when_late
        self._hurry: Callable[[], None] | None = None
        self._policy_lock = threading.Lock()

    def pack(self, record: Record) -> Record | bytes:
        """What the recorder queues for `record`: its bytes (the request path pays for them,
        a few us, instead of the writer thread's batch), or itself if marshal cannot carry it."""
        packed = record_wire.pack(record)
        return record if packed is None else packed

    def start(self) -> None:
        """Start the child now (its imports overlap the server's start-up); a failure is
        logged and retried by the first write."""
        with self._lock:
            try:
                self._running()
            except StoreError as err:
                log.warning("%s", err)

    def write(self, records: Sequence[Record | bytes], *, batch_id: str | None = None) -> None:
        """Write `records` (packed or not) in one transaction in the child; returns once it
        committed (StoreError: transient when the child died; the caller retries)."""
        if not records:
            return
        items = [r if isinstance(r, bytes) else self.pack(r) for r in records]
        reply = self._call((batch_id, time.time(), items))
        if reply[0] == "ok":
            return
        if reply[0] == "store_error":
            raise StoreError(reply[1], transient=bool(reply[2]))
        raise RuntimeError(f"writer process: {reply[1]}")

    def set_idle(self, idle: bool) -> bool:
        """The child at SCHED_IDLE (True) or back at SCHED_OTHER, niced (False); kept for the
        next child. False where Linux refused (then the policy is as it was)."""
        with self._policy_lock:
            pid = self.pid
            if pid is not None and not set_policy(idle, pid):
                return False
            self._idle = idle
            return True

    def can_go_idle_and_back(self) -> bool:
        """Whether this process may put its child at SCHED_IDLE and take it out again (leaving
        it needs CAP_SYS_NICE or an RLIMIT_NICE that allows the child's niceness); tried on the
        running child, which is left as it was (SCHED_OTHER)."""
        with self._policy_lock:
            pid = self.pid
            if pid is None or self._idle:
                return False
            return set_policy(True, pid) and set_policy(False, pid)

    def hurry_when_late(self, after_s: float, hurry: Callable[[], None]) -> None:
        """`hurry` is called when the idle child's reply to a batch takes over `after_s`: on a
        saturated core an idle child with a batch in hand may never run, and the request path
        (the other one that notices) sees a late record only when the next one is submitted,
        which may never come: the batch in hand waited for the core to go quiet."""
        self._late_after_s, self._hurry = after_s, hurry

    @property
    def idle(self) -> bool:
        return self._idle

    def _call(self, request: tuple[str | None, float, list[Record | bytes]]) -> Any:
        with self._lock:
            proc = self._running()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                _send(proc.stdin, request)
                # one reply a request: nothing is buffered ahead of it, so the descriptor says
                hurry = self._hurry
                if (
                    hurry is not None
                    and self._idle
                    and not _replied(proc.stdout, self._late_after_s)
                ):
                    hurry()
                return _recv(proc.stdout)
            except (OSError, EOFError, pickle.UnpicklingError) as err:
                self._reap(proc)
                raise StoreError(f"writer process {proc.pid} died ({err}); restarting it") from err

    def _running(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        if self._proc is not None:
            self._reap(self._proc)
        # the child imports this package from where the parent found it
        root = str(Path(__file__).resolve().parents[1])
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "arbiter.writer_process", str(self._target_nice())],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
                env={**os.environ, "PYTHONPATH": path},
            )  # fmt: skip
        except OSError as err:
            raise StoreError(f"cannot start the writer process: {err}") from err
        try:
            assert proc.stdin is not None and proc.stdout is not None
            # the secrets as of this start: a child restarted after a reload gets the new ones
            secrets = log_secrets.known() + log_secrets.url_secrets(self._url)
            _send(proc.stdin, (self._url, self._log_format, secrets))
            # its imports run at this thread's priority, never idle: an idle child starting up
            # on a busy core took seconds, and every batch acknowledged meanwhile was at risk
            ready = _recv(proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError) as err:
            self._reap(proc)
            raise StoreError(f"cannot start the writer process: {err}") from err
        if ready != ("ready",):
            self._reap(proc)
            raise StoreError(f"writer process {proc.pid} did not start: {ready!r}")
        self._proc = proc
        self.started += 1
        with self._policy_lock:
            if self._idle and not set_policy(True, proc.pid):
                log.warning("writer process %d could not be set to SCHED_IDLE", proc.pid)
        return proc

    def _target_nice(self) -> int:
        """The child's niceness: the serving process's (its main thread's, whatever thread
        starts the child: a thread's own niceness is inherited) plus `nicer_by`."""
        try:
            return min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + self._nicer_by)
        except (AttributeError, OSError):
            return 0

    def _reap(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(OSError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5.0)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if self._proc is proc:
            self._proc = None

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def close(self) -> None:
        """Let the child finish (its stdin closes: it exits after the write in progress); called
        once the writer thread is done with it (or abandoned: then the child is killed)."""
        proc = self._proc
        if proc is None:
            return
        with self._policy_lock:
            # an idle child on a saturated core may not run to see its pipe close, nor to die
            # of a kill (the stop's 10 s, then an unreaped child)
            if self._idle and proc.poll() is None:
                set_policy(False, proc.pid)
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(_STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            log.error("writer process %d did not exit; killed", proc.pid)
        self._reap(proc)


def for_settings(
    store: StoreSettings, redacted_url: str, log_format: str = "text"
) -> ProcessWriter | None:
    """The writer process `store.writer` asks for; None: the recorder writes in its thread."""
    if store.writer != "process" or _in_memory(store.url):
        return None
    return ProcessWriter(
        store.url, redacted_url=redacted_url, nicer_by=WRITER_NICER_BY, log_format=log_format
    )


def _in_memory(url: str) -> bool:
    """An in-memory SQLite store lives in this process only."""
    return url.startswith("sqlite://") and url[len("sqlite://") :] in (":memory:", "/:memory:")


# -- the child ---------------------------------------------------------------------------------
def _serve(nice: int) -> int:
    # the server's own shutdown closes our stdin once its last batch is written: a signal to
    # the whole process group (Ctrl-C, the bench's killpg) must not cut that batch short
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from arbiter.store import open_store
    from arbiter.store._sql import SqlStore

    # the replies get their own descriptor; anything else printed goes to stderr, not the pipe
    stdin, stdout = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    try:
        url, log_format, secrets = _recv(stdin)
    except EOFError:
        return 0
    # its lines as the server's: same format, same secrets masked (a store's message may hold
    # one; an upstream key the operator reused as a password)
    logs.configure("WARNING", log_format)
    log_secrets.add(secrets)
    try:
        store = open_store(url)
    except Exception as err:  # logged as the server logs (masked), not a raw traceback
        log.error("writer process: cannot open the store: %s: %s", type(err).__name__, err)
        return 1
    if not isinstance(store, SqlStore):
        raise SystemExit(f"writer process: {type(store).__name__} has no write_rows")
    # started up (at the priority of the thread that started it): now as the writer thread,
    # the serving process's loop first (only raising niceness needs no privilege); then ready,
    # and the parent may put it at SCHED_IDLE
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, 0, max(nice, os.getpriority(os.PRIO_PROCESS, 0)))
    try:
        _send(stdout, ("ready",))
    except OSError:
        return 0
    try:
        while True:
            try:
                batch_id, ts, items = _recv(stdin)
            except EOFError:
                return 0
            try:
                # the rows straight from the bytes: no record rebuilt (record_wire.encode)
                store.write_rows(record_wire.encode(items, now=ts), batch_id=batch_id)
                reply: tuple[Any, ...] = ("ok",)
            except StoreError as err:
                reply = ("store_error", str(err), err.transient)
            except Exception as err:  # reported to the recorder, which isolates the records
                reply = ("error", f"{type(err).__name__}: {err}")
            try:
                _send(stdout, reply)
            except OSError:  # the parent is gone (killed): nothing left to answer
                return 0
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(_serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
