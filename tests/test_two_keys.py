"""A request that presents two different keys (a key header and an Authorization Bearer) is
judged by the key header (x-api-key, api-key) alone, on every surface: a proxy's or an SDK
environment's Bearer next to a valid x-api-key does not lock the caller out (auth.presented_key).
When the key header is the wrong one, the 401 says which key was checked. The real SDKs send
both headers here: `default_headers` carries the x-api-key, the client's own key the Bearer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anthropic
import httpx2
import openai
import pytest

from tests.inproc import InProcess, sidecar_in_process

WRONG = "arb-0123456789ab-not-the-secret"
ASK = [{"role": "user", "content": "Say hello."}]


async def _both(sc: InProcess, bearer: str, x_api_key: str) -> tuple[object, object]:
    """What each SDK gets back (its answer, or the APIStatusError it raised)."""
    transport = httpx2.ASGITransport(app=sc.app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://arbiter") as http:
        claude = anthropic.AsyncAnthropic(
            auth_token=bearer, default_headers={"x-api-key": x_api_key},
            base_url="http://arbiter", http_client=http, max_retries=0,
        )  # fmt: skip
        gpt = openai.AsyncOpenAI(
            api_key=bearer, default_headers={"x-api-key": x_api_key},
            base_url="http://arbiter/v1", http_client=http, max_retries=0,
        )  # fmt: skip
        out: list[object] = []
        for call in (
            claude.messages.create(model="auto", max_tokens=64, messages=ASK),  # type: ignore[arg-type]
            gpt.chat.completions.create(model="auto", messages=ASK),  # type: ignore[arg-type]
        ):
            try:
                out.append(await call)
            except (anthropic.APIStatusError, openai.APIStatusError) as err:
                out.append(err)
        return out[0], out[1]


def test_a_valid_x_api_key_wins_over_a_wrong_bearer(tmp_path: Path) -> None:
    async def go() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            message, completion = await _both(sc, bearer=WRONG, x_api_key=sc.api_key)
            assert isinstance(message, anthropic.types.Message), message
            assert isinstance(completion, openai.types.chat.ChatCompletion), completion

    asyncio.run(go())


@pytest.mark.parametrize("x_api_key", [WRONG, "arb-not-even-a-key"])
def test_a_wrong_x_api_key_is_a_401_naming_the_rule_even_with_a_valid_bearer(
    tmp_path: Path, x_api_key: str
) -> None:
    async def go() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            message, completion = await _both(sc, bearer=sc.api_key, x_api_key=x_api_key)
            assert isinstance(message, anthropic.AuthenticationError), message
            assert isinstance(completion, openai.AuthenticationError), completion
            for err in (message, completion):
                text = err.response.json()["error"]["message"]
                assert text.startswith("Incorrect API key provided.")
                assert "x-api-key" in text and "Bearer token ignored" in text

    asyncio.run(go())
