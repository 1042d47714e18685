"""Outside probe: an Anthropic client that sets `stop_sequences`, answered by an OpenAI-protocol
model (translated), read with the anthropic SDK. The upstream's finish_reason "stop" became
stop_reason "end_turn" with stop_sequence null even when the upstream told which stop string
ended the answer, so a client that branches on stop_reason "stop_sequence" (Anthropic's
documented pattern for delimiter-based extraction) never saw it. Now, streamed and not:

- vLLM names the matched string in `choices[0].stop_reason` (SGLang in `matched_stop`), and a
  server that keeps the stop string in the text ends the text with it: stop_reason
  "stop_sequence" with `stop_sequence` set to that string;
- OpenAI itself drops the stop string and says "stop" for a natural end too: which one ended
  the answer cannot be told, and it stays "end_turn" (openai_response.matched_stop)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anthropic.types import Message

from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _chunk
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks
from tests.test_signals_choices import GPT, completion, with_openai_mock

STOPS = ["STOP", "END"]
# case: (the upstream's text, the choice's extra fields, the stop_sequence expected)
CASES: dict[str, tuple[str, dict[str, Any], str | None]] = {
    "vllm-names-it": ("1, 2, 3", {"stop_reason": "END"}, "END"),
    "sglang-names-it": ("1, 2, 3", {"matched_stop": "STOP"}, "STOP"),
    "kept-in-the-text": ("1, 2, 3 END", {}, "END"),
    "openai-cannot-tell": ("1, 2, 3", {}, None),
    "vllm-eos": ("1, 2, 3", {"stop_reason": None}, None),
    "another-string": ("1, 2, 3", {"stop_reason": "###"}, None),  # not one the caller set
}


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _stream(text: str, extra: dict[str, Any]) -> bytes:
    half = len(text) // 2
    return (
        b"".join(
            _chunk(choices=[{"index": 0, "delta": {"content": t}, "finish_reason": None}])
            for t in (text[:half], text[half:])
        )
        + _chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop", **extra}])
        + _chunk(choices=[], usage={"prompt_tokens": 3, "completion_tokens": 2})
        + b"data: [DONE]\n\n"
    )


@pytest.mark.parametrize("case", list(CASES))
def test_an_openai_stop_on_a_stop_sequence_is_stop_sequence_for_an_anthropic_client(
    tmp_path: Path, mock: AnthropicMock, case: str
) -> None:
    text, extra, expected = CASES[case]
    reply = completion({"content": text})
    reply["choices"][0].update(extra)
    mock.openai_reply = reply
    mock.replay_body = _stream(text, extra)
    request: Any = {
        "model": GPT, "max_tokens": 50, "stop_sequences": STOPS,
        "messages": [{"role": "user", "content": "Count to three, then say END."}],
    }  # fmt: skip

    def replay(config: str) -> str:
        return with_openai_mock(mock)(config).replace('"openai-reply"', '"replay"')

    async def ask(name: str, stream: bool) -> Message:
        edit = replay if stream else with_openai_mock(mock)
        async with sidecar_in_process(tmp_path / name, edit_config=edit) as sc, sdks(sc) as sdk:
            if not stream:
                return await sdk[0].messages.create(**request)
            async with sdk[0].messages.stream(**request) as events:
                return await events.get_final_message()

    async def main() -> None:
        for stream in (False, True):
            message = await ask(f"stream-{stream}", stream)
            assert message.stop_sequence == expected, (stream, message)
            assert message.stop_reason == ("end_turn" if expected is None else "stop_sequence")
            assert "".join(b.text for b in message.content if b.type == "text") == text

    asyncio.run(main())
