"""The Anthropic-paged `GET /v1/models` given `limit`, `after_id` or `before_id` twice: a 400 in
Anthropic's shape naming it (as `/arbiter/*` answers, http_json.only_params), never read
last-wins: `?limit=5000&limit=1` passed the range check, `?after_id=X&after_id=Y` paged from Y."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import check_anthropic_error

VERSION = {"anthropic-version": "2023-06-01"}


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=5000&limit=1", "limit"),
        ("limit=2&limit=2", "limit"),
        ("after_id=no-such-model&after_id=auto", "after_id"),
        ("before_id=auto&limit=1&before_id=auto", "before_id"),
    ],
)
def test_a_repeated_page_parameter_is_an_anthropic_400(
    tmp_path: Path, query: str, param: str
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            r = await sc.client.get(f"/v1/models?{query}", headers={**sc.auth, **VERSION})
            message = check_anthropic_error(r, 400, "invalid_request_error")
            assert f"'{param}' twice" in message, message
            # the control: each name once (its last value, which last-wins read) is a page
            once = "&".join(
                f"{k}={v}" for k, v in dict(p.split("=") for p in query.split("&")).items()
            )
            r = await sc.client.get(f"/v1/models?{once}", headers={**sc.auth, **VERSION})
            assert r.status_code == 200 and "has_more" in r.json(), r.text
            # the OpenAI list has no paging: a paging parameter there is OpenAI's 400
            r = await sc.client.get(f"/v1/models?{query}", headers=sc.auth)
            assert r.status_code == 400 and "anthropic-version" in r.text, r.text

    asyncio.run(main())
