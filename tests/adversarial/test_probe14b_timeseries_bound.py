"""Outside probe (probes14b): GET /arbiter/timeseries had no bound on its points.
`since=200d&bucket_s=60` over 288k minute rows answered 61 MB in 30-39 s: any key could pin the
store and the sidecar's memory with one URL. A bucket too fine for the range is now widened to the
narrowest that gives at most MAX_POINTS points (whole hours from an hour up: the hourly level),
the answer says the bucket it used, and every request in the range is still counted; `since=0`
still answers 200, and the dashboard's ranges (1 h/60 s, 24 h/900 s, 7 d/3600 s) keep theirs.
Both stores."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from arbiter.timeseries_bucket import MAX_POINTS, fitted_bucket
from tests.inproc import InProcess, sidecar_in_process
from tests.pg import empty_store_url
from tests.store.conftest import decision

DAYS = 200
SPREAD = 2600  # decisions spread over DAYS: one every ~1.8 h, each in its own minute and hour


def _fill(sc: InProcess, now: float) -> None:
    step = DAYS * 86400 / SPREAD
    records = [
        decision(f"d{i}", ts=now - DAYS * 86400 + 60 + i * step, tenant="alpha", model="sim-tiny")
        for i in range(SPREAD)
    ]
    for i in range(0, SPREAD, 500):
        sc.services.store.write(records[i : i + 500])


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_range_too_long_for_its_bucket_is_widened_not_unbounded(
    tmp_path: Path, backend: str
) -> None:
    async def body(sc: InProcess) -> None:
        now = time.time()
        await asyncio.to_thread(_fill, sc, now)
        tenant_key = {"authorization": f"Bearer {sc.api_key}"}
        for headers, params in (
            (sc.admin, {}),  # every tenant: the all-tenant level
            (sc.admin, {"tenant": "alpha"}),
            (tenant_key, {}),  # the tenant's own key: the per-tenant levels
            (tenant_key, {"model": "sim-tiny"}),
        ):
            r = await sc.client.get(
                "/arbiter/timeseries",
                params={"since": f"{DAYS + 1}d", "bucket_s": "60", **params},
                headers=headers,
            )
            assert r.status_code == 200, r.text
            got = r.json()
            assert len(got["data"]) <= MAX_POINTS, (params, len(got["data"]))
            assert got["requested_bucket_s"] == 60 and got["max_points"] == MAX_POINTS
            bucket = got["bucket_s"]
            assert bucket % 3600 == 0 and bucket == fitted_bucket(got["since"], got["until"], 60)
            assert all(p["ts"] % bucket == 0 for p in got["data"])
            assert sum(p["requests"] for p in got["data"]) == SPREAD, "nothing in range is lost"
        # since=0 (everything) is a question, not an error
        r = await sc.client.get("/arbiter/timeseries", params={"since": "0"}, headers=sc.admin)
        assert r.status_code == 200 and len(r.json()["data"]) <= MAX_POINTS, r.text
        assert sum(p["requests"] for p in r.json()["data"]) == SPREAD
        # the dashboard's ranges keep the bucket they ask for
        for span, asked in ((3600, 60), (86400, 900), (7 * 86400, 3600), (86400, 60)):
            r = await sc.client.get(
                "/arbiter/timeseries",
                params={"since": str(int(now) - span), "bucket_s": str(asked)},
                headers=sc.admin,
            )
            assert r.status_code == 200 and r.json()["bucket_s"] == asked, (span, r.text)

    async def main() -> None:
        with empty_store_url(backend, tmp_path / "arbiter.db") as url:
            edit = lambda text: text.replace(f"sqlite:///{tmp_path / 'arbiter.db'}", url)  # noqa: E731
            async with sidecar_in_process(tmp_path, tenant="alpha", edit_config=edit) as sc:
                assert sc.services.store.backend == backend
                await body(sc)

    asyncio.run(main())


def test_the_fitted_bucket() -> None:
    assert fitted_bucket(0, 3600, 60) == 60
    assert fitted_bucket(0, 86460, 60) == 60  # a day per minute (and the default until's +60 s)
    assert fitted_bucket(0, 7 * 86400, 60) == 360  # 7 d per minute: 6-minute buckets
    assert fitted_bucket(0, 200 * 86400, 60) == 3 * 3600  # from an hour up: whole hours
    assert fitted_bucket(0, 200 * 86400, 86400) == 86400  # wide enough already
    assert fitted_bucket(100, 50, 60) == 60  # an empty range: no point to bound
    for since, until in ((0, 1.8e9), (-62135596800, 253402300799), (17, 10_000_017)):
        b = fitted_bucket(since, until, 60)
        start = since // b * b
        assert b % 60 == 0 and (until - start) / b <= MAX_POINTS
