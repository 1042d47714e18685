"""Outside probe (eleventh session): the anthropic SDK's tool runner
(`client.beta.messages.tool_runner`) uses Anthropic's message threads by default: its first
request asks the server to hold the conversation (`thread: {"type": "create"}`), each later one
continues it with only the new messages (`{"type": "continue", "previous_message_id": ...}`).
Arbiter keeps no state and may route the next turn to another model or provider: the first
turn went on to the upstream with `thread` (to an OpenAI model: a 400 "cannot carry 'thread'"),
the second was a 400 for a tool_result without its tool_use (held, the SDK thought, by the
server), so the runner failed on its second turn. A request with `thread` is now refused at
the edge as Anthropic refuses one it cannot thread (400, `error.details.error_code`
`thread_unsupported_request`), which the SDK answers by sending the turn again whole and
without `thread`, and every later turn so: the runner works, over either protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from anthropic import beta_async_tool

from arbiter.offline.demo import API_KEY_ENV
from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import check_anthropic_error, sdks

VERSION = {"anthropic-version": "2023-06-01"}
ASK: Any = [{"role": "user", "content": "Weather in Paris?"}]
OPENAI_CALL = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-x",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }],
    }}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
}  # fmt: skip


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        m.openai_reply = OPENAI_CALL
        yield m


def with_mock(mock: AnthropicMock) -> Callable[[str], str]:
    """`claude-tool` (the mock over Anthropic's API, always calling get_weather) and
    `gpt-tool` (the mock over OpenAI's, the same)."""

    def edit(text: str) -> str:
        models = "".join(
            f'[models.{name}]\nupstream = "{upstream}"\nupstream_model = "{behaviour}"\n'
            "price_in_per_mtok = 0.05\nprice_out_per_mtok = 0.1\ncontext_window = 32000\n"
            'capabilities = ["chat", "tools", "no-route"]\n'
            for name, upstream, behaviour in (
                ("claude-tool", "m", "tool"),
                ("gpt-tool", "o", "openai-reply"),
            )
        )
        return text + (
            f'\n[upstreams.m]\nbase_url = "{mock.base_url}"\nprotocol = "anthropic"\n'
            f'api_key_env = "{API_KEY_ENV}"\n'
            f'[upstreams.o]\nbase_url = "{mock.base_url}/v1"\nprotocol = "openai"\n'
            f'api_key_env = "{API_KEY_ENV}"\n' + models
        )

    return edit


@beta_async_tool
async def get_weather(city: str, unit: str = "celsius") -> str:
    """The weather of a city."""
    return f"18C in {city} ({unit})"


@pytest.mark.parametrize("model", ["claude-tool", "gpt-tool"])
def test_the_sdks_tool_runner_loops_through_arbiter(
    tmp_path: Path, mock: AnthropicMock, model: str
) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=with_mock(mock)) as sc,
            sdks(sc) as (
                claude,
                _,
            ),
        ):
            before = len(mock.requests)
            runner = claude.beta.messages.tool_runner(
                model=model, max_tokens=100, messages=ASK, tools=[get_weather], max_iterations=2
            )
            turns = [[block.type for block in message.content] async for message in runner]
            assert len(turns) == 2 and all("tool_use" in t for t in turns), turns
            sent = [body for _, body in mock.requests[before:]]
            assert len(sent) == 2 and not any("thread" in body for body in sent)
            second = str(sent[1]["messages"])  # the whole conversation, call and result
            assert "get_weather" in second and "18C in Paris" in second, second

    asyncio.run(main())


@pytest.mark.parametrize(
    "thread",
    [{"type": "create"}, {"type": "continue", "previous_message_id": "msg_1"}],
    ids=["create", "continue"],
)
def test_a_thread_is_refused_as_anthropic_refuses_one_it_cannot_hold(
    tmp_path: Path, thread: dict[str, str]
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (claude, _):
            # a continue sends only the new turn: a tool_result whose tool_use the server holds
            result = [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "18C"}]
            messages = ASK if thread["type"] == "create" else [{"role": "user", "content": result}]
            body = {"model": "auto", "max_tokens": 20, "messages": messages, "thread": thread}
            r = await sc.client.post("/v1/messages", json=body, headers={**sc.auth, **VERSION})
            assert "thread" in check_anthropic_error(r, 400, "invalid_request_error")
            assert r.json()["error"]["details"] == {"error_code": "thread_unsupported_request"}
            with pytest.raises(anthropic.BadRequestError) as caught:
                await claude.beta.messages.create(
                    model="sim-small",
                    max_tokens=20,
                    messages=messages,
                    extra_body={"thread": thread},
                )
            assert caught.value.error_code == "thread_unsupported_request"

    asyncio.run(main())
