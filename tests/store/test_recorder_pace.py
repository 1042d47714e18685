"""The paced writer (store.writer_pace): a batch goes out as small transactions with rests
between them, so on one core the event loop is never without the CPU / GIL for a whole batch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from arbiter import recorder as recorder_mod
from arbiter.recorder import PACE_CHUNK, PACE_REST_RATIO, Recorder, recorder_pace
from arbiter.records import PolicyDelta
from arbiter.store import open_store

from .conftest import decision
from .test_recorder import FlakyStore


class RestProbe(Recorder):
    """A real recorder that notes each rest it takes (and takes it)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.rests: list[float] = []

    def _rest(self, seconds: float) -> None:
        self.rests.append(seconds)
        super()._rest(seconds)


@pytest.fixture
def flaky() -> Iterator[FlakyStore]:
    inner = open_store("sqlite://:memory:")
    inner.migrate()
    yield FlakyStore(inner)
    inner.close()


def _backlog_of(flaky: FlakyStore, rec: Recorder, n: int) -> None:
    """Queue n decisions (and one delta) while the store holds the writer's first write."""
    flaky.gate = threading.Event()
    rec.start()
    rec.submit(decision("first"))
    rec.flush(0.05)  # the writer is now inside its first write, held at the gate
    for i in range(n):
        rec.submit(decision(f"d{i}"))
    rec.submit(PolicyDelta("t1", "qa", "small", 1.0, 0.0, 1.0))
    flaky.gate.set()


def test_a_batch_is_written_as_small_transactions_with_rests(flaky: FlakyStore) -> None:
    """Before: one transaction per batch (up to batch_max records), back to back: at 1,400
    requests/s a 0.2 s batch held the loop's core for 7-26 ms of CPU.
    The batch is queued before the writer starts, and the interval is long, so no rest is cut
    by the drain's half-interval budget (test_rests_end_half_an_interval_into_a_drain checks
    that): held at a gate, the first write took as long as this thread took to queue the rest,
    and on a loaded host (load 14) its rest (2x that) spent the whole 0.5 s budget."""
    rec = RestProbe(flaky, flush_interval_s=600.0, chunk_max=50, rest_ratio=2.0)
    rec.submit(decision("first"))
    for i in range(420):
        rec.submit(decision(f"d{i}"))
    rec.submit(PolicyDelta("t1", "qa", "small", 1.0, 0.0, 1.0))
    rec.start()
    try:
        assert rec.flush(10.0)
    finally:
        rec.stop(5.0)
    sizes = [n for _, n in flaky.calls]
    assert sum(sizes) == 422 and max(sizes) <= 51  # 50 records (+ the merged delta in one)
    assert len(sizes) >= 9
    # a rest after each transaction that leaves a full one's worth queued
    assert len(rec.rests) >= len(sizes) - 2
    assert all(r > 0 for r in rec.rests)
    assert len(flaky.inner.decisions(tenant=None, limit=1000)) == 421  # with "first"


def test_a_large_backlog_catches_up_back_to_back(
    flaky: FlakyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an outage the writer does not pace until the backlog is small again."""
    monkeypatch.setattr(recorder_mod, "PACE_CATCH_UP", 100)
    rec = RestProbe(flaky, flush_interval_s=1.0, chunk_max=20, rest_ratio=2.0)
    try:
        _backlog_of(flaky, rec, 300)
        assert rec.flush(10.0)
    finally:
        rec.stop(5.0)
    assert sum(n for _, n in flaky.calls) == 302
    # rests only once 100 or fewer records were left: 5 transactions of 20, not 15
    assert len(rec.rests) <= 5


def test_a_batch_smaller_than_a_chunk_never_rests(flaky: FlakyStore) -> None:
    """Records that arrive while the writer writes are written right after, as unpaced: a rest
    there put them behind it, beyond the flush interval (the kill -9 bound failed: 17 > 15)."""
    rec = RestProbe(flaky, flush_interval_s=0.05, chunk_max=64, rest_ratio=2.0)
    try:
        _backlog_of(flaky, rec, 63)
        assert rec.flush(10.0)
    finally:
        rec.stop(5.0)
    assert rec.rests == []
    assert len(flaky.inner.decisions(tenant=None, limit=1000)) == 64


def test_rests_end_half_an_interval_into_a_drain(flaky: FlakyStore) -> None:
    """However slow the writes (rest = ratio x their duration), a drain's rests stop half a
    flush interval after it began: past that the rest is written back to back.
    The interval is long enough (half of it: 1 s) that the first chunk's write ends inside it
    on a loaded host too (at 0.05 s, a write past 25 ms left no rest at all to look at)."""
    rec = RestProbe(flaky, flush_interval_s=2.0, chunk_max=10, rest_ratio=1e6)
    for i in range(101):
        rec.submit(decision(f"d{i}"))  # queued before the writer starts: one fresh drain
    rec.start()
    try:
        assert rec.flush(10.0)
    finally:
        rec.stop(5.0)
    # each rest asks for 1e6 x its write's time: only the drain's half-interval budget bounds it
    assert rec.rests and sum(rec.rests) <= 1.0 + 1e-6, rec.rests
    assert len(flaky.inner.decisions(tenant=None, limit=1000)) == 101


def test_stop_cuts_a_rest_short_and_writes_everything(flaky: FlakyStore) -> None:
    rec = RestProbe(flaky, flush_interval_s=3600.0, chunk_max=10, rest_ratio=1e6)
    _backlog_of(flaky, rec, 100)
    rec.stop(10.0)  # each rest asks for up to half an hour; stop must not wait for them
    assert rec.backlog == 0
    assert len(flaky.inner.decisions(tenant=None, limit=1000)) == 101


def test_serving_paces_by_default() -> None:
    assert recorder_pace(True) == {"chunk_max": PACE_CHUNK, "rest_ratio": PACE_REST_RATIO}
    assert recorder_pace(False) == {}
    from arbiter.config import StoreSettings

    assert StoreSettings().writer_pace is True


def test_pacing_arguments_are_checked(flaky: FlakyStore) -> None:
    with pytest.raises(ValueError):
        Recorder(flaky, chunk_max=0)
    with pytest.raises(ValueError):
        Recorder(flaky, rest_ratio=-1.0)


def test_each_transaction_is_one_recorder_run_on_metrics(flaky: FlakyStore) -> None:
    """stalls.py's recorder_batch runs are transactions (what holds the core at a stretch), not
    whole drains with their rests: a paced drain's rests are not charged as recorder time."""
    from arbiter import stalls

    runs = stalls.RECORDER.runs
    rec = RestProbe(flaky, flush_interval_s=1.0, chunk_max=25, rest_ratio=2.0)
    try:
        _backlog_of(flaky, rec, 200)
        assert rec.flush(10.0)
    finally:
        rec.stop(5.0)
    assert stalls.RECORDER.runs - runs == len(flaky.calls)
