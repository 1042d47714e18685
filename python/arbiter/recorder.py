"""Write-behind recorder: takes records off the request path, writes them to the store in batches.

Durability bound: a record accepted by `submit` is committed within `flush_interval_s` while the
store is healthy and a write takes under half of it (the writer starts each batch early by twice
the last write's duration), so at most that much acknowledged work is at risk on a hard kill;
with slower writes the writer runs back to back and the bound is two write times (paced, a
"write" is the whole drain: its transactions and the rests between them). While the store
is down, the whole backlog is at risk. `commit_now` is the
synchronous path for strict durability. `submit` must never block on I/O or raise.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from arbiter import record_wire, stalls
from arbiter.records import SYSTEM_TENANT, AlertRecord, PolicyDelta, Record
from arbiter.store import Store, StoreError
from arbiter.writer_priority import WriterPriority

log = logging.getLogger(__name__)

_BACKOFF_MIN_S = 0.05
_BACKOFF_MAX_S = 2.0
# Pacing (store.writer_pace, on by default in `serve`): a batch is written as transactions of
# at most PACE_CHUNK records, and the writer rests PACE_REST_RATIO times as long as each took
# before the next. On one core the writer and the event loop share the CPU (and, for a thread,
# the GIL): a whole 0.2 s batch (~7-26 ms of CPU at 1,400 req/s) halves the loop's capacity for
# that long, and requests queue behind it (the p99 at 50% load, bench/results/scale.md); in
# ~1 ms pieces with rests the loop drains its queue between them. Rests stop half an interval
# into a drain; less than a chunk left (every batch below ~300 records/s), or more than
# PACE_CATCH_UP (after an outage), is written back to back.
PACE_CHUNK = 64
PACE_REST_RATIO = 2.0
PACE_CATCH_UP = 5_000


def recorder_pace(on: bool) -> dict[str, Any]:
    """Recorder keyword arguments for store.writer_pace."""
    return {"chunk_max": PACE_CHUNK, "rest_ratio": PACE_REST_RATIO} if on else {}


_ArmKey = tuple[str, str, str]
# what the queue holds: a record, or its bytes when a writer process takes them (BatchWriter.pack)
_Item = Record | bytes


class BatchWriter(Protocol):
    """What writes a batch in one transaction: the store itself, or a writer process
    (arbiter.writer_process) that owns its own connection."""

    def write(self, records: Sequence[_Item], *, batch_id: str | None = None) -> None: ...

    def pack(self, record: Record) -> _Item:
        """What `submit` queues for a record (on the request path): its bytes, or itself."""
        ...

    def can_go_idle_and_back(self) -> bool: ...

    def set_idle(self, idle: bool) -> bool:
        """The writer's own process at SCHED_IDLE or back (writer_priority.IdleChild)."""
        ...

    def start(self) -> None:
        """Get ready for the first write (a process: start it now, not on the first batch)."""
        ...

    def hurry_when_late(self, after_s: float, hurry: Callable[[], None]) -> None:
        """Call `hurry` when an idle writer's answer to a batch takes longer than `after_s`."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Batch:
    id: str  # the store's idempotence key: a retried batch is applied at most once
    records: tuple[_Item, ...]
    upto: int  # every submission with seq <= upto is written (or dropped) once this batch is
    waited_s: float = 0.0  # how long its oldest record had waited when it was taken
    single_from: int = -1  # >= 0: the store refused the batch; writing records one by one from here


class Recorder:
    """Buffers records and writes them from one daemon thread.

    While the store fails, records stay in memory and the writer retries with backoff (capped at
    2 s): the same in-flight batch (same batch id) first, then the rest in order. Memory is bounded:
    at most `max_backlog` queued records (beyond that the oldest are dropped and counted), one
    in-flight batch (`batch_max` records + its deltas), and one merged PolicyDelta per arm queued
    -- deltas are never dropped, they are summed per (tenant, task, model). Records the store
    refuses as data (constraint or value errors) are isolated and dropped one by one so a poison
    record cannot block the rest.
    The first failure of an outage emits one `store_backlog` alert through `on_alert` (or, without
    a callback, into the queue itself so it is stored once the store is back).
    """

    def __init__(
        self,
        store: Store,
        *,
        flush_interval_s: float = 0.2,
        batch_max: int = 500,
        max_backlog: int = 100_000,
        on_alert: Callable[[AlertRecord], None] | None = None,
        writer: BatchWriter | None = None,
        chunk_max: int | None = None,
        rest_ratio: float = 0.0,
        idle_priority: bool = False,
    ) -> None:
        if flush_interval_s <= 0 or batch_max < 1 or max_backlog < 1:
            raise ValueError("flush_interval_s > 0, batch_max >= 1 and max_backlog >= 1 required")
        if (chunk_max is not None and chunk_max < 1) or rest_ratio < 0:
            raise ValueError("chunk_max >= 1 and rest_ratio >= 0 required")
        self._store = store
        # batches go through `writer` when given (stop() closes it), else straight to the store
        self._writer = writer
        self._interval = flush_interval_s
        self._batch_max = batch_max  # a queue this long wakes the writer early
        # records per transaction, and the rest after one (x its duration): see PACE_CHUNK
        self._chunk_max = chunk_max or batch_max
        self._rest_ratio = rest_ratio
        # SCHED_IDLE for the writer thread (writer_priority.py), or for the writer process's
        # child when there is one (the thread then only hands batches over)
        self.priority = WriterPriority(idle_priority, writer)
        # an idle writer is due to take a record within half an interval; one that waited 3/4
        # of it is late: the writer is starved, and hurries (writer_priority.py)
        self._hurry_after = 0.75 * flush_interval_s if self.priority.want_idle else 0.0
        if writer is not None and self._hurry_after:
            # a starved idle child with a batch in hand, its reply not come within the interval
            # (the durability bound): no next record may come to notice it
            writer.hurry_when_late(flush_interval_s, lambda: self.priority.hurry(True))
        self._max_backlog = max_backlog
        self._on_alert = on_alert
        self._lock = threading.Lock()
        self._progress = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._abandon = threading.Event()
        self._queue: deque[tuple[int, float, _Item]] = deque()  # (seq, queued at, record)
        # a writer process's `pack`: records are queued as its bytes (None: as themselves)
        self._pack = writer.pack if writer is not None else None
        self._deltas: dict[_ArmKey, PolicyDelta] = {}
        self._seq = 0  # sequence number of the latest submission
        self._done = 0  # every submission with seq <= _done is written or dropped
        self._inflight: _Batch | None = None
        self._dropped = 0
        self._healthy = True
        self._outage_since = 0.0
        self._thread: threading.Thread | None = None

    # -- request path -----------------------------------------------------------------------
    def submit(self, record: Record) -> int:
        """Queue one record (O(1), no I/O); its sequence number (written once `written_upto`
        reaches it). Never blocks on the store, never raises."""
        dropped = late = False
        item: _Item = record
        if self._pack is not None and not isinstance(record, PolicyDelta):
            try:
                item = self._pack(record)
            except Exception:  # never raise into the request path: queued as itself
                log.exception("packing a %s record failed", type(record).__name__)
        with self._lock:
            self._seq += 1
            seq = self._seq
            if isinstance(record, PolicyDelta):
                key = (record.tenant, record.task, record.model)
                old = self._deltas.get(key)
                self._deltas[key] = record if old is None else old.plus(record)
            else:
                if len(self._queue) >= self._max_backlog:
                    self._queue.popleft()
                    self._dropped += 1
                    dropped = True
                now = time.monotonic()
                self._queue.append((self._seq, now, item))
                late = self._hurry_after > 0 and now - self._queue[0][1] > self._hurry_after
            full = len(self._queue) >= self._batch_max
        if late and not self.priority.hurrying:
            self.priority.hurry(True)  # a starved writer may not run to notice it itself
        if full:
            self._wake.set()
        if dropped and self._dropped % 10_000 == 1:
            log.warning("recorder backlog full (%d): dropping oldest records, %d dropped so far",
                        self._max_backlog, self._dropped)  # fmt: skip
        return seq

    def commit_now(self, records: Sequence[Record]) -> None:
        """Write `records` now in one transaction (raises StoreError); run it in a thread."""
        self._store.write(records, batch_id=uuid.uuid4().hex)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._abandon.clear()
        if self._writer is not None:
            self._writer.start()
        self._thread = threading.Thread(target=self._run, name="arbiter-recorder", daemon=True)
        self._thread.start()

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything submitted so far is written; False on timeout or when stopped."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            target = self._seq
            if self._done >= target:
                return True
        if self._thread is None or not self._thread.is_alive():
            return False
        self._wake.set()
        with self._progress:
            return self._progress.wait_for(
                lambda: self._done >= target, timeout=max(0.0, deadline - time.monotonic())
            )

    def stop(self, timeout_s: float = 5.0) -> None:
        """Write what is queued (for up to `timeout_s`) and stop the writer thread."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join(timeout_s)
        if thread.is_alive():
            self._abandon.set()
            log.error("recorder stopped with %d records unwritten (store %s unavailable)",
                      self.backlog, self._store.url)  # fmt: skip
        self._thread = None
        if self._writer is not None:
            self._writer.close()

    # -- observability ----------------------------------------------------------------------
    @property
    def backlog(self) -> int:
        """Records not yet written: queued + merged deltas + the rest of the in-flight batch."""
        batch = self._inflight
        inflight = len(batch.records) - max(batch.single_from, 0) if batch is not None else 0
        with self._lock:
            return len(self._queue) + len(self._deltas) + inflight

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def written_upto(self) -> int:
        """Every record whose `submit` number is at most this is written (decision_spool.py)."""
        return self._done

    @property
    def store_healthy(self) -> bool:
        return self._healthy

    # -- writer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        self.priority.start()
        if self._writer is not None and self.priority.mode == "idle":
            # an idle child holds neither the loop's GIL nor, once the loop wakes, its core:
            # its batches are written whole (small transactions only cost more CPU per record)
            self._chunk_max = self._batch_max
        backoff = 0.0
        spent = 0.0  # recent drain duration (a decaying max, so a slower write stays covered)
        while True:
            if backoff:  # the store is down: only stop()/abandon cut the wait short
                (self._abandon if self._stopping.is_set() else self._stopping).wait(backoff)
            else:
                # A record queued just after the last take waits for this pause, the last drain
                # and the next one: keep their sum within the interval (the durability bound);
                # an idle writer, within half of it (it may have to hurry for the rest).
                due = self._interval / 2 if self.priority.mode == "idle" else self._interval
                self._wake.wait(max(0.0, due - 2 * spent))
            self._wake.clear()
            t0 = time.monotonic()
            ok = self._drain()
            spent = max(time.monotonic() - t0, spent * 0.5)
            backoff = 0.0 if ok else min(_BACKOFF_MAX_S, max(_BACKOFF_MIN_S, backoff * 2))
            if self._stopping.is_set() and (ok or self._abandon.is_set()):
                return

    def _take(self) -> _Batch | None:
        with self._lock:
            if not self._queue and not self._deltas:
                self._done = self._seq
                self._progress.notify_all()
                return None
            n = min(len(self._queue), self._chunk_max)
            waited = time.monotonic() - self._queue[0][1] if n else 0.0
            records: list[_Item] = [self._queue.popleft()[2] for _ in range(n)]
            records.extend(self._deltas.values())
            self._deltas = {}
            upto = self._queue[0][0] - 1 if self._queue else self._seq
        return _Batch(uuid.uuid4().hex, tuple(records), upto, waited)

    def _drain(self) -> bool:
        """Write batches until nothing is left (True) or the store is unavailable (False)."""
        begun = time.monotonic()
        while True:
            batch = self._inflight or self._take()
            if batch is None:
                return True
            # an idle-priority writer whose oldest record has waited 3/4 of the interval is
            # being starved (a busy core): it hurries, niced, until a batch is taken in time
            # again (the durability bound; writer_priority.py)
            if self._hurry_after:
                self.priority.hurry(batch.waited_s > self._hurry_after)
            self._inflight = batch
            t0 = time.monotonic()
            with stalls.RECORDER.measure():  # one transaction: what holds the core at a stretch
                written = self._write(batch)
            if not written:
                return False
            took = time.monotonic() - t0
            self._inflight = None
            with self._lock:
                self._done = max(self._done, batch.upto)
                self._progress.notify_all()
                left = len(self._queue)
            # rest only while a full transaction's worth is left: below that (every batch at
            # low rates) the writer runs as unpaced, so no record waits behind a rest
            # an idle-priority writer never rests: it only ever has the core's spare time
            if (self._rest_ratio and self.priority.mode != "idle"
                    and self._chunk_max <= left <= PACE_CATCH_UP):  # fmt: skip
                # and never past half the interval since the drain began (the durability
                # bound: a slow host stretches the rests with the writes)
                budget = self._interval / 2 - (time.monotonic() - begun)
                rest = min(took * self._rest_ratio, budget)
                if rest > 0:
                    self._rest(rest)
            if not self._healthy:
                self._healthy = True
                down_s = time.monotonic() - self._outage_since
                log.warning("store %s is back after %.1fs; backlog %d",
                            self._store.url, down_s, self.backlog)  # fmt: skip

    def _rest(self, seconds: float) -> None:
        """Let the event loop have the core (and the GIL) between two paced transactions; a
        stop cuts it short."""
        self._stopping.wait(seconds)

    def _write(self, batch: _Batch) -> bool:
        # without a writer process every item is a record (nothing packs them)
        write: Callable[..., None] = (
            self._store.write if self._writer is None else self._writer.write
        )
        if batch.single_from < 0:
            try:
                write(batch.records, batch_id=batch.id)
                return True
            except StoreError as err:
                if err.transient:
                    self._failed(err)
                    return False
                log.warning("store refused a batch of %d records (%s); isolating the bad ones",
                            len(batch.records), err)  # fmt: skip
            except Exception:  # top level of the writer thread: a bug must not stop recording
                log.exception("writing a batch of %d records failed", len(batch.records))
            batch = self._inflight = replace(batch, single_from=0)
        for i in range(batch.single_from, len(batch.records)):
            record = batch.records[i]
            try:
                write([record], batch_id=f"{batch.id}.{i}")
            except StoreError as err:
                if err.transient:
                    self._inflight = replace(batch, single_from=i)
                    self._failed(err)
                    return False
                self._refused(record, err)
            except Exception as err:  # top level of the writer thread, as above
                self._refused(record, err)
        return True

    def _refused(self, record: _Item, err: Exception) -> None:
        with self._lock:
            self._dropped += 1
        log.error("store refused a %s record; dropped: %s", record_wire.kind_name(record), err)

    def _failed(self, err: StoreError) -> None:
        if not self._healthy:
            log.debug("store still unavailable: %s", err)
            return
        self._healthy = False
        self._outage_since = time.monotonic()
        backlog = self.backlog
        log.error("store %s unavailable, buffering %d records: %s", self._store.url, backlog, err)
        alert = AlertRecord(
            id=uuid.uuid4().hex,
            ts=time.time(),
            tenant=SYSTEM_TENANT,
            kind="store_backlog",
            message=f"store {self._store.url} unavailable ({err}); buffering writes in memory "
            f"(limit {self._max_backlog}, oldest dropped beyond it)",
            data={"backlog": backlog, "store": self._store.url, "error": str(err)},
        )
        if self._on_alert is None:
            self.submit(alert)
            return
        try:
            self._on_alert(alert)
        except Exception:  # a callback bug must not stop the writer thread
            log.exception("on_alert callback failed")
