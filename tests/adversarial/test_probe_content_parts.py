"""Outside probe: an OpenAI-compatible upstream whose answer `content` is a list of parts, as
Mistral's reasoning models send it (`[{"type": "thinking", ...}, {"type": "text", ...}]`, whole
or per streamed delta). Not streamed, the answer failed as malformed (502 to an OpenAI client,
500 to an Anthropic one) although the upstream answered (and billed); streamed, every list
delta was dropped, so an Anthropic client got "lo" for "Hello". Now the text parts are the
answer's text (the thinking is not), for every client; an OpenAI client still gets the
upstream's body as it came."""

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

THINKING = {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}
USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
USER = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def test_a_non_streamed_answer_in_parts_is_read(tmp_path: Path, mock: AnthropicMock) -> None:
    content = [THINKING, {"type": "text", "text": "Hello"}]
    mock.openai_reply = {
        "id": "c1", "object": "chat.completion", "created": 1, "model": "m", "usage": USAGE,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
    }  # fmt: skip

    async def main() -> None:
        edit = _with_mock(mock, "openai", "openai-reply")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, gpt):
            message = await claude.messages.create(
                model="oa-mock",
                max_tokens=20,
                messages=USER,  # type: ignore[arg-type]
            )
            assert [(b.type, getattr(b, "text", None)) for b in message.content] == [
                ("text", "Hello")
            ]
            answer = await gpt.chat.completions.create(
                model="oa-mock",
                messages=USER,  # type: ignore[arg-type]
            )
            assert answer.choices[0].message.content == content  # as the upstream sent it
            r = await sc.client.post(
                "/v1/responses", json={"model": "oa-mock", "input": "Say hello."}, headers=sc.auth
            )
            assert r.status_code == 200, r.text
            assert r.json()["output"][0]["content"][0]["text"] == "Hello"

    asyncio.run(main())


def test_streamed_deltas_in_parts_are_read(tmp_path: Path, mock: AnthropicMock) -> None:
    mock.replay_body = (
        _delta({"role": "assistant", "content": ""}) + _delta({"content": [THINKING]})
        + _delta({"content": [{"type": "text", "text": "Hel"}]}) + _delta({"content": "lo"})
        + _delta({}, "stop") + _chunk(choices=[], usage=USAGE) + b"data: [DONE]\n\n"
    )  # fmt: skip

    async def main() -> None:
        edit = _with_mock(mock, "openai")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, _):
            async with claude.messages.stream(
                model="oa-mock",
                max_tokens=20,
                messages=USER,  # type: ignore[arg-type]
            ) as events:
                message = await events.get_final_message()
            assert [getattr(b, "text", None) for b in message.content] == ["Hello"]

    asyncio.run(main())
