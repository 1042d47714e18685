"""Store.timeseries bounds its own answer (not only GET /arbiter/timeseries): any caller (CLI,
export, a script) asking a long range per minute gets at most MAX_POINTS (+1) points, in the
widened bucket fitted_bucket names, on both backends."""

from __future__ import annotations

from arbiter.store import Store
from arbiter.timeseries_bucket import MAX_POINTS, fitted_bucket

from .conftest import decision

T0 = 1_700_000_040.0  # a minute boundary
MINUTES = MAX_POINTS + 500  # one decision in each: a per-minute series would have this many points


def test_a_per_minute_series_longer_than_max_points_is_widened(store: Store) -> None:
    store.write([decision(f"d{m}", ts=T0 + 60 * m) for m in range(MINUTES)])
    since, until = T0, T0 + 60 * MINUTES
    points = store.timeseries(tenant="t1", since=since, until=until, bucket_s=60)
    assert len(points) <= MAX_POINTS + 1  # (the first bucket may start before `since`)
    assert sum(p["requests"] for p in points) == MINUTES, "every decision is still counted"
    width = fitted_bucket(since, until, 60)
    assert width > 60
    assert all(p["ts"] % width == 0 for p in points), "points on the fitted bucket's grid"
    everyone = store.timeseries(tenant=None, since=since, until=until, bucket_s=60)
    assert len(everyone) <= MAX_POINTS + 1  # the all-tenant level too
    assert sum(p["requests"] for p in everyone) == MINUTES


def test_a_series_that_fits_keeps_the_asked_bucket(store: Store) -> None:
    store.write([decision(f"d{m}", ts=T0 + 60 * m) for m in range(30)])
    points = store.timeseries(tenant="t1", since=T0, until=T0 + 1800, bucket_s=60)
    assert [p["ts"] for p in points] == [T0 + 60 * m for m in range(30)]
