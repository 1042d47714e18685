"""Outside probe: the response cache replays an Anthropic answer that ended on one of the
caller's stop sequences. The live answer said stop_reason "stop_sequence" with the string in
`stop_sequence`; a streamed answer was cached from the relay's OpenAI finish word ("stop"), so
every later hit said "end_turn" with stop_sequence null: a client that branches on
stop_reason (Anthropic's documented pattern for delimiter-based extraction) saw the same
question answered two ways. Now the cache keeps the canonical stop reason and sequence of a
streamed answer as it does of a whole one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anthropic.types import Message

from tests import anthropic_mock
from tests.adversarial.test_probe5_stop_sequence import _stream
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks
from tests.test_signals_choices import GPT, completion, with_openai_mock

CACHE_ON = "\n[cache]\nenabled = true\n"
MODEL = "sim-medium"  # served over Anthropic's Messages API below
REQUEST: dict[str, Any] = {
    "model": MODEL, "max_tokens": 200, "stop_sequences": ["e"],
    "messages": [{"role": "user", "content": "Write a sentence about the sea."}],
}  # fmt: skip


@pytest.mark.parametrize("first_streamed", [True, False])
def test_a_cached_stop_sequence_answer_replays_as_stop_sequence(
    tmp_path: Path, first_streamed: bool
) -> None:
    async def ask(claude: Any, stream: bool) -> tuple[Message, str]:
        if not stream:
            raw = await claude.messages.with_raw_response.create(**REQUEST)
            return await raw.parse(), raw.headers["x-arbiter-cache"]
        async with claude.messages.stream(**REQUEST) as events:
            message = await events.get_final_message()
            return message, events.response.headers["x-arbiter-cache"]

    async def main() -> None:
        async with (
            sidecar_in_process(
                tmp_path, edit_config=lambda t: t + CACHE_ON, anthropic_models=[MODEL]
            ) as sc,
            sdks(sc) as (claude, _),
        ):
            live, state = await ask(claude, first_streamed)
            assert state == "miss"
            assert live.stop_reason == "stop_sequence" and live.stop_sequence == "e", live
            await sc.services.cache.drain()
            for stream in (False, True):
                hit, state = await ask(claude, stream)
                assert state == "hit", stream
                assert (hit.stop_reason, hit.stop_sequence) == ("stop_sequence", "e"), (stream, hit)
                assert [b.model_dump()["text"] for b in hit.content] == [
                    b.model_dump()["text"] for b in live.content
                ]

    asyncio.run(main())


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


@pytest.mark.parametrize("first_streamed", [True, False])
def test_a_cached_translated_stop_sequence_answer_replays_as_stop_sequence(
    tmp_path: Path, mock: AnthropicMock, first_streamed: bool
) -> None:
    """The same for an OpenAI-protocol model that names the stop string it stopped on (vLLM's
    `stop_reason`): a whole answer was cached without the caller's stop sequences, so it was
    kept as end_turn though the live answer said stop_sequence."""
    reply = completion({"content": "1, 2, 3"})
    reply["choices"][0]["stop_reason"] = "END"
    mock.openai_reply = reply
    mock.replay_body = _stream("1, 2, 3", {"stop_reason": "END"})
    request: Any = {
        "model": GPT, "max_tokens": 50, "stop_sequences": ["STOP", "END"],
        "messages": [{"role": "user", "content": "Count to three, then say END."}],
    }  # fmt: skip

    def edit(text: str) -> str:
        text = with_openai_mock(mock)(text) + CACHE_ON
        return text.replace('"openai-reply"', '"replay"') if first_streamed else text

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, _):
            if first_streamed:
                async with claude.messages.stream(**request) as events:
                    live = await events.get_final_message()
            else:
                live = await claude.messages.create(**request)
            assert (live.stop_reason, live.stop_sequence) == ("stop_sequence", "END"), live
            await sc.services.cache.drain()
            for stream in (False, True):
                if stream:
                    async with claude.messages.stream(**request) as events:
                        hit = await events.get_final_message()
                        state = events.response.headers["x-arbiter-cache"]
                else:
                    raw = await claude.messages.with_raw_response.create(**request)
                    hit, state = await raw.parse(), raw.headers["x-arbiter-cache"]
                assert state == "hit", stream
                assert (hit.stop_reason, hit.stop_sequence) == ("stop_sequence", "END"), hit

    asyncio.run(main())
