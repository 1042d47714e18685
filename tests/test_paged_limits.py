"""A paged endpoint's `limit` (and the timeseries' `bucket_s`) outside its range is a 400 that
names the parameter and the range, the same on every endpoint (one parser: http_json.int_param),
never a silent clamp to a page the caller did not ask for."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.inproc import sidecar_in_process

PAGED = [
    ("/arbiter/decisions", "limit", 1, 1000),
    ("/arbiter/alerts", "limit", 1, 1000),
    ("/arbiter/cache", "limit", 1, 1000),
    ("/arbiter/timeseries", "bucket_s", 60, 86400),
]


@pytest.mark.parametrize(("path", "name", "lo", "hi"), PAGED)
def test_out_of_range_is_a_400_naming_the_range(
    tmp_path: Path, path: str, name: str, lo: int, hi: int
) -> None:
    async def go() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            for bad in (lo - 1, -1, 0, hi + 1, 10**12, "1.5", "ten"):
                r = await sc.client.get(path, params={name: str(bad)}, headers=sc.admin)
                assert r.status_code == 400, (name, bad, r.text)
                error = r.json()["error"]
                assert error["param"] == name
                assert f"'{name}' must be an integer from {lo} to {hi}" in error["message"]
            for good in (lo, hi):
                r = await sc.client.get(path, params={name: str(good)}, headers=sc.admin)
                assert r.status_code == 200, (name, good, r.text)

    asyncio.run(go())
