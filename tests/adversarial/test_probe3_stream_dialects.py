"""Outside probe, third pass: upstream stream dialects Arbiter still misread.

- An upstream that ignores `stream: true` and answers with one `application/json` body (several
  OpenAI-compatible servers and proxies do) failed the request: 502 "stream ended before any
  content", though the answer was there. It is now relayed as a stream in the client's protocol
  (OpenAI chunks or Anthropic events), with usage, and recorded and priced once. A JSON *error*
  body on a stream stays an error.
- An Anthropic-protocol upstream's text delta with no content_block_start before it lost its text
  on the way to an OpenAI client (the decoder knew no block at that index); the block is now
  opened implicitly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from arbiter.upstream import whole_answer
from tests import anthropic_mock
from tests import test_failover_anthropic as failover
from tests.adversarial.test_probe_upstream_sse import _with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import openai_stream_text, sdks
from tests.waiting import until_async

USER = [{"role": "user", "content": "Say hi."}]
PRICE_IN, PRICE_OUT = 1.0, 2.0  # per million tokens
CHAT_REPLY = {
    "id": "chatcmpl-9", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there."},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 7000, "completion_tokens": 3000, "total_tokens": 10000},
}  # fmt: skip
CHAT_COST = (7000 * PRICE_IN + 3000 * PRICE_OUT) / 1e6


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def with_mock(mock: AnthropicMock, protocol: str, behaviour: str) -> Any:
    """`up-mock`: a model on the mock (`behaviour` picks its answer), over `protocol`."""
    return _with_mock(mock, protocol, behaviour, model="up-mock", prices=(PRICE_IN, PRICE_OUT))


async def decision(sc: InProcess, decision_id: str) -> dict[str, Any]:
    """The request's decision once recorded (the recorder writes it off the request path)."""
    found: list[dict[str, Any]] = []

    async def recorded() -> bool:
        r = await sc.client.get(f"/arbiter/decisions/{decision_id}", headers=sc.admin)
        if r.status_code == 200:
            found.append(dict(orjson.loads(r.content)))
        return bool(found)

    await until_async(recorded, f"decision {decision_id} was never recorded")
    return found[0]


def sse_payloads(text: str) -> list[Any]:
    return [
        json.loads(line[6:])
        for line in text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def test_a_json_answer_to_a_stream_reaches_an_openai_client_as_a_stream(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    mock.openai_reply = CHAT_REPLY

    async def main() -> None:
        edit = with_mock(mock, "openai", "openai-reply")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            body = {
                "model": "up-mock", "messages": USER, "stream": True,
                "stream_options": {"include_usage": True},
            }  # fmt: skip
            r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.text.rstrip().endswith("data: [DONE]")
            chunks = sse_payloads(r.text)
            text = "".join(
                c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
            )
            assert text == "Hi there."
            assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
            assert chunks[-1]["usage"]["completion_tokens"] == 3000
            # recorded and priced once, at the answer's usage
            d = await decision(sc, r.headers["x-arbiter-decision-id"])
            assert (d["prompt_tokens"], d["completion_tokens"]) == (7000, 3000)
            assert d["cost_usd"] == pytest.approx(CHAT_COST)

    asyncio.run(main())


def test_a_json_answer_to_a_stream_reaches_sdk_clients_of_both_protocols(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    mock.openai_reply = CHAT_REPLY

    async def main() -> None:
        edit = with_mock(mock, "openai", "openai-reply")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, gpt):
            text = await openai_stream_text(gpt, "up-mock", USER)
            assert text == "Hi there."
            async with claude.messages.stream(
                model="up-mock",
                max_tokens=4096,  # room for the 3,000 the upstream counts: a count past the
                messages=USER,  # type: ignore[arg-type]
            ) as events:  # limit is no count, and the client then reads the billed one
                message = await events.get_final_message()
            assert [b.text for b in message.content if b.type == "text"] == ["Hi there."]
            assert message.usage.output_tokens == 3000
            assert message.stop_reason == "end_turn"

    asyncio.run(main())


def test_a_json_answer_of_an_anthropic_upstream_is_streamed_with_its_tool_call(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    mock.openai_reply = anthropic_mock.message("m", "tool")  # text, then a tool_use

    async def main() -> None:
        edit = with_mock(mock, "anthropic", "openai-reply")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, gpt):
            stream = await gpt.chat.completions.create(
                model="up-mock",
                messages=USER,  # type: ignore[arg-type]
                stream=True,
            )
            text, args, finish = "", "", None
            async for chunk in stream:
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                text += delta.content or ""
                for call in delta.tool_calls or ():
                    args += (call.function.arguments or "") if call.function else ""
                finish = chunk.choices[0].finish_reason or finish
            assert text == "Let me check."
            assert json.loads(args) == anthropic_mock.TOOL_INPUT
            assert finish == "tool_calls"
            async with claude.messages.stream(
                model="up-mock",
                max_tokens=10,
                messages=USER,  # type: ignore[arg-type]
            ) as events:
                message = await events.get_final_message()
            assert [b.type for b in message.content] == ["text", "tool_use"]
            assert message.content[1].input == anthropic_mock.TOOL_INPUT  # type: ignore[union-attr]
            assert message.usage.output_tokens == anthropic_mock.USAGE["output_tokens"]

    asyncio.run(main())


def test_a_json_answer_to_a_legacy_completions_stream_is_streamed(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    mock.openai_reply = {
        "id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "text": "Once upon", "logprobs": None, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
    }  # fmt: skip

    async def main() -> None:
        edit = with_mock(mock, "openai", "openai-reply")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            body = {"model": "up-mock", "prompt": "Tell me", "stream": True, "max_tokens": 2}
            r = await sc.client.post("/v1/completions", json=body, headers=sc.auth)
            assert r.status_code == 200, r.text
            assert r.text.rstrip().endswith("data: [DONE]")
            chunks = sse_payloads(r.text)
            assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == "Once upon"

    asyncio.run(main())


@pytest.mark.parametrize(
    ("protocol", "reply"),
    [
        pytest.param(
            "openai", {"error": {"message": "sk-secret at 10.0.0.7", "code": "server_busy"}},
            id="openai-error-body",
        ),
        pytest.param(
            "anthropic",
            {"type": "error", "error": {"type": "overloaded_error", "message": "sk-secret"}},
            id="anthropic-error-body",
        ),
        pytest.param("openai", {"unexpected": True}, id="openai-not-an-answer"),
    ],
)  # fmt: skip
def test_a_json_error_body_on_a_stream_stays_an_error(
    tmp_path: Path, mock: AnthropicMock, protocol: str, reply: dict[str, Any]
) -> None:
    mock.openai_reply = reply

    async def main() -> None:
        edit = with_mock(mock, protocol, "openai-reply")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (_, gpt):
            with pytest.raises(openai.APIStatusError) as caught:
                await gpt.chat.completions.create(
                    model="up-mock",
                    messages=USER,  # type: ignore[arg-type]
                    stream=True,
                )
            assert caught.value.status_code >= 500
            assert "sk-secret" not in str(caught.value.body)

    asyncio.run(main())


def _frame(kind: str, data: dict[str, Any]) -> bytes:
    return anthropic_mock.frame(kind, {"type": kind, **data})


def test_an_anthropic_text_delta_without_its_block_start_keeps_its_text(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    start = {**anthropic_mock.message("m", "text"), "content": [], "stop_reason": None}
    delta = {"type": "text_delta", "text": "Hello"}
    stop = {"stop_reason": "end_turn", "stop_sequence": None}
    mock.replay_body = b"".join([
        _frame("message_start", {"message": start}),
        _frame("content_block_delta", {"index": 0, "delta": delta}),  # no content_block_start
        _frame("content_block_stop", {"index": 0}),
        _frame("message_delta", {"delta": stop, "usage": {"output_tokens": 1}}),
        _frame("message_stop", {}),
    ])  # fmt: skip

    async def main() -> None:
        edit = with_mock(mock, "anthropic", "replay")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (_, gpt):
            text = await openai_stream_text(gpt, "up-mock", USER)
            assert text == "Hello"

    asyncio.run(main())


def test_a_long_json_answer_is_streamed_in_events_no_longer_than_the_event_limit() -> None:
    """The whole answer goes out in pieces: a text longer than `max_event_bytes` does not make
    an event the stream reader refuses as too long."""
    limit = 2048
    text = 'é"' * 3000  # escapes and multi-byte characters: more bytes than characters
    reply = {**CHAT_REPLY, "choices": [{**CHAT_REPLY["choices"][0], "message": {  # type: ignore[dict-item]
        "role": "assistant", "content": text}}]}  # fmt: skip
    sse = whole_answer.openai_events(orjson.dumps(reply), "m", whole_answer.piece_chars(limit))
    assert max(map(len, sse.split(b"\n"))) <= limit
    chunks = sse_payloads(sse.decode())
    assert (
        "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        == text
    )
    message = {**anthropic_mock.message("m", "text"), "content": [{"type": "text", "text": text}]}
    sse = whole_answer.anthropic_events(orjson.dumps(message), "m", whole_answer.piece_chars(limit))
    assert max(map(len, sse.split(b"\n"))) <= limit
    deltas = [p["delta"] for p in sse_payloads(sse.decode()) if p["type"] == "content_block_delta"]
    assert "".join(d["text"] for d in deltas) == text


def test_a_json_error_body_on_a_stream_fails_over_and_a_json_answer_is_served(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    """Routed: the preferred Anthropic model answers the stream with an overloaded_error body
    (the stream fails over to the fallback, the attempt classified as for an error event);
    then with a whole message (served by it, as a stream)."""

    async def main() -> None:
        edit = failover.config_with_mock(mock, "openai-reply")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            mock.openai_reply = {
                "type": "error", "error": {"type": "overloaded_error", "message": "busy"},
            }  # fmt: skip
            r = await failover.call(sc, "openai", True)
            assert r.status_code == 200, r.text
            assert r.headers["x-arbiter-model"] == failover.FALLBACK
            tried, _ = await failover.attempts(sc, r)
            first = tried[0]
            assert (first["model"], first["error"]) == (failover.CLAUDE, "upstream_unavailable")
            # the failure above counted against its circuit: not what the rest checks
            sc.services.breaker.success(failover.CLAUDE)
            mock.openai_reply = anthropic_mock.message("m", "text")
            for surface in ("openai", "anthropic"):
                r = await failover.call(sc, surface, True)
                assert r.status_code == 200, r.text
                assert r.headers["x-arbiter-model"] == failover.CLAUDE
                failover.check_complete(surface, True, r.content)

    asyncio.run(main())
