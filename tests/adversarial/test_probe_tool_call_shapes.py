"""Outside probe: tool calls from OpenAI-compatible upstreams in shapes the official API does
not send but real servers do, read by an Anthropic client (translated).

- Gemini's OpenAI-compatible stream sends parallel tool calls with no `index`, each call whole
  in its own chunk. Every fragment was read as call 0: the second call was appended to the
  first one's block, and the Anthropic client got ONE tool_use (the second call lost).
- Tool calls ended by finish_reason "stop" (OpenAI itself does so for a forced `tool_choice`;
  Gemini always): the Anthropic client got stop_reason "end_turn" next to tool_use blocks, so
  an agent loop that runs tools on stop_reason "tool_use" (Anthropic's documented pattern)
  stopped without running them. Streamed and not."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _chunk, _delta, _with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

TOOLS = [
    {"name": "get_weather", "input_schema": {"type": "object"}},
    {"name": "get_time", "input_schema": {"type": "object"}},
]
CALLS = [("call_a", "get_weather", {"city": "Paris"}), ("call_b", "get_time", {"tz": "UTC"})]
USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _stream(indexed: bool, finish: str) -> bytes:
    calls = b"".join(
        _delta({"tool_calls": [{
            **({"index": i} if indexed else {}), "id": cid, "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }]})
        for i, (cid, name, args) in enumerate(CALLS)
    )  # fmt: skip
    return (
        _delta({"role": "assistant", "content": None}) + calls + _delta({}, finish)
        + _chunk(choices=[], usage=USAGE) + b"data: [DONE]\n\n"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("indexed", "finish"),
    [(False, "tool_calls"), (False, "stop"), (True, "stop")],
    ids=["no-index", "no-index-stop", "stop"],
)
def test_streamed_tool_calls_reach_an_anthropic_client_whole(
    tmp_path: Path, mock: AnthropicMock, indexed: bool, finish: str
) -> None:
    mock.replay_body = _stream(indexed, finish)

    async def main() -> None:
        edit = _with_mock(mock, "openai")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, _):
            async with claude.messages.stream(
                model="oa-mock",
                max_tokens=50,
                tools=TOOLS,  # type: ignore[arg-type]
                messages=[{"role": "user", "content": "Weather and time?"}],
            ) as events:
                message = await events.get_final_message()
            uses = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
            assert [(n, a) for _, n, a in uses] == [(n, a) for _, n, a in CALLS]
            # ids of Anthropic's shape, fresh per call (anthropic_response.tool_use_id)
            assert len({i for i, _, _ in uses}) == 2 and all(
                i.startswith("toolu_") for i, _, _ in uses
            )
            assert message.stop_reason == "tool_use"

    asyncio.run(main())


def test_tool_calls_ended_by_stop_are_tool_use_for_an_anthropic_client(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": "{}"}}
            for cid, name, _ in CALLS
        ],
    }
    mock.openai_reply = {
        "id": "c1", "object": "chat.completion", "created": 1, "model": "m", "usage": USAGE,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }  # fmt: skip

    async def main() -> None:
        edit = _with_mock(mock, "openai", "openai-reply")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, _):
            answer = await claude.messages.create(
                model="oa-mock",
                max_tokens=50,
                tools=TOOLS,  # type: ignore[arg-type]
                messages=[{"role": "user", "content": "Weather and time?"}],
            )
            assert [b.name for b in answer.content if b.type == "tool_use"] == [
                "get_weather",
                "get_time",
            ]
            assert answer.stop_reason == "tool_use"

    asyncio.run(main())


def test_index_less_tool_calls_reach_an_openai_client_numbered(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    """Relayed to an OpenAI client, the fragments get the `index` the SDKs' accumulators need
    (ChatCompletionStreamState raised on them; a plain reader merged both calls into one)."""
    mock.replay_body = _stream(indexed=False, finish="tool_calls")

    async def main() -> None:
        edit = _with_mock(mock, "openai")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (_, gpt):
            stream = await gpt.chat.completions.create(
                model="oa-mock",
                messages=[{"role": "user", "content": "Weather and time?"}],
                tools=[{"type": "function", "function": {"name": n}} for _, n, _ in CALLS],
                stream=True,
            )
            calls: dict[int, list[str]] = {}
            async for chunk in stream:
                for choice in chunk.choices:
                    for call in choice.delta.tool_calls or ():
                        assert call.function is not None
                        got = calls.setdefault(call.index, [call.id or "", "", ""])
                        got[1] += call.function.name or ""
                        got[2] += call.function.arguments or ""
            assert [(i, n, json.loads(a)) for i, n, a in calls.values()] == CALLS

    asyncio.run(main())


def test_tool_calls_without_ids_get_one_for_an_anthropic_client(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    """Some OpenAI-compatible servers send tool calls without `id` (StepFun, Kimi on NVIDIA,
    GLM). Not streamed, the answer failed as malformed (500); streamed, the tool_use had id ""
    (a client cannot answer it). Each call now gets an id of its own."""
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for _, name, args in CALLS
        ],
    }
    mock.openai_reply = {
        "id": "c1", "object": "chat.completion", "created": 1, "model": "m", "usage": USAGE,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
    }  # fmt: skip
    mock.replay_body = _stream(indexed=True, finish="tool_calls").replace(b'"id":"call_', b'"x":"')

    async def main() -> None:
        for upstream_model in ("replay", "openai-reply"):
            edit = _with_mock(mock, "openai", upstream_model)
            async with (
                sidecar_in_process(tmp_path / upstream_model, edit_config=edit) as sc,
                sdks(sc) as (claude, _),
            ):
                ask: dict[str, Any] = {
                    "model": "oa-mock", "max_tokens": 50, "tools": TOOLS,
                    "messages": [{"role": "user", "content": "Weather and time?"}],
                }  # fmt: skip
                if upstream_model == "openai-reply":  # the mock's JSON answer: not streamed
                    answer = await claude.messages.create(**ask)
                else:
                    async with claude.messages.stream(**ask) as events:
                        answer = await events.get_final_message()
                uses = [(b.id, b.name, b.input) for b in answer.content if b.type == "tool_use"]
                assert [(n, a) for _, n, a in uses] == [(n, a) for _, n, a in CALLS]
                ids = [i for i, _, _ in uses]
                assert all(ids) and len(set(ids)) == 2, ids

    asyncio.run(main())
