"""The store contract, run against every backend (SQLite file and a real PostgreSQL database)."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from arbiter.records import AlertRecord, ArmStats, PolicyDelta, Record
from arbiter.store import Store, StoreError, open_store
from arbiter.store._sql import load_migrations
from tests.child_process import die_with_parent

from .conftest import decision, grade

LATEST = load_migrations("sqlite")[-1][0]
MIGRATE_AT = """
import sys, time
from arbiter.store import open_store
url, at = sys.argv[1], float(sys.argv[2])
store = open_store(url)
time.sleep(max(0.0, at - time.time()))
print(store.migrate())
store.close()
"""


def test_migrate_is_idempotent(store: Store) -> None:
    assert load_migrations("postgres")[-1][0] == LATEST
    assert store.migrate() == LATEST
    assert store.migrate() == LATEST
    assert store.decisions(tenant=None, limit=10) == []


def test_migrate_concurrently_from_processes(store_url: str) -> None:
    at = time.time() + 1.5  # every process starts migrating at the same instant
    procs = [
        subprocess.Popen([sys.executable, "-c", MIGRATE_AT, store_url, str(at)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=die_with_parent())
        for _ in range(3)
    ]  # fmt: skip
    results = [p.communicate(timeout=60) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert out.strip() == str(LATEST)
    s = open_store(store_url)
    try:
        assert s.migrate() == LATEST
    finally:
        s.close()


def test_decision_round_trip(store: Store) -> None:
    d = decision("d1", ts=1000.5)
    store.write([d])
    [row] = store.decisions(tenant="t1", limit=10)
    assert row["id"] == "d1" and row["ts"] == 1000.5 and row["tenant"] == "t1"
    assert row["chosen_model"] == "small" and row["mode"] == "routed" and row["stream"] is True
    assert row["candidates"][1] == {
        "model": "big", "score": 0.9, "mean": 0.92, "est_cost_usd": 0.01, "eligible": False,
        "why_not": "too dear",
    }  # fmt: skip
    assert row["attempts"] == [
        {"model": "small", "ok": True, "latency_ms": 100.0, "error": None, "status": None,
         "ttft_ms": None, "billed": None, "held_ms": 0.0}
    ]  # fmt: skip
    assert row["prompt_tokens"] == 120 and row["completion_tokens"] == 40
    assert row["difficulty"] == 0.25 and row["cost_source"] == "upstream"
    assert row["grade"] is None and row["grader"] is None
    one = store.decision("d1")
    assert one is not None and one["grades"] == [] and one["candidates"] == row["candidates"]
    assert one["grade_detail"] is None
    assert store.decision("nope") is None


def test_grade_precedence_is_records_one_table(store: Store) -> None:
    """feedback > execution > reference > auto > judge, whatever order the grades arrive in."""
    store.write([decision(x, ts=float(i)) for i, x in enumerate("abcde", start=1)])
    store.write([grade("a", 0.2, "auto"), grade("b", 0.3, "auto"), grade("c", 0.4, "judge")])
    store.write([grade("a", 0.9, "feedback"), grade("b", 0.6, "judge")])
    store.write([grade("c", 0.1, "auto")])  # an automatic check outranks the sampled judge
    store.write([grade("d", 0.7, "execution"), grade("d", 0.8, "reference")])
    store.write([grade("e", 0.3, "reference"), grade("e", 0.9, "auto"), grade("e", 1.0, "judge")])
    rows = {r["id"]: (r["grade"], r["grader"]) for r in store.decisions(tenant=None, limit=10)}
    assert rows == {
        "a": (0.9, "feedback"), "b": (0.3, "auto"), "c": (0.1, "auto"),
        "d": (0.7, "execution"), "e": (0.3, "reference"),
    }  # fmt: skip
    assert rows == {r["id"]: (r["grade"], r["grader"]) for r in store.iter_decisions(since=0)}
    one = store.decision("e")
    assert one is not None
    assert [g["grader"] for g in one["grades"]] == ["reference", "auto", "judge"]
    assert one["grade"] == 0.3 and one["grader"] == "reference"
    assert one["grade_detail"] == one["grades"][0]["detail"]
    stats = store.stats(tenant=None)
    assert stats["graded"] == 5 and math.isclose(
        stats["mean_grade"], (0.9 + 0.3 + 0.1 + 0.7 + 0.3) / 5
    )


def test_same_grader_keeps_latest(store: Store) -> None:
    store.write([decision("a")])
    store.write([grade("a", 0.5, "judge", ts=10.0)])
    store.write([grade("a", 0.7, "judge", ts=20.0)])
    store.write([grade("a", 0.1, "judge", ts=15.0)])  # older than the stored one: ignored
    one = store.decision("a")
    assert one is not None and [g["score"] for g in one["grades"]] == [0.7]


def test_decisions_feed_order_filters_and_paging(store: Store) -> None:
    store.write([decision(f"d{i}", ts=100.0 + i, tenant="t1" if i % 2 else "t2")
                 for i in range(10)])  # fmt: skip
    assert [r["id"] for r in store.decisions(tenant=None, limit=3)] == ["d9", "d8", "d7"]
    assert [r["id"] for r in store.decisions(tenant="t1", limit=10)] == [
        "d9", "d7", "d5", "d3", "d1"
    ]  # fmt: skip
    page = store.decisions(tenant="t1", limit=2, before_ts=105.0)
    assert [r["id"] for r in page] == ["d3", "d1"]
    page = store.decisions(tenant="t1", limit=2, after_id="d7")
    assert [r["id"] for r in page] == ["d5", "d3"]
    assert store.decisions(tenant=None, limit=0) == []
    assert store.decisions(tenant="nobody", limit=5) == []


def test_cursor_paging_neither_skips_nor_repeats_rows_with_equal_timestamps(store: Store) -> None:
    store.write([decision(f"e{i:02d}", ts=200.0 + i // 4) for i in range(20)])  # 4 per ts
    seen: list[str] = []
    after = None
    while page := store.decisions(tenant=None, limit=3, after_id=after):
        seen += [r["id"] for r in page]
        after = page[-1]["id"]
    assert seen == [f"e{i:02d}" for i in reversed(range(20))]


def test_stats_math(store: Store) -> None:
    store.write([
        decision("s1", model="small", task="qa", cost=0.001, baseline_cost=0.010),
        decision("s2", model="small", task="code", cost=0.002, baseline_cost=0.010),
        decision("b1", model="big", task="qa", cost=0.010, baseline_cost=0.010),
        decision("f1", model="small", task="qa", cost=0.0, baseline_cost=0.0, status="failed"),
        decision("x1", tenant="other", cost=5.0, baseline_cost=5.0),
    ])  # fmt: skip
    store.write([grade("s1", 0.4, "auto"), grade("s1", 1.0, "feedback"), grade("s2", 0.6, "judge"),
                 grade("b1", 0.8, "auto")])  # fmt: skip
    st = store.stats(tenant="t1")
    assert st["requests"] == 4 and st["failed"] == 1 and st["graded"] == 3
    assert math.isclose(st["cost_usd"], 0.013)
    assert math.isclose(st["baseline_cost_usd"], 0.030)
    assert math.isclose(st["savings_usd"], 0.017)
    assert math.isclose(st["savings_pct"], 100 * 0.017 / 0.030)
    assert math.isclose(st["mean_grade"], (1.0 + 0.6 + 0.8) / 3)  # effective grades only
    small = st["by_model"]["small"]
    assert small["requests"] == 3 and small["graded"] == 2 and small["failed"] == 1
    assert math.isclose(small["mean_grade"], 0.8)
    assert math.isclose(small["cost_usd"], 0.003)
    assert st["by_model"]["big"]["requests"] == 1
    assert st["by_task"]["qa"]["requests"] == 3 and st["by_task"]["code"]["requests"] == 1
    assert math.isclose(st["by_task"]["qa"]["mean_grade"], 0.9)
    cells = {(c["model"], c["task"]): c for c in st["by_model_task"]}
    assert set(cells) == {("small", "qa"), ("small", "code"), ("big", "qa")}
    assert cells[("small", "qa")]["requests"] == 2 and cells[("small", "qa")]["mean_grade"] == 1.0
    everyone = store.stats(tenant=None)
    assert everyone["requests"] == 5 and math.isclose(everyone["cost_usd"], 5.013)


def test_quality_by_model_groups_answers_for_the_cost_quality_view(store: Store) -> None:
    from dataclasses import replace

    named = replace(decision("p1", model="big", cost=0.01), mode="passthrough")
    judge = replace(decision("j1", model="judge", cost=0.5, task="judge"), mode="judge")
    store.write([
        decision("r1", model="small", cost=0.001), decision("r2", model="small", cost=0.003),
        decision("r3", model="big", cost=0.02), named, judge,
        decision("f1", model="small", cost=0.0, status="failed"),
        decision("x1", tenant="other", model="small", cost=7.0),
    ])  # fmt: skip
    store.write([grade("r1", 0.2, "auto"), grade("r1", 1.0, "feedback"), grade("p1", 0.8, "judge")])
    rows = store.quality_by_model(tenant="t1")
    by = {(r["model"], r["routed"]): r for r in rows}
    # judge calls and failed requests are not answers; other tenants are not seen
    assert set(by) == {("small", True), ("big", True), ("big", False)}
    small = by[("small", True)]
    assert small["requests"] == 2 and math.isclose(small["cost_usd"], 0.004)
    assert small["graded"] == 1 and small["grade_sum"] == 1.0  # the best grade only
    assert by[("big", False)]["graded"] == 1 and by[("big", False)]["grade_sum"] == 0.8
    assert by[("big", True)]["graded"] == 0
    everyone = store.quality_by_model(tenant=None)
    assert sum(r["requests"] for r in everyone) == 5


def test_stats_of_empty_store(store: Store) -> None:
    st = store.stats(tenant=None)
    assert st["requests"] == 0 and st["cost_usd"] == 0.0 and st["savings_pct"] == 0.0
    assert st["mean_grade"] is None and st["by_model"] == {} and st["by_model_task"] == []


def test_policy_deltas_are_additive(store: Store) -> None:
    store.write([PolicyDelta("t1", "qa", "small", 1.0, 0.0, 1.0),
                 PolicyDelta("t1", "qa", "small", 0.5, 0.5, 1.0)])  # fmt: skip
    store.write([PolicyDelta("t1", "qa", "small", 0.25, 0.75, 1.0),
                 PolicyDelta("t2", "qa", "big", 2.0, 1.0, 3.0)])  # fmt: skip
    assert store.load_arms("t1") == [ArmStats("t1", "qa", "small", 1.75, 1.25, 3.0)]
    assert [a.tenant for a in store.load_arms()] == ["t1", "t2"]


def test_two_writers_sum_their_deltas(open_: Callable[[], Store]) -> None:
    stores = [open_(), open_()]
    arms = [("t1", "qa", m) for m in ("a", "b", "c")]
    errors: list[BaseException] = []

    def writer(s: Store, order: int) -> None:
        try:
            for i in range(40):
                keys = arms if order == 0 else arms[::-1]  # opposite orders: no deadlock
                s.write([PolicyDelta(*k, 1.0, 0.5, 1.0) for k in keys], batch_id=f"{order}-{i}")
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert stores[0].load_arms() == [ArmStats(*k, 80.0, 40.0, 80.0) for k in arms]


def test_rewriting_a_batch_is_idempotent(store: Store) -> None:
    batch: list[Record] = [
        decision("d1"),
        grade("d1", 0.7, "judge"),
        AlertRecord("al1", 5.0, "t1", "price_mismatch", "off by 20%", model="small"),
        PolicyDelta("t1", "qa", "small", 0.7, 0.3, 1.0),
    ]
    store.write(batch, batch_id="batch-1")
    store.write(batch, batch_id="batch-1")  # a retry after an ambiguous failure
    assert store.load_arms() == [ArmStats("t1", "qa", "small", 0.7, 0.3, 1.0)]
    store.write(batch[:3])  # decisions, grades and alerts are idempotent even without a batch id
    assert len(store.decisions(tenant=None, limit=10)) == 1
    assert len(store.alerts(tenant=None, limit=10)) == 1
    one = store.decision("d1")
    assert one is not None and len(one["grades"]) == 1


def test_alerts_feed(store: Store) -> None:
    store.write([
        AlertRecord("a1", 1.0, "t1", "circuit_open", "m down", model="m", data={"failures": 5}),
        AlertRecord("a2", 2.0, "t2", "budget_threshold", "80% spent", data={"pct": 80.5}),
        AlertRecord("a3", 3.0, "t1", "quality_drop", "qa drop", task="qa"),
    ])  # fmt: skip
    rows = store.alerts(tenant=None, limit=10)
    assert [r["id"] for r in rows] == ["a3", "a2", "a1"]
    assert rows[2] == {
        "id": "a1",
        "ts": 1.0,
        "tenant": "t1",
        "kind": "circuit_open",
        "message": "m down",
        "model": "m",
        "task": None,
        "data": {"failures": 5},
    }
    assert [r["id"] for r in store.alerts(tenant="t1", limit=1)] == ["a3"]


def test_refused_data_is_a_permanent_error(store: Store) -> None:
    bad = decision("bad")
    object.__setattr__(bad, "tenant", None)  # NOT NULL violation
    with pytest.raises(StoreError) as info:
        store.write([decision("good"), bad])
    assert info.value.transient is False
    assert store.decisions(tenant=None, limit=10) == []  # one transaction: nothing was written


def test_unreachable_store_is_a_transient_error(tmp_path: object, store_url: str) -> None:
    if store_url.startswith("sqlite"):
        s: Store = open_store(f"sqlite:///{tmp_path}")  # a directory, not a database file
    else:
        from arbiter.store.postgres import PostgresStore

        s = PostgresStore("postgresql://nobody@127.0.0.1:1/none", timeout_s=0.5)
    try:
        with pytest.raises(StoreError) as info:
            s.migrate()
        assert info.value.transient is True
    finally:
        s.close()


def test_postgres_url_password_is_redacted() -> None:
    from arbiter.url_redaction import redact_url

    assert redact_url("postgresql://u:secret@h:5/db") == "postgresql://u:***@h:5/db"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert (
        redact_url("postgresql://h/db?user=u&password=secret&sslmode=require")
        == "postgresql://h/db?user=u&password=***&sslmode=require"
    )
    assert redact_url("sqlite:///rel.db") == "sqlite:///rel.db"
    assert "secret" not in redact_url("postgresql://u:secret@[::1/db")  # unparseable


def test_sqlite_urls(tmp_path: object) -> None:
    from arbiter.errors import ConfigError
    from arbiter.store.sqlite import parse_sqlite_url

    assert parse_sqlite_url("sqlite://:memory:") is None
    assert str(parse_sqlite_url("sqlite:///rel/a.db")) == "rel/a.db"
    assert str(parse_sqlite_url("sqlite:////abs/a.db")) == "/abs/a.db"
    with pytest.raises(ConfigError):
        parse_sqlite_url("sqlite://")
    with pytest.raises(ConfigError):
        open_store("mysql://x")
    mem = open_store("sqlite://:memory:")
    try:
        assert mem.migrate() == LATEST
        mem.write([decision("m1")])
        assert [r["id"] for r in mem.decisions(tenant=None, limit=5)] == ["m1"]
    finally:
        mem.close()
