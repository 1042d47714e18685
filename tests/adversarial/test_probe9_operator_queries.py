"""Outside probe (ninth session): the operator's read APIs with query values out of range, and
the 405 every surface answers to a wrong method.

- `limit=-1`, `limit=0` or `limit=10**12` on /arbiter/decisions, /arbiter/alerts and
  /arbiter/cache answered 200 with the limit silently clamped into [1, 1000]: a script asking
  for 10,000 decisions got 1,000 (with `has_more`, which a script that trusts its limit never
  reads) and no word of it. `bucket_s` on /arbiter/timeseries was clamped into [60, 86400] the
  same way and, when not a multiple of 60, echoed as asked while the points were spaced by
  the minute below it (`bucket_s=90` said 90, the points came every 60 s: a chart that adds
  `bucket_s` to each point's time drew them wrong). Each is now a 400 naming the parameter
  and its range.
- A query parameter the endpoint does not read was ignored: `/arbiter/stats?since=24h` answered
  the all-time figures as if they were the last day's, `/arbiter/decisions?since=...` the
  newest page. Each read endpoint now names the parameters it takes in a 400 (`tenant`, which
  the dashboard adds to every read, is taken everywhere).
- `/arbiter/cache?after=` with an id that names no entry (a tampered or stale cursor) answered
  an empty last page (`has_more: false`), where /arbiter/decisions answers 400: a script paging
  the cache stopped early believing it had read every entry. It is now the same 400.
- A 405 had no `Allow` header (RFC 9110 requires one: it is how a client learns which method
  the path takes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.inproc import sidecar_in_process
from tests.test_cache import CACHE_ON

LIMITED = ("/arbiter/decisions", "/arbiter/alerts", "/arbiter/cache", "/arbiter/admin/keys",
           "/arbiter/policy", "/arbiter/admin/models")  # fmt: skip


def test_out_of_range_limits_and_buckets_are_a_400_not_a_silent_clamp(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            r = await sc.client.post(
                "/v1/chat/completions",
                json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
                headers=sc.auth,
            )
            assert r.status_code == 200, r.text
            for path in LIMITED:
                for bad in ("-1", "0", "1001", str(10**12)):
                    r = await sc.client.get(path, params={"limit": bad}, headers=sc.admin)
                    assert r.status_code == 400, (path, bad, r.text)
                    error = r.json()["error"]
                    assert error["param"] == "limit" and "1000" in error["message"], error
                for good in ("1", "1000"):
                    r = await sc.client.get(path, params={"limit": good}, headers=sc.admin)
                    assert r.status_code == 200, (path, good, r.text)
            for bad in ("0", "-60", "59", "90", "86460", str(10**12)):
                r = await sc.client.get(
                    "/arbiter/timeseries", params={"bucket_s": bad}, headers=sc.admin
                )
                assert r.status_code == 400, (bad, r.text)
                assert r.json()["error"]["param"] == "bucket_s"
            for good in (60, 900, 3600, 86400):  # what the dashboard asks for, and the bounds
                r = await sc.client.get(
                    "/arbiter/timeseries", params={"bucket_s": good}, headers=sc.admin
                )
                assert r.status_code == 200 and r.json()["bucket_s"] == good, r.text
                points = r.json()["data"]
                assert points and all(p["ts"] % good == 0 for p in points), points

    asyncio.run(main())


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/v1/chat/completions", "POST"),
        ("HEAD", "/v1/responses", "POST"),
        ("OPTIONS", "/v1/models", "GET"),
        ("PUT", "/v1/messages", "POST"),
        ("POST", "/arbiter/stats", "GET"),
    ],
)
def test_a_405_names_the_allowed_methods(
    tmp_path: Path, method: str, path: str, allowed: str
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            r = await sc.client.request(method, path, headers=sc.auth)
            assert r.status_code == 405, r.text
            assert allowed in [m.strip() for m in r.headers["allow"].split(",")], r.headers

    asyncio.run(main())


UNREAD = [
    ("/arbiter/stats", "since", "24h"),
    ("/arbiter/decisions", "since", "24h"),
    ("/arbiter/decisions", "cursor", "dec_1"),
    ("/arbiter/alerts", "after", "x"),
    ("/arbiter/timeseries", "bucket", "900"),
    ("/arbiter/pareto", "task", "math"),
    ("/arbiter/budgets", "offset", "5"),  # it pages by limit and after (left23)
    ("/arbiter/cache", "model", "sim-small"),
    ("/arbiter/admin/keys", "offset", "5"),  # it pages by limit and after (probe19b)
    ("/arbiter/policy", "offset", "5"),  # so do these two (ops20)
    ("/arbiter/admin/models", "offset", "5"),
]


def test_a_query_parameter_the_endpoint_does_not_read_is_a_400(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            for path, name, value in UNREAD:
                r = await sc.client.get(path, params={name: value}, headers=sc.admin)
                assert r.status_code == 400, (path, name, r.text)
                assert r.json()["error"]["param"] == name, r.text
            # what the dashboard and the README send still works
            for path in (
                "/arbiter/stats",
                "/arbiter/budgets",
                "/arbiter/policy",
                "/arbiter/pareto",
            ):
                r = await sc.client.get(path, params={"tenant": "default"}, headers=sc.admin)
                assert r.status_code == 200, (path, r.text)
            r = await sc.client.get(
                "/arbiter/timeseries",
                params={
                    "since": "2h",
                    "until": "1h",
                    "bucket_s": "60",
                    "model": "m",
                    "task": "chat",
                },
                headers=sc.admin,
            )
            assert r.status_code == 200, r.text

    asyncio.run(main())


def test_a_cache_cursor_that_names_no_entry_is_a_400(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: t + CACHE_ON) as sc:
            for text in ("One?", "Two?"):
                r = await sc.client.post(
                    "/v1/chat/completions",
                    json={"model": "auto", "messages": [{"role": "user", "content": text}]},
                    headers=sc.auth,
                )
                assert r.status_code == 200, r.text
            await sc.services.cache.drain()
            page = (await sc.client.get("/arbiter/cache?limit=1", headers=sc.admin)).json()
            assert page["has_more"], page
            rest = await sc.client.get(
                "/arbiter/cache", params={"after": page["last_id"]}, headers=sc.admin
            )
            assert rest.status_code == 200 and len(rest.json()["data"]) == 1, rest.text
            for cursor in ("garbage", page["last_id"] + "x", ""):
                r = await sc.client.get(
                    "/arbiter/cache", params={"after": cursor}, headers=sc.admin
                )
                assert r.status_code == 400, (cursor, r.text)
                assert r.json()["error"]["param"] == "after", r.text

    asyncio.run(main())
