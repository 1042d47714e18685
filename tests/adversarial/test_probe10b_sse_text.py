"""Outside probe (tenth session): upstream answer text that looks like SSE framing.

An answer whose text holds `\\n\\ndata: {...}`, `event: error`, `data: [DONE]`, CR line ends and
a U+2028, streamed from an OpenAI-protocol or an Anthropic-protocol upstream and read by the
openai SDK, the anthropic SDK and the Responses API (relayed or translated), first from the
upstream and then replayed from the response cache: every client sees the literal text and no
event of the text's making.
Found sound (the text only ever travels inside a JSON string); kept as a regression test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _chunk, _delta, _with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

FRAMES = (
    '\n\ndata: {"choices":[{"index":0,"delta":{"content":"INJECTED"},"finish_reason":"stop"}]}'
    '\n\nevent: error\ndata: {"type":"error","error":{"type":"api_error","message":"x"}}'
    "\n\ndata: [DONE]\n\n\r\rdata: {}\r\n\u2028event: message_stop\n"
)
PARTS = ["Hello", FRAMES, " world", FRAMES]
TEXT = "".join(PARTS)


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _stream() -> bytes:
    usage = {"prompt_tokens": 3, "completion_tokens": 8, "total_tokens": 11}
    body = _delta({"role": "assistant", "content": PARTS[0]})
    body += b"".join(_delta({"content": p}) for p in PARTS[1:])
    return body + _delta({}, "stop") + _chunk(choices=[], usage=usage) + b"data: [DONE]\n\n"


def _anthropic_stream() -> bytes:
    """The mock's Anthropic event stream, its text deltas replaced by PARTS."""
    frames = anthropic_mock.stream_frames("m", "text")
    deltas = [i for i, f in enumerate(frames) if f.startswith(b"event: content_block_delta")]
    ours = [
        anthropic_mock.frame(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
        )
        for p in PARTS
    ]
    return b"".join([*frames[: deltas[0]], *ours, *frames[deltas[-1] + 1 :]])


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_answer_text_that_looks_like_events_stays_text(
    tmp_path: Path, mock: AnthropicMock, protocol: str
) -> None:
    mock.replay_body = _stream() if protocol == "openai" else _anthropic_stream()

    async def main() -> None:
        def edit(text: str) -> str:
            return "[cache]\nenabled = true\n" + _with_mock(mock, protocol, "replay")(text)

        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, gpt):
            for round_ in ("miss", "hit"):
                raw = await gpt.chat.completions.with_raw_response.create(
                    model="oa-mock",
                    messages=[{"role": "user", "content": "Say it."}],
                    stream=True,
                )
                assert raw.headers["x-arbiter-cache"] == round_
                text, finishes = "", []
                async for c in raw.parse():
                    if c.choices:
                        text += c.choices[0].delta.content or ""
                        finishes += (
                            [c.choices[0].finish_reason] if c.choices[0].finish_reason else []
                        )
                assert (text, finishes) == (TEXT, ["stop"]), round_

                async with claude.messages.stream(
                    model="oa-mock",
                    max_tokens=100,
                    messages=[{"role": "user", "content": "Say it."}],
                ) as stream:
                    kinds = [e.type async for e in stream]
                    final = await stream.get_final_message()
                assert final.content[0].text == TEXT  # type: ignore[union-attr]
                assert "error" not in kinds and kinds.count("message_stop") == 1

                events = await gpt.responses.create(model="oa-mock", input="Say it.", stream=True)
                deltas, types = "", []
                async for e in events:
                    types.append(e.type)
                    if e.type == "response.output_text.delta":
                        deltas += e.delta
                assert deltas == TEXT and types.count("response.completed") == 1
                assert "error" not in types

    asyncio.run(main())
