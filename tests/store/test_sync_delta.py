"""Incremental policy sync: a replica fetches only the arms changed since its last sync, and
never misses one, whatever order concurrent writers commit in (every backend)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from arbiter.policy import Policy
from arbiter.records import ArmStats, PolicyDelta
from arbiter.store import Store


def _keys(arms: list[ArmStats]) -> set[tuple[str, str, str]]:
    return {(a.tenant, a.task, a.model) for a in arms}


def test_a_sync_fetches_only_the_arms_changed_since_the_last(store: Store) -> None:
    store.write([PolicyDelta("t", "qa", m, 1.0, 0.0, 1.0) for m in ("a", "b", "c")])
    arms, mark = store.load_arms_since(None)
    assert _keys(arms) == {("t", "qa", m) for m in ("a", "b", "c")}
    store.write([PolicyDelta("t", "qa", "b", 0.0, 1.0, 1.0)])
    changed, mark = store.load_arms_since(mark)
    assert changed == [ArmStats("t", "qa", "b", 1.0, 1.0, 2.0)]  # totals, not the delta
    again, _ = store.load_arms_since(mark)
    assert again == []


def test_incremental_sync_ends_where_a_full_reload_does(open_: Callable[[], Store]) -> None:
    writer, reader = open_(), open_()
    full, mark = reader.load_arms_since(None)
    policy = Policy()
    policy.replace_synced(full)
    for i in range(30):
        writer.write([PolicyDelta("t", "qa", f"m{i % 7}", 0.5, 0.25, 1.0)], batch_id=f"b{i}")
        if i % 4 == 0:
            arms, mark = reader.load_arms_since(mark)
            policy.apply_synced(arms)
    arms, mark = reader.load_arms_since(mark)
    policy.apply_synced(arms)
    reference = Policy()
    reference.replace_synced(reader.load_arms())
    assert policy.snapshot() == reference.snapshot()


def test_a_write_that_commits_after_a_newer_one_is_still_fetched(
    open_: Callable[[], Store],
) -> None:
    """The slow writer took its place first and commits last: a sync between the two commits
    must not skip it (a plain counter compared with `>` would, on PostgreSQL)."""
    slow, fast, reader = open_(), open_(), open_()
    if slow.backend == "sqlite":
        pytest.skip("SQLite serialises writers: two write transactions cannot overlap")
    _, mark = reader.load_arms_since(None)
    entered, release = threading.Event(), threading.Event()
    real_tx = slow._tx  # type: ignore[attr-defined]

    def held_tx():  # type: ignore[no-untyped-def]
        ctx = real_tx()
        cur = ctx.__enter__()
        cur.execute("SELECT pg_current_xact_id()")  # the slow transaction's id is taken now

        class _Held:
            def __enter__(self):  # type: ignore[no-untyped-def]
                return cur

            def __exit__(self, *exc):  # type: ignore[no-untyped-def]
                entered.set()
                release.wait(10)
                return ctx.__exit__(*exc)

        return _Held()

    slow._tx = held_tx  # type: ignore[attr-defined]
    t = threading.Thread(target=slow.write, args=([PolicyDelta("t", "qa", "slow", 1, 0, 1)],))
    t.start()
    assert entered.wait(10)  # written, not committed
    fast.write([PolicyDelta("t", "qa", "fast", 1.0, 0.0, 1.0)])
    first, mark = reader.load_arms_since(mark)
    assert _keys(first) == {("t", "qa", "fast")}
    release.set()
    t.join(10)
    second, _ = reader.load_arms_since(mark)
    assert ("t", "qa", "slow") in _keys(second)


def test_a_long_transaction_elsewhere_does_not_make_every_sync_refetch(
    open_: Callable[[], Store], store_url: str
) -> None:
    """An idle sync fetches nothing even while an unrelated transaction stays open (the
    oldest running transaction is not where the next sync starts)."""
    writer, reader = open_(), open_()
    if writer.backend == "sqlite":
        pytest.skip("PostgreSQL: transaction ids and snapshots")
    import psycopg

    with psycopg.connect(store_url) as other:
        other.execute("SELECT pg_current_xact_id()")  # holds an xid open: an old xmin
        _, mark = reader.load_arms_since(None)
        writer.write([PolicyDelta("t", "qa", "a", 1.0, 0.0, 1.0)])
        changed, mark = reader.load_arms_since(mark)
        assert _keys(changed) == {("t", "qa", "a")}
        idle, _ = reader.load_arms_since(mark)
        assert idle == []
        other.rollback()
