"""Outside probe (eighteenth session): the anthropic SDK calls Message Batches, Files and (older
SDKs) Text Completions at the base URL it uses for Messages. Arbiter serves none of them and
answered "Unknown path /v1/messages/batches.", which reads as a typo or a wrong base URL. Each
is still a 404 in the caller's shape (Anthropic's from its SDK, OpenAI's from the openai SDK's
Batch and Files calls), not retried, with the request id; its message now says the endpoint is
not served by Arbiter and what to do instead. Other unknown paths keep "Unknown path"."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import check_anthropic_error, sdks

HELLO = [{"role": "user", "content": "hi"}]
BATCH = [{"custom_id": "a", "params": {"model": "auto", "max_tokens": 10, "messages": HELLO}}]
Call = Callable[[anthropic.AsyncAnthropic], Awaitable[Any]]
ANTHROPIC_CALLS: dict[str, tuple[Call, str]] = {  # case: (the SDK call, what the message says)
    "batches.create": (lambda c: c.messages.batches.create(requests=BATCH), "Message Batches"),
    "batches.list": (lambda c: c.messages.batches.list(), "Message Batches"),
    "batches.results": (lambda c: c.messages.batches.results("msgbatch_1"), "Message Batches"),
    "beta.files.list": (lambda c: c.beta.files.list(), "Files API"),
    "beta.files.upload": (
        lambda c: c.beta.files.upload(file=("a.txt", b"hello", "text/plain")),
        "Files API",
    ),
}


@pytest.mark.parametrize("case", list(ANTHROPIC_CALLS))
def test_the_anthropic_sdk_hears_which_endpoint_is_not_served(tmp_path: Path, case: str) -> None:
    call, names = ANTHROPIC_CALLS[case]

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (claude, _):
            with pytest.raises(anthropic.NotFoundError) as info:
                await call(claude)
            err = info.value
            assert isinstance(err.body, dict) and err.body["type"] == "error", err.body
            assert err.body["error"]["type"] == "not_found_error", err.body
            message = err.body["error"]["message"]
            assert names in message and "not served by Arbiter" in message, message
            assert err.response.headers["x-should-retry"] == "false"
            assert err.request_id and err.request_id.startswith("req_")

    asyncio.run(main())


def test_legacy_complete_and_openai_batches_and_files(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            body = {"model": "auto", "max_tokens_to_sample": 10, "prompt": "\n\nHuman: hi"}
            r = await sc.client.post("/v1/complete", headers=sc.anthropic, json=body)
            message = check_anthropic_error(r, 404, "not_found_error")
            assert "Text Completions API is not served" in message and "/v1/messages" in message
            for call, names in [
                (lambda: gpt.batches.list(), "Batch API"),
                (lambda: gpt.files.list(), "Files API"),
            ]:
                with pytest.raises(openai.NotFoundError) as info:
                    await call()
                assert isinstance(info.value.body, dict), info.value.body
                assert names in info.value.body["message"], info.value.body
            r = await sc.client.get("/v1/nothing-here", headers=sc.anthropic)
            assert (
                check_anthropic_error(r, 404, "not_found_error") == "Unknown path /v1/nothing-here."
            )

    asyncio.run(main())
