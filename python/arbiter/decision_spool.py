"""Strict durability's spool: the decisions a strict commit could not write, kept on local disk
until the store has them.

A strict commit that fails (the store down or silent: strict_commit.py) hands its decision to
the recorder's backlog, which lives in memory: the request was answered upstream and its spend
settled, so a hard kill (kill -9, an OOM kill, a power cut) while the store was down lost the
decision for ever. Each such decision is now also appended to this process's spool file and
fsynced before the client's 503 goes out; the file is emptied once the recorder has written
everything it was handed (`trim`), and a process that starts (or syncs) writes the spool files
that dead processes left behind into the store (`replay_orphans`). Decisions are upserted by id,
so one written twice (by the recorder and by a replay) is one decision, counted once.

One file per process, `spool-<pid>-<random>.jsonl` in the spool directory (beside a SQLite
store's file by default; `store.spool_dir` names one, and must for PostgreSQL), held under an
exclusive `flock` for the process's life: a file whose lock can be taken belongs to a process
that is gone (the kernel drops a dead process's locks). A file is created under a dot-name and
renamed once locked, so no one takes a live process's new file for an orphan. Only replicas on
the same host (sharing the directory) replay each other's files: a dead host's spool waits for a
sidecar to start there again. The spend of a killed process's requests is not here: its
reservations are charged, at their worst case, when its budget lease lapses (budget.py).
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from arbiter.records import Attempt, Candidate, DecisionRecord
from arbiter.store import Store, StoreError

log = logging.getLogger(__name__)

PREFIX, SUFFIX = "spool-", ".jsonl"


def encode(record: DecisionRecord) -> bytes:
    return orjson.dumps(dataclasses.asdict(record)) + b"\n"


def decode(line: bytes) -> DecisionRecord:
    """One spooled decision; ValueError / TypeError for a line that is none (a line cut by the
    kill, a file of another version)."""
    d: dict[str, Any] = orjson.loads(line)
    d["candidates"] = tuple(Candidate(**c) for c in d["candidates"])
    d["attempts"] = tuple(Attempt(**a) for a in d["attempts"])
    return DecisionRecord(**d)


class DecisionSpool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()  # appends (the strict commit's threads) and trims
        self._file: IO[bytes] | None = None
        self.path: Path | None = None
        self._size = 0  # bytes in this process's file
        self._last_seq = 0  # the recorder's sequence number of the last record spooled

    def open(self) -> None:
        """Create and lock this process's file (blocking: call it in a thread)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{PREFIX}{os.getpid()}-{os.urandom(4).hex()}{SUFFIX}"
        part = self.directory / f".{name}"
        f = part.open("ab")
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(part, self.directory / name)  # the lock is the inode's: it moves with it
        self._file, self.path = f, self.directory / name

    def append(
        self, records: Sequence[DecisionRecord], submit: Callable[[DecisionRecord], int]
    ) -> None:
        """Write `records` to the file and fsync it, then hand each to `submit` (the recorder's,
        which returns its sequence number). Blocking: call it in a thread. Without an open file
        (start-up failed to make one) the records only go to `submit`."""
        with self._lock:
            f = self._file
            if f is not None:
                try:
                    data = b"".join(encode(r) for r in records)
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                    self._size += len(data)
                except OSError:  # a full disk: the records still go to the recorder
                    log.exception("decision spool: could not write %d decisions", len(records))
            for record in records:
                self._last_seq = max(self._last_seq, submit(record))

    def trim(self, written_upto: int) -> bool:
        """Empty the file once the recorder wrote everything spooled (`written_upto`: the
        recorder's sequence number written through); whether it did. Blocking."""
        with self._lock:
            f = self._file
            if f is None or self._size == 0 or written_upto < self._last_seq:
                return False
            f.truncate(0)
            os.fsync(f.fileno())
            self._size = 0
            return True

    def replay_orphans(self, store: Store) -> int:
        """Write the decisions in dead processes' spool files to `store` and delete the files;
        how many were written. A store that fails leaves the file for the next try. Blocking."""
        if not self.directory.is_dir():
            return 0
        written = 0
        for path in sorted(self.directory.glob(f"{PREFIX}*{SUFFIX}")):
            if path == self.path:
                continue
            try:
                written += _replay(path, store)
            except StoreError as err:
                log.info("decision spool: %s not replayed yet (store: %s)", path.name, err)
                break
            except OSError:
                log.warning("decision spool: could not read %s", path, exc_info=True)
        return written

    def close(self) -> None:
        """Close this process's file; delete it when it is empty (nothing left to replay)."""
        with self._lock:
            f, self._file = self._file, None
            if f is None:
                return
            if self._size == 0 and self.path is not None:
                self.path.unlink(missing_ok=True)
            f.close()


def _replay(path: Path, store: Store) -> int:
    """One orphan file: locked (or skipped: its owner lives), written, deleted."""
    with path.open("rb") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # a live process's
        records = []
        for line in f.read().splitlines():
            try:
                records.append(decode(line))
            except (ValueError, TypeError, KeyError):
                log.warning("decision spool: an unreadable line in %s skipped", path.name)
        if records:
            store.write(records, batch_id=f"spool:{path.name}:{len(records)}")
        path.unlink(missing_ok=True)  # under the lock: no one replays it again
    if records:
        log.warning("decision spool: %d decisions a stopped process left in %s written",
                    len(records), path.name)  # fmt: skip
    return len(records)
