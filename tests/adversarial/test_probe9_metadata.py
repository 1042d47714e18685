"""Outside probe (ninth session): OpenAI's `metadata` with values that are not strings (or too
many keys, or keys and values past the documented lengths: 16 pairs, keys up to 64
characters, string values up to 512).

On /v1/responses it was taken and echoed in the Response as it came, so the answer broke the
spec's Response schema (metadata's values are strings) that the SDK's types follow. On
/v1/chat/completions it was forwarded to an OpenAI-protocol upstream, which refuses it: a 400
after routing, with a billed attempt's worth of work and an `upstream_rejected` decision. Each
is now the caller's 400 naming `metadata`, before any upstream call; a valid map is still
echoed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.inproc import sidecar_in_process
from tests.openapi_spec import validate
from tests.sdk_clients import sdks, sim_requests

BAD: list[Any] = [
    {"run": 1},
    {"ok": None},
    {"nested": {"a": "b"}},
    {f"k{i}": "v" for i in range(17)},
    {"k" * 65: "v"},
    {"k": "v" * 513},
    ["a", "b"],
    "a=b",
]
GOOD = {f"k{i}": "v" * 512 for i in range(15)} | {"k" * 64: ""}


HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/responses", {"model": "auto", "input": "Say hi."}),
    ("/v1/chat/completions", {"model": "sim-small", "messages": HI}),
])  # fmt: skip
def test_metadata_that_is_no_map_of_strings_is_a_400(
    tmp_path: Path, path: str, body: dict[str, Any]
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            before = await sim_requests(sc)
            for metadata in BAD:
                r = await sc.client.post(path, json={**body, "metadata": metadata}, headers=sc.auth)
                assert r.status_code == 400, (metadata, r.text)
                assert r.json()["error"]["param"] == "metadata", r.text
            assert await sim_requests(sc) == before  # refused before any upstream call
            r = await sc.client.post(path, json={**body, "metadata": GOOD}, headers=sc.auth)
            assert r.status_code == 200, r.text

    asyncio.run(main())


def test_the_responses_echo_of_metadata_is_the_spec_s_and_the_sdk_s(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            raw = await gpt.responses.with_raw_response.create(
                model="auto", input="Say hi.", metadata={"run": "7"}
            )
            validate("Response", raw.http_response.json())
            assert raw.parse().metadata == {"run": "7"}

    asyncio.run(main())
