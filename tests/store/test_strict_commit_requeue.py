"""`durability = "strict"`: a commit that fails outright (the store refuses it, the connection
drops: an error, not a silence) lost the decision. The request had been answered, its upstream
call made and its spend settled (pipeline.py), so its record is accepted work: the 503 told the
client "not acknowledged", but nothing wrote the record, ever. The records of a failed commit,
of a late commit that fails when it answers, and of one never tried because the store is silent
now go to the recorder's backlog and are written when the store is back: once (the commit may
have landed with its reply lost; the write upserts by id and the rollups count the difference).

Both backends, real stores; the fault is injected at the store boundary (test_recorder's
FlakyStore, as the recorder's own outage tests do)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Literal

import pytest

from arbiter import store_wait, strict_commit
from arbiter.recorder import Recorder
from arbiter.records import DecisionRecord
from arbiter.store import Store, StoreError
from arbiter.strict_commit import StrictCommits

from .conftest import decision
from .test_recorder import FlakyStore

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def flaky_recorder(store: Store) -> Iterator[tuple[FlakyStore, Recorder]]:
    flaky = FlakyStore(store)
    rec = Recorder(flaky, flush_interval_s=0.02)  # type: ignore[arg-type]
    rec.start()
    yield flaky, rec
    rec.stop(1.0)


def _written_once(store: Store, records: list[DecisionRecord]) -> None:
    """Each record is one stored decision, and the rollups count it once (requests and cost)."""
    ids = [d["id"] for d in store.iter_decisions(since=0.0, tenant=None)]
    assert sorted(ids) == sorted(r.id for r in records), ids
    ts = [r.ts for r in records]
    points = store.timeseries(tenant=None, since=min(ts) - 120, until=max(ts) + 120)
    assert sum(p["requests"] for p in points) == len(records), points
    want = sum(r.cost_usd for r in records)
    assert sum(p["cost_usd"] for p in points) == pytest.approx(want, rel=1e-9), points


@pytest.mark.parametrize("fault", ["refused", "reply_lost"])
def test_a_failed_commit_is_written_once_when_the_store_is_back(
    store: Store,
    flaky_recorder: tuple[FlakyStore, Recorder],
    fault: Literal["refused", "reply_lost"],
) -> None:
    flaky, rec = flaky_recorder
    commits = StrictCommits(rec)
    d = decision("dec-strict", cost=0.25)
    if fault == "refused":
        flaky.down = True  # every write fails, the recorder's too: it stays queued
    else:
        flaky.lose_replies = 1  # the commit lands, then its connection drops
    with pytest.raises(StoreError):
        asyncio.run(commits.commit([d]))
    if fault == "refused":
        assert store.decision(d.id) is None
        # accepted, queued (before: nothing queued, the record gone); the recorder may have
        # queued its own store_backlog alert beside it
        assert rec.backlog >= 1
        flaky.down = False
    assert rec.flush(15.0)
    _written_once(store, [d])


@pytest.mark.parametrize("answer", ["lands", "fails"])
def test_late_and_never_tried_commits_are_written_once(
    store: Store,
    flaky_recorder: tuple[FlakyStore, Recorder],
    monkeypatch: pytest.MonkeyPatch,
    answer: Literal["lands", "fails"],
) -> None:
    """A silent store: MAX_UNANSWERED commits pass their wait (they may still land, or fail when
    the store answers), the next is never tried. Every one of them is stored once."""
    monkeypatch.setattr(store_wait, "STORE_WAIT_S", 0.05)
    flaky, rec = flaky_recorder
    commits = StrictCommits(rec)
    n = strict_commit.MAX_UNANSWERED + 1
    records = [decision(f"dec-{i}", cost=0.01 * (i + 1)) for i in range(n)]

    async def main() -> None:
        for d in records:
            with pytest.raises(StoreError):
                await commits.commit([d])
        assert commits.unanswered == strict_commit.MAX_UNANSWERED
        # the one never tried is queued; the late ones are not (yet): they may land
        assert rec.backlog == 1
        flaky.down = answer == "fails"
        assert flaky.gate is not None
        flaky.gate.set()  # the store answers the late commits
        for _ in range(500):  # bounded: 10 s
            if not commits.unanswered:
                break
            await asyncio.sleep(0.02)
        assert not commits.unanswered
        if answer == "fails":  # they failed when they answered: queued now (+ the alert)
            assert rec.backlog >= n
            assert all(store.decision(d.id) is None for d in records)
            flaky.down = False

    flaky.gate = threading.Event()  # writes wait: a silent store
    asyncio.run(main())
    assert rec.flush(15.0)
    _written_once(store, records)
