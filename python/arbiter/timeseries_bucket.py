"""How wide a bucket GET /arbiter/timeseries answers in: the one asked for, widened when it would
make more than MAX_POINTS points.

`since=200d&bucket_s=60` read 288k minute rows and answered 61 MB in 30-39 s: a tenant's key could
pin the store and the sidecar's memory with one URL. A bucket too fine for its range is widened to
the narrowest that fits (the answer's `bucket_s` says which, next to `requested_bucket_s`), never
refused: `since=0` is a valid question ("everything"), and a chart asks it as readily as a script.
From an hour up the width is whole hours, so the store reads the hourly level (24x fewer rows)."""

from __future__ import annotations

import math
from dataclasses import dataclass

# above the 1,440 points of a day per minute (a dashboard or script asks it), about a phone
# screen's width in points; a point is ~0.3 kB of JSON, so at most ~0.6 MB an answer
MAX_POINTS = 2000
_HOUR = 3600


def fitted_bucket(since: float, until: float, asked: int) -> int:
    """The bucket (seconds, a multiple of 60) to answer [since, until) in: `asked` unless that
    makes more than MAX_POINTS points, else the narrowest that does not, in whole minutes below
    an hour and whole hours from there. The first bucket starts at or before `since` (aligned
    down to its width), so the series spans at most one bucket more than the range: that one is
    kept out of MAX_POINTS."""
    span = until - since
    if not span > 0:  # an empty (or reversed) range: no point, whatever the width
        return asked
    need = math.ceil(span / (MAX_POINTS - 1))
    if need <= asked:
        return asked
    unit = 60 if need < _HOUR else _HOUR
    return math.ceil(need / unit) * unit


@dataclass(frozen=True, slots=True)
class Grid:
    """The buckets a series is answered in: `bucket` seconds wide from `start`, up to `until`.
    Every series of one GET /arbiter/timeseries (own traffic, learning traffic) is read on the
    grid of the same arguments, so their points line up bucket for bucket."""

    bucket: int  # seconds, a multiple of 60 (fitted_bucket's)
    start: int  # the first bucket's start: `since`'s minute aligned down to `bucket`
    until: int  # the range's end in whole seconds, rounded up (the last bucket is read whole)


def series_grid(since: float, until: float, bucket_s: int) -> Grid:
    """The grid for [since, until) asked in `bucket_s` (cut down to whole minutes, at least one),
    widened by fitted_bucket() when it would make more than MAX_POINTS points."""
    bucket = fitted_bucket(since, until, max(60, int(bucket_s) // 60 * 60))
    minute = int(since // 60) * 60  # the rollups' minute (store.rollup.minute_of)
    return Grid(bucket=bucket, start=minute // bucket * bucket, until=math.ceil(until))
