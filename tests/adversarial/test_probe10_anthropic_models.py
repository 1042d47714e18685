"""Outside probe (tenth session): the Anthropic surface's `GET /v1/models` ignored `limit`,
`after_id` and `before_id`: the anthropic SDK's `client.models.list(limit=2)` got every model in
one page (and a `limit=0` or `limit=abc` was answered 200). It now pages as Anthropic does
(`limit` 1-1000, default 20; `has_more`, `first_id`, `last_id`), a bad value is a 400 in
Anthropic's shape, and the OpenAI-shaped list (no `anthropic-version`), which has no paging,
answers a paging parameter with a 400 in OpenAI's shape (test_models_query_rule.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anthropic
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import check_anthropic_error, sdks

VERSION = {"anthropic-version": "2023-06-01"}


def test_the_anthropic_sdk_pages_the_models(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (claude, _):
            whole = await sc.client.get("/v1/models", headers={**sc.auth, **VERSION})
            every = [m["id"] for m in whole.json()["data"]]
            assert len(every) > 3 and whole.json()["has_more"] is False, whole.text

            first = await claude.models.list(limit=2)
            assert [m.id for m in first.data] == every[:2]
            assert first.has_more is True and first.last_id == every[1]
            paged = [m.id async for m in await claude.models.list(limit=2)]
            assert paged == every  # auto-paging walks every page, each id once

            back = await claude.models.list(limit=2, before_id=every[-1])
            assert [m.id for m in back.data] == every[-3:-1] and back.first_id == every[-3]
            walked = [m.id async for m in await claude.models.list(limit=2, before_id=every[-1])]
            assert sorted(walked) == sorted(every[:-1])

            last = await claude.models.list(limit=1000, after_id=every[-2])
            assert [m.id for m in last.data] == every[-1:] and last.has_more is False
            none = await claude.models.list(after_id=every[-1])
            assert none.data == [] and none.first_id is None and none.last_id is None

    asyncio.run(main())


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("after_id=no-such-model", "after_id"),
        ("before_id=no-such-model", "before_id"),
        ("after_id=auto&before_id=auto", "before_id"),
    ],
)
def test_a_bad_page_request_is_an_anthropic_400(tmp_path: Path, query: str, param: str) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (claude, _):
            r = await sc.client.get(f"/v1/models?{query}", headers={**sc.auth, **VERSION})
            assert param in check_anthropic_error(r, 400, "invalid_request_error")
            if query.startswith("limit=") and query[6:].isdigit():
                with pytest.raises(anthropic.BadRequestError, match="limit"):
                    await claude.models.list(limit=int(query[6:]))
            # the OpenAI list has no paging: a paging parameter there is OpenAI's 400
            r = await sc.client.get(f"/v1/models?{query}", headers=sc.auth)
            assert r.status_code == 400 and "anthropic-version" in r.text, r.text

    asyncio.run(main())
