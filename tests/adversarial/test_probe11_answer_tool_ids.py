"""Outside probe (eleventh session): an anthropic SDK tool loop on an OpenAI-protocol model.
The model's tool call ids reached the Anthropic client as they came, and the client sends each
back in every later turn, where Anthropic's rules hold (and Arbiter checks them at its edge):
ids of [a-zA-Z0-9_-] only, unique in the conversation. OpenAI-compatible servers break both:
Kimi's `functions.get_weather:0` (refused on the second turn), `call_0` numbered per answer (so
every turn's first call is `call_0`: refused on the third), no id at all (Arbiter's stand-in,
`call_<completion id>_0`, repeats when the server's completion id does). Each such call now
reaches an Anthropic client with a fresh id of Anthropic's shape, streamed or not, so the loop
goes on; the OpenAI client still gets the model's own ids."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter.offline.demo import API_KEY_ENV
from arbiter.protocols.anthropic_encode import TOOL_ID_CHARS
from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

TOOLS: Any = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}]
ARGS = '{"city": "Paris"}'


def reply(call_id: str) -> dict[str, Any]:
    call = {
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": ARGS},
    }
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "kimi",
        "choices": [{"index": 0, "finish_reason": "tool_calls",
                     "message": {"role": "assistant", "content": None, "tool_calls": [call]}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    }  # fmt: skip


def streamed(call_id: str) -> bytes:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "kimi"}
    call = {"index": 0, "id": call_id, "type": "function",
            "function": {"name": "get_weather", "arguments": ARGS}}  # fmt: skip
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [call]},
                              "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {**base, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 5,
                                         "total_tokens": 10}},
    ]  # fmt: skip
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def with_mock(mock: AnthropicMock) -> Callable[[str], str]:
    """`oa-json` (the mock's JSON answer) and `oa-stream` (its replayed stream), over OpenAI's
    API."""

    def edit(text: str) -> str:
        models = "".join(
            f'[models.{name}]\nupstream = "o"\nupstream_model = "{behaviour}"\n'
            "price_in_per_mtok = 0.05\nprice_out_per_mtok = 0.1\ncontext_window = 32000\n"
            'capabilities = ["chat", "tools", "no-route"]\n'
            for name, behaviour in (("oa-json", "openai-reply"), ("oa-stream", "replay"))
        )
        return text + (
            f'\n[upstreams.o]\nbase_url = "{mock.base_url}/v1"\nprotocol = "openai"\n'
            f'api_key_env = "{API_KEY_ENV}"\n' + models
        )

    return edit


@pytest.mark.parametrize("call_id", ["functions.get_weather:0", "call_0", ""])
@pytest.mark.parametrize("model", ["oa-json", "oa-stream"])
def test_an_anthropic_clients_tool_loop_on_an_openai_model_goes_on(
    tmp_path: Path, mock: AnthropicMock, call_id: str, model: str
) -> None:
    mock.openai_reply, mock.replay_body = reply(call_id), streamed(call_id)

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=with_mock(mock)) as sc,
            sdks(sc) as (
                claude,
                gpt,
            ),
        ):
            messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
            ids = []
            for _ in range(3):  # each turn sends back every earlier call and its result
                if model == "oa-stream":
                    async with claude.messages.stream(
                        model=model, max_tokens=50, messages=messages, tools=TOOLS
                    ) as events:
                        answer = await events.get_final_message()
                else:
                    answer = await claude.messages.create(
                        model=model, max_tokens=50, messages=messages, tools=TOOLS
                    )
                (use,) = [b for b in answer.content if b.type == "tool_use"]
                assert use.input == {"city": "Paris"}
                ids.append(use.id)
                messages += [
                    {"role": "assistant", "content": [b.model_dump() for b in answer.content]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": use.id, "content": "18C"}]},
                ]  # fmt: skip
            assert len(set(ids)) == 3 and all(TOOL_ID_CHARS.issuperset(i) for i in ids), ids
            if call_id:  # the OpenAI client gets the model's own id
                chat = await gpt.chat.completions.create(
                    model="oa-json",
                    messages=[{"role": "user", "content": "Weather in Paris?"}],
                )
                calls = chat.choices[0].message.tool_calls
                assert calls is not None and calls[0].id == call_id

    asyncio.run(main())
