"""`timeseries_bucket.series_grid`: the one grid both timeseries series (own traffic and learning
traffic, `store/_sql.py`) are read on. It was two copies of the same two lines; these pin what the
copies computed, so the two series keep lining up bucket for bucket."""

from __future__ import annotations

import math
import random

from arbiter.store import rollup
from arbiter.timeseries_bucket import MAX_POINTS, fitted_bucket, series_grid


def test_grid_is_the_fitted_bucket_from_the_aligned_minute() -> None:
    rng = random.Random(18)
    for _ in range(5000):
        since = rng.uniform(0, 2e9)
        until = since + rng.choice([0.0, -5.0, rng.uniform(0, 7200), rng.uniform(0, 3e7)])
        asked = rng.choice([0, 1, 59, 60, 61, 90, 300, 3599, 3600, 7200, 86400])
        grid = series_grid(since, until, asked)
        bucket = fitted_bucket(since, until, max(60, asked // 60 * 60))
        assert grid.bucket == bucket and grid.bucket % 60 == 0
        assert grid.start == rollup.minute_of(since) // bucket * bucket
        assert grid.start <= since < grid.start + grid.bucket
        assert grid.until == math.ceil(until)
        if until > since:
            assert (grid.until - grid.start) / grid.bucket <= MAX_POINTS + 1


def test_a_bucket_under_a_minute_is_a_minute() -> None:
    assert series_grid(125.0, 600.0, 1).bucket == 60
    assert series_grid(125.0, 600.0, 1).start == 120
    assert series_grid(125.0, 600.5, 90).until == 601
