"""Outside probe (fourteenth session): the errors no route gives, read by the anthropic SDK.

An unknown path (404), a method a path does not take (405) and an unhandled exception (500) took
Anthropic's error shape only under /v1/messages. The anthropic SDK's other calls, which it sends
with `anthropic-version` as every call (`client.beta.files.list()` is GET /v1/files, which
Arbiter lacks), got OpenAI's `{"error": {"message", "type": "invalid_request_error", "code":
"not_found"}}`: no top-level `type: "error"`, and `error.type` not Anthropic's `not_found_error`
that its callers branch on. A 500 under /v1/messages was OpenAI-shaped too. Now the shape follows
the caller: Anthropic's under /v1/messages or with `anthropic-version` (as GET /v1/models already
chose), OpenAI's otherwise.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import anthropic
import openai
import orjson
import pytest
from starlette.requests import Request

from arbiter.http_errors import unhandled
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

pytestmark = pytest.mark.timeout(60)
VERSION = {"anthropic-version": "2023-06-01"}


def test_the_anthropic_sdk_reads_its_own_shape_off_an_unknown_path(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (claude, gpt):
            with pytest.raises(anthropic.NotFoundError) as err:
                await claude.beta.files.list()
            body = err.value.body
            assert isinstance(body, dict) and body["type"] == "error"
            assert body["error"]["type"] == "not_found_error"
            assert "/v1/files" in body["error"]["message"]
            # the openai SDK, on the same path, keeps OpenAI's shape
            with pytest.raises(openai.NotFoundError) as oerr:
                await gpt.files.list()
            assert isinstance(oerr.value.body, dict) and oerr.value.body["code"] == "not_found"

    asyncio.run(main())


def test_a_method_not_taken_is_anthropic_shaped_for_an_anthropic_caller(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            r = await sc.client.post("/v1/models", headers={**sc.auth, **VERSION}, json={})
            assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
            body = r.json()
            assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
            plain = await sc.client.post("/v1/models", headers=sc.auth, json={})
            assert (
                plain.status_code == 405 and plain.json()["error"]["code"] == "method_not_allowed"
            )

    asyncio.run(main())


@pytest.mark.parametrize(
    ("path", "headers", "anthropic_shape"),
    [
        ("/v1/messages", [], True),
        ("/v1/models", [(b"anthropic-version", b"2023-06-01")], True),
        ("/v1/chat/completions", [], False),
    ],
    ids=["messages", "anthropic-version", "openai"],
)
def test_an_unhandled_error_answers_in_the_callers_shape(
    path: str, headers: list[tuple[bytes, bytes]], anthropic_shape: bool
) -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": headers,
        "query_string": b"",
    }
    response = asyncio.run(unhandled(Request(scope), RuntimeError("boom")))
    assert response.status_code == 500
    body = orjson.loads(bytes(response.body))
    if anthropic_shape:
        assert body["type"] == "error" and body["error"]["type"] == "api_error"
    else:
        assert body["error"]["type"] in ("server_error", "api_error") and "type" not in body
