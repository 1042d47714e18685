"""`x-should-retry` on every error answer (errors.py `should_retry`, sent by server.py's
error_response): the official SDKs obey it over their own status rules. An error a retry cannot
fix (an upstream's 401 for our key, a model that is not there, a capability no model has) says
false, so an SDK with `max_retries=2` makes one request, not three; an outage says true."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from arbiter.offline.demo import API_KEY_ENV
from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import InProcess, sidecar_in_process

ASK = [{"role": "user", "content": "Summarize: the tide rises and falls."}]
PIXEL = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAA"
    "BJRU5ErkJggg=="
)
SEEING = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in it?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
        ],
    }
]
# the mock's model -> its answer: 401 (our key is wrong), 529 overloaded
MOCKED = {"claude-keyless": "leaky", "claude-down": "overloaded"}


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def with_mock_models(mock: AnthropicMock) -> Callable[[str], str]:
    """The mock's models callable by name only; a circuit that never opens here (every retry
    reaches the upstream)."""

    def edit(text: str) -> str:
        text += (
            "\n[breaker]\nfailure_threshold = 1000\n"
            f'\n[upstreams.mock]\nbase_url = "{mock.base_url}"\nprotocol = "anthropic"\n'
            f'api_key_env = "{API_KEY_ENV}"\n'
        )
        for name, upstream_model in MOCKED.items():
            text += (
                f'\n[models.{name}]\nupstream = "mock"\nupstream_model = "{upstream_model}"\n'
                "price_in_per_mtok = 0.05\nprice_out_per_mtok = 0.1\ncontext_window = 32000\n"
                'capabilities = ["chat", "no-route"]\n'
            )
        return text

    return edit


async def attempts(sc: InProcess, call: Callable[[Any, Any], Any]) -> tuple[list[int], str | None]:
    """The statuses of the HTTP requests one SDK call made (`max_retries=2`), and the last
    answer's x-should-retry."""
    seen: list[httpx2.Response] = []

    async def count(response: httpx2.Response) -> None:
        seen.append(response)

    transport = httpx2.ASGITransport(app=sc.app)
    async with httpx2.AsyncClient(
        transport=transport, base_url="http://127.0.0.1", event_hooks={"response": [count]}
    ) as http:
        gpt = openai.AsyncOpenAI(
            api_key=sc.api_key, base_url="http://127.0.0.1/v1", http_client=http, max_retries=2
        )
        claude = anthropic.AsyncAnthropic(
            api_key=sc.api_key, base_url="http://127.0.0.1", http_client=http, max_retries=2
        )
        with pytest.raises((openai.APIStatusError, anthropic.APIStatusError)):
            await call(gpt, claude)
    return [r.status_code for r in seen], seen[-1].headers.get("x-should-retry")


def chat(model: str, messages: Any = ASK) -> Callable[[Any, Any], Any]:
    return lambda gpt, _: gpt.chat.completions.create(model=model, messages=messages)


def message(model: str) -> Callable[[Any, Any], Any]:
    return lambda _, claude: claude.messages.create(model=model, max_tokens=20, messages=ASK)


def responses(model: str) -> Callable[[Any, Any], Any]:
    return lambda gpt, _: gpt.responses.create(model=model, input="Summarize: the tide.")


@pytest.mark.parametrize(
    ("call", "status"),
    [
        (chat("claude-keyless"), None),  # the upstream's 401: our key, not the caller's
        (message("claude-keyless"), None),
        (responses("claude-keyless"), None),
        (chat("no-such-model"), 404),
        (message("no-such-model"), 404),
        (chat("auto", SEEING), 400),  # an image, and no model in the pool sees
    ],
)
def test_an_error_a_retry_cannot_fix_is_asked_once(
    tmp_path: Path, mock: AnthropicMock, call: Callable[[Any, Any], Any], status: int | None
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=with_mock_models(mock)) as sc:
            statuses, retry = await attempts(sc, call)
            assert len(statuses) == 1, statuses
            assert status is None or statuses == [status]
            assert retry == "false"

    asyncio.run(main())


@pytest.mark.parametrize("call", [chat("claude-down"), message("claude-down")])
def test_an_outage_is_retried(
    tmp_path: Path, mock: AnthropicMock, call: Callable[[Any, Any], Any]
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=with_mock_models(mock)) as sc:
            statuses, retry = await attempts(sc, call)
            assert len(statuses) == 3 and statuses[0] >= 500, statuses
            assert retry == "true"

    asyncio.run(main())
