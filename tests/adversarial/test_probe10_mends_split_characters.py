"""Outside probe (tenth session, mended): an OpenAI-protocol upstream that counts text in
UTF-16 (a JavaScript server) cut an emoji across two stream chunks: one chunk's content ended
in the escape "\\ud83d", the next began with "\\ude00". Each half was refused (a 502, an HTTP
500 on /v1/messages), later read as U+FFFD each: the client got two replacement characters for
one emoji. The halves are now joined (stream_characters.py): the client gets the emoji once,
on chat, Responses and Messages; a half with no partner is U+FFFD."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from arbiter.upstream.stream_characters import SurrogateJoiner
from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import openai_stream_text, sdks
from tests.test_signals_choices import GPT, with_openai_mock

USER = [{"role": "user", "content": "q"}]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _chunk(content: str, finish: str | None = None) -> bytes:
    """A chunk whose content is `content` with "<hi>" / "<lo>" as the bare escapes."""
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish}
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "choices": [choice]}
    raw = orjson.dumps(body).replace(b"<hi>", b"\\ud83d").replace(b"<lo>", b"\\ude00")
    return b"data: " + raw + b"\n\n"


def _replay(mock: AnthropicMock, body: bytes) -> Callable[[str], str]:
    mock.replay_body = body + _chunk("", "stop") + b"data: [DONE]\n\n"
    return lambda config: with_openai_mock(mock)(config).replace('"openai-reply"', '"replay"')


def test_an_emoji_cut_across_chunks_reaches_every_surface_whole(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    body = _chunk("smile <hi>") + _chunk("<lo> done")

    async def main() -> None:
        edit = _replay(mock, body)
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, gpt):
            assert await openai_stream_text(gpt, GPT, USER) == "smile \U0001f600 done"
            async with claude.messages.stream(model=GPT, max_tokens=20, messages=USER) as events:  # type: ignore[arg-type]
                message = await events.get_final_message()
            assert message.content[0].type == "text"
            assert message.content[0].text == "smile \U0001f600 done"
            stream = await gpt.responses.create(model=GPT, input="q", stream=True)
            deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
            assert "".join(deltas) == "smile \U0001f600 done"

    asyncio.run(main())


def test_a_half_with_no_partner_is_a_replacement_character(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    body = _chunk("a<hi>") + _chunk("b <lo>c") + _chunk("<hi>")

    async def main() -> None:
        edit = _replay(mock, body)
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (_, gpt):
            assert await openai_stream_text(gpt, GPT, USER) == "a\ufffdb \ufffdc\ufffd"

    asyncio.run(main())


def test_events_without_escapes_pass_as_they_came() -> None:
    joiner = SurrogateJoiner()
    for raw in (b'{"a": "x"}', b'{"a": "\\ud83d\\ude00"}', b"not json \\ud800"):
        assert joiner.event(raw) is raw
