"""The durability contract against live sidecars: kill -9 under load loses no acknowledged
decision with strict durability and at most flush_interval of work otherwise, the store passes its
integrity checks after the crash, and a 10 s PostgreSQL outage fails no request and loses nothing.

Scenarios live in bench/store.py (the bench runs them bigger); these assert on their results.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.bench_scripts import load
from tests.pg import empty_store_url, require_pg

FLUSH_MS = 200  # the default store.flush_interval_ms: the stated bound on work at risk
# the recorder's writers: its thread (the default), and a child process at SCHED_IDLE
WRITERS = {"thread": None, "process-idle": {"writer": "process", "writer_priority": "idle"}}
ACKED = 50  # the load a kill is judged at: it waits for this many answers (a loaded host is slow)


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load("store")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with empty_store_url(request.param, tmp_path / "crash.db") as url:
        yield url


def _check_integrity(result: dict[str, object]) -> None:
    report = result["integrity"]
    assert isinstance(report, dict)
    if "integrity_check" in report:
        assert report["integrity_check"] == "ok"  # SQLite: PRAGMA integrity_check
    else:
        assert report["amcheck_indexes_ok"] >= 10  # PostgreSQL: bt_index_check on every index
    for name in ("rollup_requests", "rollup_graded", "schema_versions"):
        assert report[name]["ok"], (name, report[name])  # same-transaction writes agree
    assert result["restarted_ok"], "the sidecar must restart on the crashed store and serve"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("writer", WRITERS)
def test_kill_9_with_strict_durability_loses_nothing(
    bench: ModuleType, sim_url: str, store_url: str, tmp_path: Path, writer: str
) -> None:
    result = bench.crash_run(sim_url, store_url, tmp_path, durability="strict", kill_after_s=1.5,
                              min_acked=ACKED, store_extra=WRITERS[writer])  # fmt: skip
    assert result["acked"] >= ACKED, result
    assert result["lost"] == 0, result
    _check_integrity(result)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("writer", WRITERS)
def test_kill_9_with_batched_durability_loses_at_most_the_flush_interval(
    bench: ModuleType, sim_url: str, store_url: str, tmp_path: Path, writer: str
) -> None:
    result = bench.crash_run(
        sim_url, store_url, tmp_path, durability="batched", kill_after_s=1.5,
        flush_interval_ms=FLUSH_MS, min_acked=ACKED, store_extra=WRITERS[writer],
    )  # fmt: skip
    assert result["acked"] >= ACKED, result
    # work at risk = what was acknowledged in the last flush interval; +2 for rate jitter
    bound = math.ceil(result["rate_per_s"] * FLUSH_MS / 1000) + 2
    assert result["lost"] <= bound, result
    _check_integrity(result)


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_postgres_outage_fails_no_request_and_loses_nothing(
    bench: ModuleType, sim_url: str, tmp_path: Path
) -> None:
    require_pg()  # the outage runs on a private cluster, started the same way
    result = bench.outage_run(sim_url, tmp_path, down_s=10.0, concurrency=8)
    assert result["store_down_s"] >= 10.0
    assert result["failed_requests"] == 0, result
    assert result["acked"] >= 100, result
    assert result["missing_after_recovery"] == 0, result  # the backlog was written
    assert result["dropped"] == 0
    assert result["backlog_drained_s"] is not None, "the backlog never drained"
    assert result["backlog_alert"], "a store_backlog alert must say the store was down"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("writer", WRITERS)
def test_strict_streams_are_committed_before_done(
    bench: ModuleType, sim_url: str, store_url: str, tmp_path: Path, writer: str
) -> None:
    """The openai SDK closes the connection at [DONE]: every decision must already be stored."""
    result = bench.strict_stream_run(sim_url, store_url, tmp_path, n=40, concurrency=8,
                                     store_extra=WRITERS[writer])  # fmt: skip
    assert result["streams_completed"] == 40, result
    assert result["stored_at_done"] == 40, result
    assert result["decisions_stored"] == 40, result


@pytest.mark.timeout(90)
def test_strict_stream_whose_commit_fails_ends_with_an_error_event(
    bench: ModuleType, sim_url: str, store_url: str, tmp_path: Path
) -> None:
    """Every commit fails while the decisions table is away: no stream may end with [DONE]."""
    result = bench.strict_stream_run(
        sim_url, store_url, tmp_path, n=12, concurrency=4, store_away=True
    )
    assert result["streams_completed"] == 0, result
    assert result["error_events"] == 12, result
