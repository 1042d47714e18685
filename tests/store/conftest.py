"""Fixtures for the store suite: one behavioural contract run against SQLite and real PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from arbiter import writer_priority
from arbiter.records import Attempt, Candidate, DecisionRecord, GradeRecord, GraderKind
from arbiter.store import Store, open_store
from tests.pg import empty_store_url

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A URL to an empty database of each backend (a sqlite file, or a fresh postgres database)."""
    with empty_store_url(request.param, tmp_path_factory.mktemp("db") / "arbiter.db") as url:
        yield url


@pytest.fixture
def open_(store_url: str) -> Iterator[Callable[[], Store]]:
    """Open (and migrate) stores on `store_url`; all are closed after the test."""
    opened: list[Store] = []

    def _open() -> Store:
        s = open_store(store_url)
        opened.append(s)
        s.migrate()
        return s

    yield _open
    for s in opened:
        s.close()


@pytest.fixture
def store(open_: Callable[[], Store]) -> Store:
    return open_()


@pytest.fixture
def writer_thread_unniced(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorder's writer thread at the process's niceness (writer_priority.WRITER_NICER_BY
    0), for the writer-process tests that check no niceness: a child restarted by that thread
    inherits its niceness for its start-up (~0.5 s of CPU), and at +10 on a loaded host that
    start alone outlasted their 20 s flush (a child at nice 10 with 0.00 s of CPU after 30 s,
    load ~13)."""
    monkeypatch.setattr(writer_priority, "WRITER_NICER_BY", 0)


def decision(
    id: str,
    *,
    ts: float | None = None,
    tenant: str = "t1",
    task: str = "qa",
    model: str = "small",
    cost: float = 0.001,
    baseline_cost: float = 0.01,
    status: str = "ok",
    latency_ms: float = 100.0,
) -> DecisionRecord:
    return DecisionRecord(
        id=id,
        ts=time.time() if ts is None else ts,
        tenant=tenant,
        task=task,
        mode="routed",
        chosen_model=model,
        reason="cheapest above target",
        candidates=(
            Candidate(model, 0.81, 0.8, cost),
            Candidate("big", 0.9, 0.92, baseline_cost, eligible=False, why_not="too dear"),
        ),
        attempts=(Attempt(model, status == "ok", latency_ms, None if status == "ok" else "boom"),),
        status=status,  # type: ignore[arg-type]
        cost_usd=cost,
        baseline_model="big",
        baseline_cost_usd=baseline_cost,
        latency_ms=latency_ms,
        prompt_tokens=120,
        completion_tokens=40,
        stream=True,
        difficulty=0.25,
        key_id="k1",
        error=None if status == "ok" else "upstream_timeout",
        cost_source="upstream",
    )


def grade(
    decision_id: str,
    score: float,
    grader: GraderKind = "auto",
    *,
    ts: float | None = None,
    tenant: str = "t1",
    task: str = "qa",
    model: str = "small",
) -> GradeRecord:
    return GradeRecord(
        decision_id,
        time.time() if ts is None else ts,
        tenant,
        task,
        model,
        score,
        grader,
        detail=f"{grader} says {score}",
    )
