"""Outside probe (tenth session): an upstream answer whose JSON holds a character orjson will
not read: a UTF-16 surrogate escape without its pair ("\\ud800", which Python's json.dumps
writes for a string holding half a character, and some servers emit when a model cuts one in
two), or bytes that are not UTF-8.

The whole answer was "malformed answer from upstream" (a 502): retried (each try billed),
failed over, and counted against the model's circuit, so a model that kept emitting one such
character was soon closed to every client. A streamed answer whose first chunk held one failed
the same way. Such characters are now read as U+FFFD (lenient_json.py) and the answer is
served once; JSON that is broken otherwise is still malformed."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from arbiter.upstream import lenient_json
from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks
from tests.test_signals_choices import GPT, completion, text, with_openai_mock

USER = [{"role": "user", "content": "q"}]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _calls(mock: AnthropicMock) -> int:
    return len(mock.requests)


def test_a_lone_surrogate_in_an_answer_is_served_once(tmp_path: Path, mock: AnthropicMock) -> None:
    mock.openai_reply = completion(text("caf\ud800 au lait"))  # json.dumps writes "\ud800"

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=with_openai_mock(mock)) as sc,
            sdks(sc) as (claude, gpt),
        ):
            before = _calls(mock)
            done = await gpt.chat.completions.create(model=GPT, messages=USER)  # type: ignore[arg-type]
            assert done.choices[0].message.content == "caf\ufffd au lait"
            message = await claude.messages.create(model=GPT, max_tokens=20, messages=USER)  # type: ignore[arg-type]
            assert message.content[0].type == "text"
            assert message.content[0].text == "caf\ufffd au lait"
            assert _calls(mock) == before + 2  # once each: never retried
            assert sc.services.breaker.state().get(GPT, {}).get("consecutive_failures", 0) == 0

    asyncio.run(main())


def _chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
    return b"data: " + orjson.dumps(body) + b"\n\n"


def test_a_stream_opening_with_a_bad_character_is_served(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    first = _chunk({"role": "assistant", "content": "caf@ au"}).replace(b"@", b"\\ud800")
    second = _chunk({"content": " lait @"}).replace(b"@", b"\xe9")  # latin-1: not UTF-8
    usage = b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",' + (
        b'"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n'
    )
    mock.replay_body = first + second + _chunk({}, "stop") + usage + b"data: [DONE]\n\n"

    def replay(config: str) -> str:
        return with_openai_mock(mock)(config).replace('"openai-reply"', '"replay"')

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=replay) as sc, sdks(sc) as (claude, _):
            before = _calls(mock)
            async with claude.messages.stream(model=GPT, max_tokens=20, messages=USER) as events:  # type: ignore[arg-type]
                message = await events.get_final_message()
            assert message.content[0].type == "text"
            assert message.content[0].text == "caf\ufffd au lait \ufffd"
            assert message.usage.output_tokens == 4
            assert _calls(mock) == before + 1

    asyncio.run(main())


def test_only_character_problems_are_forgiven() -> None:
    assert lenient_json.loads(b'{"a": "x\\ud800", "\\udc00": [1]}') == {
        "a": "x\ufffd",
        "\ufffd": [1],
    }
    assert lenient_json.loads(b'{"a": "caf\xe9"}') == {"a": "caf\ufffd"}
    # a non-finite number is read too (test_lenient_json_non_finite.py), with its characters
    assert lenient_json.loads(b'{"a": Infinity, "b": "\\ud800"}') == {"a": math.inf, "b": "\ufffd"}
    for broken in (b'{"a": NaN, "b": "\\ud800"', b'{"a": "\\ud800"', b"[1,]", b""):
        with pytest.raises(orjson.JSONDecodeError):
            lenient_json.loads(broken)
