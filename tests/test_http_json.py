"""The headers of the operator's JSON and of every error body (http_json.API_HEADERS,
http_errors.error_response): never sniffed as another type; the JSON that shows spend, keys and
policies never stored by a browser's or a proxy's cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.inproc import TENANT_READS, sidecar_in_process

READS = (
    *TENANT_READS,
    "/arbiter/admin/keys",
    "/arbiter/admin/models",
    "/arbiter/challengers",
    "/metrics",
)


def _private(r: httpx.Response) -> None:
    assert r.status_code == 200, (r.url, r.text)
    assert r.headers["x-content-type-options"] == "nosniff", r.url
    assert r.headers["cache-control"] == "no-store", r.url


def test_the_operators_json_is_neither_sniffed_nor_cached(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            for path in READS:
                _private(await sc.client.get(path, headers=sc.admin))
            # a new key's secret is in the answer, shown once
            made = await sc.client.post(
                "/arbiter/admin/keys", json={"tenant": "t"}, headers=sc.admin
            )
            assert made.status_code in (200, 201), made.text
            assert made.headers["cache-control"] == "no-store"

    asyncio.run(main())


def test_every_error_body_says_nosniff(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            c = sc.client
            answers = [
                await c.post("/v1/chat/completions", json={}),  # 401, OpenAI's shape
                await c.post("/v1/messages", json={}),  # 401, Anthropic's shape
                await c.post("/v1/chat/completions", content=b"{", headers=sc.auth),  # 400
                await c.get("/arbiter/stats"),  # 401 on the operator's JSON
                await c.get("/arbiter/ui/nope.js"),  # the dashboard's 404
                await c.get("/nope"),  # Starlette's 404
                await c.get("/v1/chat/completions"),  # Starlette's 405
            ]
            for r in answers:
                assert r.status_code >= 400, (r.url, r.text)
                assert r.headers["content-type"] == "application/json", r.url
                assert r.headers["x-content-type-options"] == "nosniff", (r.url, r.status_code)

    asyncio.run(main())
