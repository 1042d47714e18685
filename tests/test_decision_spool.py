"""decision_spool.py's own rules: a spooled decision reads back as it was; the file is emptied
only once the recorder wrote everything spooled; a live process's file (its lock held) is never
replayed, a dead one's is, once, and a line cut by the kill is skipped."""

from __future__ import annotations

import fcntl
from pathlib import Path

from arbiter.decision_spool import DecisionSpool, decode, encode
from arbiter.records import Attempt, Candidate, DecisionRecord
from arbiter.store import open_store


def _decision(i: int) -> DecisionRecord:
    return DecisionRecord(
        id=f"d{i}", ts=1.0e9 + i, tenant="t", task="chat", mode="routed", chosen_model="m",
        reason="r", candidates=(Candidate("m", 0.5, 0.5, 0.01, why_not=None),),
        attempts=(Attempt("m", True, 12.0, status=200),), status="ok", cost_usd=0.01 * i,
        baseline_model="b", baseline_cost_usd=0.02, latency_ms=12.0, prompt_tokens=3,
        completion_tokens=2, cache_info={"bypass": "x"},
    )  # fmt: skip


def test_a_decision_reads_back_as_it_was_spooled() -> None:
    d = _decision(1)
    assert decode(encode(d)) == d


def test_the_file_empties_only_once_the_recorder_wrote_what_it_holds(tmp_path: Path) -> None:
    spool = DecisionSpool(tmp_path)
    spool.open()
    seqs = iter(range(5, 100))
    spool.append([_decision(1), _decision(2)], lambda r: next(seqs))  # numbers 5 and 6
    assert spool.path is not None and spool.path.stat().st_size > 0
    assert not spool.trim(5)  # the second one is not written yet
    assert spool.path.stat().st_size > 0
    assert spool.trim(6)
    assert spool.path.stat().st_size == 0
    spool.close()
    assert not spool.path.exists()  # empty: nothing left to replay


def test_only_a_dead_processes_file_is_replayed_once(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    store.migrate()
    live = DecisionSpool(tmp_path / "spool")
    live.open()
    live.append([_decision(1)], lambda r: 1)
    # a dead process's file: no one holds its lock; its last line was cut by the kill
    dead = tmp_path / "spool" / "spool-1-dead.jsonl"
    dead.write_bytes(encode(_decision(2)) + encode(_decision(3))[:20])
    replayer = DecisionSpool(tmp_path / "spool")
    replayer.open()
    try:
        assert replayer.replay_orphans(store) == 1
        assert store.decision("d2") is not None and store.decision("d1") is None
        assert not dead.exists() and live.path is not None and live.path.exists()
        assert replayer.replay_orphans(store) == 0
        # the live one's lock is what keeps it: once its process is gone it is replayed
        assert live._file is not None
        fcntl.flock(live._file.fileno(), fcntl.LOCK_UN)
        assert replayer.replay_orphans(store) == 1
        assert store.decision("d1") is not None
    finally:
        live.close()
        replayer.close()
        store.close()
