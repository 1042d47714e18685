"""The rollup levels (hourly, all-tenant, all-time totals) against a scan of the raw rows.

Random histories: decisions rewritten (moved to another model or minute), grades of several
graders arriving before and after their decision and replaced by later ones, grades of decisions
never written, cache hits; written in random batches. Stats, cache stats and every timeseries
level must equal what the raw decisions (and each one's best grade) say.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter.records import LEARNING_MODES, NOT_OWN_MODES, GraderKind, Record
from arbiter.store import Store, open_store
from arbiter.store._sql import load_migrations
from arbiter.store.archive import archive_older

from .conftest import decision, grade

T0 = 1_700_002_800.0  # an hour boundary
GRADERS: list[GraderKind] = ["judge", "auto", "reference", "execution", "feedback"]


def _history(rng: random.Random, n: int) -> list[Record]:
    recs: list[Record] = []
    for i in range(n):
        tenant, task = rng.choice(["t1", "t2", "t3"]), rng.choice(["qa", "code"])
        d = decision(f"d{i}", ts=T0 + rng.uniform(0, 3 * 3600), tenant=tenant, task=task,
                     model=rng.choice(["small", "mid", "big"]), cost=rng.uniform(0, 0.01),
                     baseline_cost=rng.uniform(0, 0.02), latency_ms=rng.uniform(5, 70_000),
                     status=rng.choice(["ok", "ok", "ok", "failed"]))  # fmt: skip
        if rng.random() < 0.2:
            d = dataclasses.replace(
                d, mode=rng.choice(["passthrough", "judge", "shadow", "probe", "cascade_judge"])
            )
        elif rng.random() < 0.2:
            kind = rng.choice(["exact", "semantic"])
            d = dataclasses.replace(d, mode="cache", cache_kind=kind,
                                    cache_saved_usd=rng.uniform(0, 0.01))  # fmt: skip
        recs.append(d)
        if rng.random() < 0.15:  # rewritten later: another model, minute and cost
            recs.append(dataclasses.replace(d, chosen_model="big", ts=d.ts + 400,
                                            cost_usd=rng.uniform(0, 0.01)))  # fmt: skip
        for g in rng.sample(GRADERS, rng.randint(0, 3)):
            for _ in range(rng.randint(1, 2)):  # a second grade of one grader replaces the first
                recs.append(grade(f"d{i}", rng.random(), g, ts=T0 + rng.uniform(0, 4 * 3600),
                                  tenant=tenant, task=task))  # fmt: skip
    for i in range(5):  # grades whose decision is never written
        recs.append(grade(f"ghost{i}", 0.5, "feedback", ts=T0 + 60 * i))
    return recs


def _write_shuffled(store: Store, recs: list[Record], rng: random.Random) -> None:
    # shuffle, but keep each decision's rewrite after its first version (as the recorder would)
    order = list(range(len(recs)))
    rng.shuffle(order)
    firsts: dict[str, int] = {}
    for pos, k in enumerate(order):
        r = recs[k]
        rid = getattr(r, "id", None)
        if rid is not None and rid in firsts and firsts[rid] > k:
            j = order.index(firsts[rid])
            order[pos], order[j] = order[j], order[pos]
        if rid is not None:
            firsts.setdefault(rid, k)
    pos = 0
    while pos < len(order):
        size = rng.randint(1, 40)
        store.write([recs[k] for k in order[pos : pos + size]])
        pos += size


def _raw_stats(store: Store, tenant: str | None) -> dict[tuple[str, str], list[float]]:
    """requests, failed, cost, baseline, latency sum, graded, grade sum per (model, task)."""
    out: dict[tuple[str, str], list[float]] = {}
    for d in store.iter_decisions(since=0.0, tenant=tenant):
        if d["mode"] in NOT_OWN_MODES:  # Arbiter's own calls: not the tenant's requests
            continue
        row = out.setdefault((d["chosen_model"], d["task"]), [0.0] * 7)
        graded = d["grade"] is not None
        vals = (1, d["status"] == "failed", d["cost_usd"], d["baseline_cost_usd"],
                d["latency_ms"], graded, d["grade"] if graded else 0.0)  # fmt: skip
        for i, v in enumerate(vals):
            row[i] += float(v)
    return out


def _raw_learning(store: Store, tenant: str | None) -> dict[str, list[float]]:
    """requests, failed, cost per learning mode (shadow, probe, judge), from the raw rows."""
    out = {m: [0.0, 0.0, 0.0] for m in LEARNING_MODES}
    for d in store.iter_decisions(since=0.0, tenant=tenant):
        if d["mode"] in LEARNING_MODES:
            row = out[d["mode"]]
            row[0] += 1
            row[1] += d["status"] == "failed"
            row[2] += d["cost_usd"]
    return out


def _raw_minutes(store: Store, tenant: str) -> dict[int, list[float]]:
    """requests, failed, cost, baseline per minute of the tenant's own requests (raw rows)."""
    out: dict[int, list[float]] = {}
    for d in store.iter_decisions(since=0.0, tenant=tenant):
        if d["mode"] in NOT_OWN_MODES:
            continue
        row = out.setdefault(int(d["ts"] // 60) * 60, [0.0] * 4)
        for i, v in enumerate((1, d["status"] == "failed", d["cost_usd"], d["baseline_cost_usd"])):
            row[i] += float(v)
    return out


def _assert_series_match_raw(store: Store) -> None:
    """The per-minute series of each tenant counts its own requests, as stats does."""
    window = {"since": T0 - 3600, "until": T0 + 5 * 3600}
    for tenant in ("t1", "t2", "t3"):
        got = {p["ts"]: [float(p[f]) for f in ("requests", "failed", "cost_usd",
                                                "baseline_cost_usd")]
               for p in store.timeseries(tenant=tenant, **window)}  # fmt: skip
        _assert_same_series(got, _raw_minutes(store, tenant))


def _raw_cache(store: Store, tenant: str | None) -> dict[str, float]:
    out = {"hits": 0.0, "semantic_hits": 0.0, "saved_usd": 0.0}
    for d in store.iter_decisions(since=0.0, tenant=tenant):
        if d["cache_kind"] is not None:
            out["hits" if d["cache_kind"] == "exact" else "semantic_hits"] += 1
            out["saved_usd"] += d["cache_saved_usd"] or 0.0
    return out


def _raw_quality(store: Store, tenant: str | None) -> dict[tuple[str, str, bool], list[float]]:
    """The cost/quality view from the raw rows: answered, non-judge decisions."""
    out: dict[tuple[str, str, bool], list[float]] = {}
    for d in store.iter_decisions(since=0.0, tenant=tenant):
        if d["mode"] in ("judge", "cascade_judge") or d["status"] != "ok":
            continue
        row = out.setdefault((d["task"], d["chosen_model"], d["mode"] == "routed"), [0.0] * 4)
        row[0] += 1
        row[1] += d["cost_usd"]
        if d["grade"] is not None:
            row[2] += 1
            row[3] += d["grade"]
    return out


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _assert_stats_match_raw(store: Store) -> None:
    for tenant in (None, "t1", "t2", "t3"):
        raw = _raw_stats(store, tenant)
        st = store.stats(tenant=tenant)
        got = {(g["model"], g["task"]): g for g in st["by_model_task"]}
        assert sorted(got) == sorted(raw), tenant
        for key, want in raw.items():
            g = got[key]
            vals = (g["requests"], g["failed"], g["cost_usd"], g["baseline_cost_usd"],
                    g["mean_latency_ms"] * g["requests"], g["graded"],
                    (g["mean_grade"] or 0.0) * g["graded"])  # fmt: skip
            assert all(_close(float(a), b) for a, b in zip(vals, want, strict=True)), (key, g)
        assert st["requests"] == sum(int(v[0]) for v in raw.values())
        learning = _raw_learning(store, tenant)
        assert sorted(st["learning"]["by_mode"]) == sorted(LEARNING_MODES)
        for mode, (n, failed, cost) in learning.items():
            line = st["learning"]["by_mode"][mode]
            assert (line["requests"], line["failed"]) == (n, failed), (tenant, mode)
            assert _close(line["cost_usd"], cost), (tenant, mode)
        assert _close(st["learning"]["cost_usd"], sum(v[2] for v in learning.values()))
        quality = {
            (q["task"], q["model"], q["routed"]): q for q in store.quality_by_model(tenant=tenant)
        }
        want_q = _raw_quality(store, tenant)
        assert sorted(quality) == sorted(want_q)
        for key, want in want_q.items():
            q = quality[key]
            got_q = (q["requests"], q["cost_usd"], q["graded"], q["grade_sum"])
            assert all(_close(float(a), b) for a, b in zip(got_q, want, strict=True)), key
        cache, want_cache = store.cache_stats(tenant=tenant), _raw_cache(store, tenant)
        assert cache["hits"] == want_cache["hits"]
        assert cache["semantic_hits"] == want_cache["semantic_hits"]
        assert _close(cache["saved_usd"], want_cache["saved_usd"])


_FIELDS = ("requests", "failed", "graded", "cost_usd", "baseline_cost_usd")


def _series(store: Store, **kw: Any) -> dict[int, list[float]]:
    return {p["ts"]: [float(p[f]) for f in _FIELDS] for p in store.timeseries(**kw)}


def _rebucket(points: dict[int, list[float]], bucket: int) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for ts, vals in points.items():
        row = out.setdefault(ts // bucket * bucket, [0.0] * len(vals))
        for i, v in enumerate(vals):
            row[i] += v
    return out


def _assert_same_series(a: dict[int, list[float]], b: dict[int, list[float]]) -> None:
    keys = {k for k, v in a.items() if any(abs(x) > 1e-9 for x in v)}
    assert keys == {k for k, v in b.items() if any(abs(x) > 1e-9 for x in v)}
    for k in keys:
        assert all(_close(x, y) for x, y in zip(a[k], b[k], strict=True)), k


def _assert_levels_agree(store: Store) -> None:
    """Every level tells the per-minute level's story, including a window ending mid-hour."""
    for until in (T0 + 5 * 3600, T0 + 2 * 3600 + 1234.5):
        window = {"since": T0 - 3600, "until": until}
        minutes = {t: _series(store, tenant=t, **window) for t in ("t1", "t2", "t3")}
        every_minute: dict[int, list[float]] = {}
        for pts in minutes.values():
            for ts, vals in _rebucket(pts, 60).items():
                row = every_minute.setdefault(ts, [0.0] * len(vals))
                for i, v in enumerate(vals):
                    row[i] += v
        _assert_same_series(_series(store, tenant=None, **window), every_minute)
        for bucket in (3600, 7200):
            _assert_same_series(
                _series(store, tenant=None, bucket_s=bucket, **window),
                _rebucket(every_minute, bucket),
            )
            for t, pts in minutes.items():
                _assert_same_series(
                    _series(store, tenant=t, bucket_s=bucket, **window), _rebucket(pts, bucket)
                )
        _assert_same_series(  # a model filter over every tenant: the hourly per-tenant level
            _series(store, tenant=None, model="big", bucket_s=3600, **window),
            _model_minutes(store, "big", window),
        )


def _model_minutes(store: Store, model: str, window: dict[str, float]) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for t in ("t1", "t2", "t3"):
        for ts, vals in _rebucket(_series(store, tenant=t, model=model, **window), 3600).items():
            row = out.setdefault(ts, [0.0] * len(vals))
            for i, v in enumerate(vals):
                row[i] += v
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollup_levels_equal_the_raw_scan(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    _write_shuffled(store, _history(rng, 150), rng)
    _assert_stats_match_raw(store)
    _assert_levels_agree(store)
    _assert_series_match_raw(store)
    assert store.tenants() == sorted({d["tenant"] for d in store.iter_decisions(since=0.0)})


def test_migration_backfill_equals_the_incremental_rollups(store: Store) -> None:
    """Rebuilding the levels with the migration's own SQL gives what the writes built."""
    rng = random.Random(9)
    _write_shuffled(store, _history(rng, 120), rng)
    window = {"since": T0, "until": T0 + 5 * 3600, "bucket_s": 3600}
    before = (
        store.stats(tenant=None),
        store.cache_stats(tenant=None),
        store.timeseries(tenant=None, **window),
    )
    [(_, stmts)] = [m for m in load_migrations(store.backend) if m[0] == 16]
    with store._tx() as cur:  # type: ignore[attr-defined]  # the store's own transaction
        for table in ("rollups_hour", "rollups_global", "rollup_totals"):
            cur.execute(f"DELETE FROM {table}")
        for stmt in stmts:
            if stmt.startswith("INSERT"):
                cur.execute(stmt)
    after = (
        store.stats(tenant=None),
        store.cache_stats(tenant=None),
        store.timeseries(tenant=None, **window),
    )
    assert (
        after[0]["requests"] == before[0]["requests"] and after[0]["graded"] == before[0]["graded"]
    )
    assert _close(after[0]["cost_usd"], before[0]["cost_usd"])
    assert _close(after[0]["mean_grade"], before[0]["mean_grade"])
    assert after[1]["hits"] == before[1]["hits"] and _close(
        after[1]["saved_usd"], before[1]["saved_usd"]
    )
    assert [(p["ts"], p["requests"], p["graded"]) for p in after[2]] == [
        (p["ts"], p["requests"], p["graded"]) for p in before[2]
    ]


def test_stats_keep_history_after_retention(store: Store) -> None:
    store.write([decision("old", ts=T0, cost=0.5), grade("old", 0.25, "feedback", ts=T0 + 1),
                 decision("new", ts=T0 + 86400, cost=0.25)])  # fmt: skip
    before = store.stats(tenant=None)
    store.prune(records_before=T0 + 3600, rollups_before=T0 + 3600)
    assert [d["id"] for d in store.decisions(tenant=None, limit=10)] == ["new"]
    after = store.stats(tenant=None)
    assert after["requests"] == before["requests"] == 2
    assert after["cost_usd"] == before["cost_usd"] and after["mean_grade"] == 0.25


def test_retention_archive_writes_what_it_deletes(store: Store, tmp_path: Path) -> None:
    store.write([decision(f"old{i}", ts=T0 + i) for i in range(3)])
    store.write([decision("new", ts=T0 + 7200), grade("old1", 0.75, "feedback", ts=T0 + 5)])
    path, n = archive_older(store, T0 + 3600, tmp_path / "archive")
    assert n == 3 and path is not None and path.name.endswith(".jsonl.gz")
    rows = [orjson.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    assert [r["id"] for r in rows] == ["old0", "old1", "old2"] and rows[1]["grade"] == 0.75
    store.prune(records_before=T0 + 3600)
    assert archive_older(store, T0 + 3600, tmp_path / "archive") == (None, 0)  # nothing left
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == [path.name]  # no .part


def test_migration_0057_takes_learning_calls_out_of_the_time_series(
    store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Rows written before 0057 counted shadow/probe/judge calls in the time levels: its
    backfill takes them out, leaving every level equal to the tenants' own requests."""
    rng = random.Random(11)
    recs = _history(rng, 150)
    with monkeypatch.context() as m:  # the writer as it was: every mode in the time levels
        m.setattr("arbiter.store.rollup.NOT_OWN_MODES", ())
        _write_shuffled(store, recs, rng)
    window = {"since": T0 - 3600, "until": T0 + 5 * 3600}
    mixed = sum(p["requests"] for p in store.timeseries(tenant=None, **window))
    own = sum(sum(int(v[0]) for v in _raw_minutes(store, t).values()) for t in ("t1", "t2", "t3"))
    assert mixed > own  # the history has learning calls, counted as traffic
    [(_, stmts)] = [m for m in load_migrations(store.backend) if m[0] == 57]
    with store._tx() as cur:  # type: ignore[attr-defined]  # the store's own transaction
        for stmt in stmts:
            cur.execute(stmt)
    _assert_series_match_raw(store)
    _assert_levels_agree(store)
    assert sum(p["requests"] for p in store.timeseries(tenant=None, **window)) == own
    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")  # today's writer, same history
    try:
        fresh.migrate()
        _write_shuffled(fresh, recs, random.Random(12))
        for tenant in (None, "t1", "t2", "t3"):
            for bucket in (60, 3600):  # grades too: every field of every level
                kw = {"tenant": tenant, "bucket_s": bucket, **window}
                _assert_same_series(_series(store, **kw), _series(fresh, **kw))
    finally:
        fresh.close()
