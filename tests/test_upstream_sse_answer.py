"""An upstream that streams though the request did not ask it to (some OpenAI-compatible servers,
proxies in front of Anthropic ones): the SSE body was read as JSON and every such answer was a
502. A complete, well-formed stream is now folded into the one answer (both protocols), read by
the stream path's own classes and limits; a stream that breaks off, holds garbage or an event
over `max_event_bytes` stays an upstream error
(502). Clients are the official SDKs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import pytest

from tests.adversarial.hostile_upstream import fast_failover, response, scripted_upstream
from tests.adversarial.test_probe16b_usage_lies import raw_anthropic_upstream
from tests.inproc import InProcess, raw_openai_upstream, recorded_decision, sidecar_in_process
from tests.sdk_clients import sdks

pytestmark = pytest.mark.timeout(90)

USER: Any = [{"role": "user", "content": "Hi"}]
SSE = b"200 OK\r\ncontent-type: text/event-stream"
NO_TYPE = b"200 OK"  # no content-type at all: the body's first line says it is SSE


def _openai_sse(*, done: bool = True, finish: str | None = "stop") -> bytes:
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    call = {"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":'}}  # fmt: skip
    events = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
        {**base, "choices": [{"index": 0, "delta": {"content": "lo"}}]},
        {**base, "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]},
        {
            **base,
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ' "Paris"}'}}]},
                }
            ],
        },
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
        {**base, "choices": [], "usage": usage},
    ]
    body = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)
    return body + (b"data: [DONE]\n\n" if done else b"")


def _event(data: dict[str, Any]) -> bytes:
    return b"event: " + data["type"].encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _anthropic_sse(*, stop: bool = True) -> bytes:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": 7, "output_tokens": 1}}  # fmt: skip
    events = [
        {"type": "message_start", "message": message},
        {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": "Bonjour"}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": " Paris"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": '{"city": '}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
         "usage": {"output_tokens": 12}},
    ]  # fmt: skip
    if stop:
        events.append({"type": "message_stop"})
    return b"".join(map(_event, events))


async def _served(
    tmp_path: Path,
    edit: Callable[[int], Callable[[str], str]],
    head: bytes,
    body: bytes,
    ask: Callable[[InProcess], Any],
    more_config: str = "",
) -> tuple[Any, list[int]]:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(response(head, body))

    async with scripted_upstream(answer) as (port, calls):
        config = edit(port)
        async with sidecar_in_process(
            tmp_path, edit_config=lambda t: fast_failover(config(t)) + more_config
        ) as sc:
            return await ask(sc), calls


def test_an_openai_stream_answering_a_whole_request_is_folded(tmp_path: Path) -> None:
    async def ask(sc: InProcess) -> tuple[Any, Any, dict[str, Any]]:
        async with sdks(sc) as (claude, gpt):
            raw = await gpt.chat.completions.with_raw_response.create(model="oa-raw", messages=USER)
            chat = raw.parse()
            decision = await recorded_decision(sc, raw.headers["x-arbiter-decision-id"])
            # the same answer translated for an Anthropic client
            message = await claude.messages.create(model="oa-raw", max_tokens=50, messages=USER)
        return chat, message, decision

    for head in (SSE, NO_TYPE):
        (chat, message, decision), _ = asyncio.run(
            _served(tmp_path / str(len(head)), raw_openai_upstream, head, _openai_sse(), ask)
        )
        choice = chat.choices[0]
        assert choice.message.content == "Hello" and choice.finish_reason == "stop"
        (call,) = choice.message.tool_calls or []
        assert call.id == "call_1" and call.function.name == "get_weather"  # type: ignore[union-attr]
        assert orjson.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
        assert chat.usage is not None and chat.usage.completion_tokens == 2
        assert decision["status"] == "ok" and decision["completion_tokens"] == 2, decision
        assert message.content[0].type == "text" and message.content[0].text == "Hello"
        assert message.content[1].type == "tool_use" and message.content[1].input == {
            "city": "Paris"
        }


def test_an_anthropic_stream_answering_a_whole_request_is_folded(tmp_path: Path) -> None:
    async def ask(sc: InProcess) -> tuple[Any, Any]:
        async with sdks(sc) as (claude, gpt):
            message = await claude.messages.create(model="an-raw", max_tokens=50, messages=USER)
            chat = await gpt.chat.completions.create(model="an-raw", messages=USER)
        return message, chat

    (message, chat), _ = asyncio.run(
        _served(tmp_path, raw_anthropic_upstream, SSE, _anthropic_sse(), ask)
    )
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[0].text == "Bonjour Paris"
    assert message.content[1].input == {"city": "Paris"}
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (7, 12)
    assert chat.choices[0].message.content == "Bonjour Paris"
    assert chat.choices[0].finish_reason == "tool_calls"


LONG = b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": {"content": "x" * 5000}}]})


@pytest.mark.parametrize(
    ("protocol", "body", "config"),
    [
        ("openai", _openai_sse(done=False, finish=None), ""),  # broke off: no end, no finish
        ("openai", b"data: {not json}\n\n" + _openai_sse(), ""),
        ("openai", LONG + b"\n\n" + _openai_sse(), "max_event_bytes = 2048\n"),
        ("anthropic", _anthropic_sse(stop=False), ""),  # no message_stop
        ("anthropic", _event({"type": "error", "error": {"type": "api_error"}}), ""),
    ],
)
def test_a_stream_that_is_no_whole_answer_stays_an_upstream_error(
    tmp_path: Path, protocol: str, body: bytes, config: str
) -> None:
    edit = raw_openai_upstream if protocol == "openai" else raw_anthropic_upstream
    name = "raw" if protocol == "openai" else "rawa"

    def limited(port: int) -> Callable[[str], str]:
        inner = edit(port)
        # the upstream's own table: its limits follow its base_url line
        return lambda t: inner(t).replace(f"[upstreams.{name}]\n", f"[upstreams.{name}]\n{config}")

    async def ask(sc: InProcess) -> Exception:
        async with sdks(sc) as (claude, gpt):
            try:
                if protocol == "openai":
                    await gpt.chat.completions.create(model="oa-raw", messages=USER)
                else:
                    await claude.messages.create(model="an-raw", max_tokens=50, messages=USER)
            except (openai.APIStatusError, anthropic.APIStatusError) as err:
                return err
        raise AssertionError("answered")

    err, calls = asyncio.run(_served(tmp_path, limited, SSE, body, ask))
    # an upstream failure: a 502 on both surfaces (Anthropic's as an `api_error`)
    assert err.status_code == 502 and "-raw" in str(err), err  # type: ignore[attr-defined]
    assert calls == [1]
