"""Outside probe: the official `AzureOpenAI` client pointed at the sidecar.

That client sends its key as an `api-key` header (not `Authorization: Bearer`), and puts the
deployment in the path: `{azure_endpoint}/openai/deployments/{model}/chat/completions`, or
`{base_url}/deployments/{model}/chat/completions` with a base_url. The sidecar answered 401 ("You
didn't provide an API key") to the key and 404 to the path, so a team on Azure's SDK could not
switch by changing the endpoint. Now `api-key` is a key header like `x-api-key`, and the Azure
deployment paths serve the same surfaces (the model is the body's, which the SDK always sends;
`api-version` is ignored)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2
import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import openai_stream_text

USER = [{"role": "user", "content": "Say hello."}]


@pytest.mark.parametrize("via", ["azure_endpoint", "base_url"])
def test_the_azure_sdk_reaches_chat_completions_and_embeddings(tmp_path: Path, via: str) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            transport = httpx2.ASGITransport(app=sc.app)
            async with httpx2.AsyncClient(transport=transport) as http:
                where = (
                    {"azure_endpoint": "http://127.0.0.1"}
                    if via == "azure_endpoint"
                    else {"base_url": "http://127.0.0.1/v1"}
                )
                azure = openai.AsyncAzureOpenAI(
                    api_key=sc.api_key, api_version="2024-10-21", http_client=http,
                    max_retries=0, **where,  # type: ignore[arg-type]
                )  # fmt: skip
                answer = await azure.chat.completions.create(
                    model="auto",
                    messages=USER,  # type: ignore[arg-type]
                )
                assert answer.choices[0].message.content
                text = await openai_stream_text(azure, "auto", USER)
                assert text
                vectors = await azure.embeddings.create(model="sim-small", input="hello")
                assert vectors.data[0].embedding
                wrong = openai.AsyncAzureOpenAI(
                    api_key="arb-nope", api_version="2024-10-21", http_client=http,
                    max_retries=0, **where,  # type: ignore[arg-type]
                )  # fmt: skip
                with pytest.raises(openai.AuthenticationError):
                    await wrong.chat.completions.create(
                        model="auto",
                        messages=USER,  # type: ignore[arg-type]
                    )

    asyncio.run(main())
