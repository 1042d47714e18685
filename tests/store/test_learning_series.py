"""The timeseries' learning series (`Store.learning_timeseries`, migration 0058) against a scan of
the raw rows: Arbiter's learning calls (shadow, probe, judge) per bucket and mode, with each
call's best grade, on every tenant filter, model and task filter, and bucket width (per minute,
whole hours, and hours plus the last hour's minutes); the 0058 backfill gives the same series as
the writer; retention prunes it. Both backends.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Any

import pytest

from arbiter.records import LEARNING_MODES, DecisionMode, DecisionRecord
from arbiter.store import Store
from arbiter.store._sql import load_migrations
from arbiter.timeseries_bucket import MAX_POINTS, fitted_bucket

from .conftest import decision
from .test_rollup_levels import T0, _history, _write_shuffled

_FIELDS = ("requests", "failed", "cost_usd", "graded")


def _raw(
    store: Store, *, tenant: str | None, bucket: int, since: float, until: float,
    model: str | None = None, task: str | None = None,
) -> dict[int, dict[str, list[float]]]:  # fmt: skip
    """requests, failed, cost, graded, grade sum per bucket and learning mode (raw rows)."""
    out: dict[int, dict[str, list[float]]] = {}
    start = int(since // 60 * 60) // bucket * bucket
    for d in store.iter_decisions(since=0.0, tenant=tenant):
        minute = int(d["ts"] // 60) * 60
        if d["mode"] not in LEARNING_MODES or not start <= minute < math.ceil(until):
            continue
        if (model is not None and d["chosen_model"] != model) or (task not in (None, d["task"])):
            continue
        line = out.setdefault(minute // bucket * bucket, {}).setdefault(d["mode"], [0.0] * 5)
        graded = d["grade"] is not None
        vals = (1, d["status"] == "failed", d["cost_usd"], graded, d["grade"] if graded else 0.0)
        for i, v in enumerate(vals):
            line[i] += float(v)
    return out


def _assert_matches_raw(store: Store, **kw: Any) -> int:
    bucket = kw.pop("bucket_s")
    got = store.learning_timeseries(bucket_s=bucket, **kw)
    want = _raw(store, bucket=bucket, **kw)
    assert [p["ts"] for p in got] == sorted(want), kw
    for p in got:
        lines = want[p["ts"]]
        assert set(p["by_mode"]) == set(LEARNING_MODES)
        for mode in LEARNING_MODES:
            line, raw = p["by_mode"][mode], lines.get(mode, [0.0] * 5)
            assert [line[f] for f in _FIELDS] == pytest.approx(raw[:4], abs=1e-9), (kw, mode)
            mean = raw[4] / raw[3] if raw[3] else None
            assert line["mean_grade"] == pytest.approx(mean, abs=1e-9), (kw, mode)
        assert p["requests"] == sum(int(v[0]) for v in lines.values())
        assert p["cost_usd"] == pytest.approx(sum(v[2] for v in lines.values()), abs=1e-9)
    return sum(p["requests"] for p in got)


WINDOWS = (
    (60, T0 - 3600, T0 + 5 * 3600),  # per minute
    (3600, T0 - 3600, T0 + 5 * 3600),  # whole hours: the hourly rows
    (3600, T0 - 3600, T0 + 2 * 3600 + 1800),  # hours, then the last hour's minutes
    (600, T0 + 1234, T0 + 3 * 3600),  # ten minutes from a mid-minute start
)


def _assert_every_view(store: Store) -> int:
    seen = 0
    for bucket, since, until in WINDOWS:
        for tenant in (None, "t1", "t2", "t3"):
            kw = {"tenant": tenant, "bucket_s": bucket, "since": since, "until": until}
            seen += _assert_matches_raw(store, **kw)
        for model, task in (("big", None), (None, "code"), ("small", "qa")):
            kw = {"tenant": None, "bucket_s": bucket, "since": since, "until": until}
            _assert_matches_raw(store, model=model, task=task, **kw)
    return seen


def test_the_learning_series_is_the_raw_learning_calls_per_bucket(store: Store) -> None:
    rng = random.Random(5)
    _write_shuffled(store, _history(rng, 300), rng)
    assert _assert_every_view(store) > 0  # the history has learning calls


def test_migration_0058_backfills_the_series_from_the_raw_calls(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Calls written before 0058 (no learning rows) are in the series once it ran, exactly as
    the writer would have put them there."""
    rng = random.Random(8)
    recs = _history(rng, 200)
    with monkeypatch.context() as m:  # the writer before 0058: no learning rows
        m.setattr("arbiter.store.rollup.LEARNING_MODES", ())
        _write_shuffled(store, recs, rng)
    window = {"tenant": None, "since": T0 - 3600, "until": T0 + 5 * 3600}
    assert store.learning_timeseries(**window) == []
    [(_, stmts)] = [m for m in load_migrations(store.backend) if m[0] == 58]
    with store._tx() as cur:  # type: ignore[attr-defined]  # the store's own transaction
        cur.execute("DROP TABLE rollups_learning")  # as the store was before 0058
        for stmt in stmts:
            cur.execute(stmt)
    assert _assert_every_view(store) > 0


def test_retention_prunes_the_learning_rows(store: Store) -> None:
    shadow = decision("s1", ts=T0 + 30)
    probe = decision("p1", ts=T0 + 2 * 3600 + 30)
    store.write([_as(shadow, "shadow"), _as(probe, "probe")])
    window = {"tenant": None, "since": T0, "until": T0 + 3 * 3600}
    assert len(store.learning_timeseries(bucket_s=60, **window)) == 2
    deleted = store.prune(rollups_before=T0 + 3600 + 60)
    assert deleted["rollups_learning"] == 2  # the first call's minute and its whole hour
    [left] = store.learning_timeseries(bucket_s=60, **window)
    assert left["ts"] == T0 + 2 * 3600 and left["by_mode"]["probe"]["requests"] == 1
    [hour] = store.learning_timeseries(bucket_s=3600, **window)
    assert hour["ts"] == T0 + 2 * 3600


def _as(d: DecisionRecord, mode: DecisionMode) -> DecisionRecord:
    return dataclasses.replace(d, mode=mode)


def test_a_long_per_minute_learning_series_is_widened_like_the_rest(store: Store) -> None:
    """At most MAX_POINTS (+1) points whatever the range, every call still counted, on the grid
    `timeseries` answers in for the same question (so the two series line up)."""
    minutes = MAX_POINTS + 500
    calls = [_as(decision(f"s{m}", ts=T0 + 60 * m), "shadow") for m in range(minutes)]
    store.write([*calls, decision("own", ts=T0)])
    since, until = T0, T0 + 60 * minutes
    for tenant in ("t1", None):
        points = store.learning_timeseries(tenant=tenant, since=since, until=until, bucket_s=60)
        assert len(points) <= MAX_POINTS + 1
        assert sum(p["by_mode"]["shadow"]["requests"] for p in points) == minutes
        width = fitted_bucket(since, until, 60)
        assert width > 60 and all(p["ts"] % width == 0 for p in points)
        own = store.timeseries(tenant=tenant, since=since, until=until, bucket_s=60)
        assert [p["ts"] for p in own] == [points[0]["ts"]]  # the own request's bucket
