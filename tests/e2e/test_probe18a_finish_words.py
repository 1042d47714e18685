"""Outside probe (eighteenth session): OpenAI-compatible servers end answers with words of their
own: Together says "eos", Text Generation Inference "eos_token" (and "stop_sequence"), Mistral
"model_length" when the context fills, Gemini's layer has said "MAX_TOKENS". Arbiter read only
OpenAI's five words, so an Anthropic client routed to such a model got a finished answer with
`stop_reason: null` (agent loops branch on it), and the same answer streamed failed mid-way as
"the stream ended without a finish reason". Each word is now read for what it means, streamed
or not; a word that means no finished answer (vLLM's "abort") still fails the stream."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import anthropic
import orjson
import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

QUESTION = [{"role": "user", "content": "Say hi."}]
WORDS = {"eos": "end_turn", "eos_token": "end_turn", "stop_sequence": "end_turn",
         "model_length": "max_tokens", "MAX_TOKENS": "max_tokens", "Stop": "end_turn"}  # fmt: skip
USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def openai_reply(finish: str | None) -> dict[str, object]:
    """A whole OpenAI-compatible answer ending on `finish` (also test_mend18c_finish_words)."""
    message = {"role": "assistant", "content": "Hi there"}
    return {"id": "c1", "object": "chat.completion", "created": 1, "model": "m", "usage": USAGE,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}]}  # fmt: skip


def openai_stream(finish: str) -> bytes:
    """The same answer streamed, its last content chunk followed by `finish`."""

    def chunk(delta: dict[str, str], reason: str | None = None) -> bytes:
        body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}  # fmt: skip
        return b"data: " + orjson.dumps(body) + b"\n\n"

    usage = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [], "usage": USAGE}  # fmt: skip
    return (
        chunk({"role": "assistant", "content": "Hi"}) + chunk({"content": " there"})
        + chunk({}, finish) + b"data: " + orjson.dumps(usage) + b"\n\ndata: [DONE]\n\n"
    )  # fmt: skip


def test_a_servers_own_finish_word_reaches_an_anthropic_client_as_its_stop_reason(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    async def main() -> None:
        whole = _with_mock(mock, "openai", "openai-reply", model="oa-whole")

        def edit(text: str) -> str:  # a second model on the same upstream: streamed answers
            return whole(text) + (
                '[models.oa-streamed]\nupstream = "mockup"\nupstream_model = "replay"\n'
                "price_in_per_mtok = 1.0\nprice_out_per_mtok = 2.0\ncontext_window = 32000\n"
                'capabilities = ["chat", "no-route"]\n'
            )

        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, _):
            for word, reason in WORDS.items():
                mock.openai_reply = openai_reply(word)
                answer = await claude.messages.create(
                    model="oa-whole", max_tokens=20, messages=QUESTION
                )
                assert (answer.stop_reason, answer.content[0].type) == (reason, "text"), word
                mock.replay_body = openai_stream(word)
                async with claude.messages.stream(
                    model="oa-streamed", max_tokens=20, messages=QUESTION
                ) as s:
                    final = await s.get_final_message()
                assert final.stop_reason == reason, word
                assert final.content[0].type == "text" and final.content[0].text == "Hi there"
            mock.replay_body = openai_stream("abort")  # an aborted generation is no finished answer
            with pytest.raises(anthropic.APIStatusError):
                async with claude.messages.stream(
                    model="oa-streamed", max_tokens=20, messages=QUESTION
                ) as s:
                    await s.get_final_message()

    asyncio.run(main())
