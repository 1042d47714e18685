"""One rule for `GET /v1/models`' query, in both forms: the path's own parameters (Anthropic's
paging: `limit`, `after_id`, `before_id`) are read strictly, and any other name is ignored, as
OpenAI's and Anthropic's APIs ignore names they do not define (OpenAI's spec gives the list no
parameter; Anthropic's SDK adds its own, `beta=true`). The OpenAI form has no paging: given a
paging parameter it answered the whole list as if paged, so `?limit=2` (a client that forgot
`anthropic-version`) is now a 400 in OpenAI's shape naming it and saying how to page."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

VERSION = {"anthropic-version": "2023-06-01"}


@pytest.mark.parametrize(
    ("query", "param"),
    [("limit=2", "limit"), ("after_id=auto", "after_id"), ("foo=1&before_id=auto", "before_id")],
)
def test_a_paging_parameter_on_the_openai_list_is_a_400(
    tmp_path: Path, query: str, param: str
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            r = await sc.client.get(f"/v1/models?{query}", headers=sc.auth)
            assert r.status_code == 400, r.text
            err = r.json()["error"]
            assert err["param"] == param and "anthropic-version" in err["message"], err
            assert err["type"] == "invalid_request_error", err
            with pytest.raises(openai.BadRequestError, match=param):
                await gpt.models.list(extra_query={param: "auto"})
            # the Anthropic form pages on the same query
            r = await sc.client.get(f"/v1/models?{query}", headers={**sc.auth, **VERSION})
            assert r.status_code == 200 and "has_more" in r.json(), r.text

    asyncio.run(main())


def test_other_names_are_ignored_in_both_forms(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            plain = await sc.client.get("/v1/models", headers=sc.auth)
            r = await sc.client.get("/v1/models?foo=1&foo=2&beta=true", headers=sc.auth)
            assert r.status_code == 200 and r.json() == plain.json(), r.text
            assert len((await gpt.models.list()).data) == len(plain.json()["data"])
            r = await sc.client.get("/v1/models?beta=true&x=1", headers={**sc.auth, **VERSION})
            assert r.status_code == 200 and "has_more" in r.json(), r.text

    asyncio.run(main())
