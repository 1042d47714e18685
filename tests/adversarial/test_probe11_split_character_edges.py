"""Outside probe (eleventh session): the edges of a character an upstream cut in two across
stream events (stream_characters.py joins "\\ud83d" + "\\ude00").

A first half held back was dropped without trace when the next event had no such string (a
role-only delta, a tool-call delta, a finish, a usage chunk, [DONE], the end or failure of the
stream); it is now U+FFFD in an event of its own, before that next event. Tool-call arguments
are joined too, and with n > 1 each half waits for its own choice. An Anthropic-protocol
upstream's text deltas were relayed split (a client got two lone surrogates, or two U+FFFD);
they go through the same joiner. Bytes that are not UTF-8 reached OpenAI clients as they came;
they are U+FFFD on every surface, and a character split across network reads stays whole."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import pytest

from arbiter.offline.demo import API_KEY_ENV
from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import openai_stream_text, sdks
from tests.test_signals_choices import GPT, with_openai_mock

USER = [{"role": "user", "content": "q"}]
CLAUDE = "claude-replay"
EMOJI = "\U0001f600"


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _escapes(raw: bytes) -> bytes:
    """ "<hi>" / "<lo>" as the bare escapes of an emoji's two halves."""
    return raw.replace(b"<hi>", b"\\ud83d").replace(b"<lo>", b"\\ude00")


def _chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> bytes:
    choice = {"index": index, "delta": delta, "finish_reason": finish}
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [choice]}  # fmt: skip
    return b"data: " + _escapes(orjson.dumps(body)) + b"\n\n"


_USAGE = b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",' + (
    b'"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n'
)
_DONE = b"data: [DONE]\n\n"
_CALL = {"index": 0, "id": "call_1", "type": "function",
         "function": {"name": "f", "arguments": "{}"}}  # fmt: skip

# what follows a chunk whose content ends in a first half (and whether that chunk finishes
# its choice): an event with no content
AFTER_THE_HALF = {
    "role-only delta": (None, _chunk({"role": "assistant"}) + _chunk({}, "stop") + _DONE),
    "tool-call delta": (None, _chunk({"tool_calls": [_CALL]}) + _chunk({}, "tool_calls") + _DONE),
    "finish": (None, _chunk({}, "stop") + _USAGE + _DONE),
    "usage chunk": ("stop", _USAGE + _DONE),
    "[DONE]": ("stop", _DONE),
    "the end (no [DONE])": ("stop", _USAGE),
}


def _openai_replay(mock: AnthropicMock, body: bytes) -> Callable[[str], str]:
    mock.replay_body = body
    return lambda config: with_openai_mock(mock)(config).replace('"openai-reply"', '"replay"')


def _claude_replay(mock: AnthropicMock, body: bytes) -> Callable[[str], str]:
    mock.replay_body = body
    return lambda config: (
        config
        + (
            f'\n[upstreams.claudemock]\nbase_url = "{mock.base_url}"\nprotocol = "anthropic"\n'
            f'api_key_env = "{API_KEY_ENV}"\n\n'
            f'[models.{CLAUDE}]\nupstream = "claudemock"\nupstream_model = "replay"\n'
            "price_in_per_mtok = 0.05\nprice_out_per_mtok = 0.1\ncontext_window = 32000\n"
            'capabilities = ["chat"]\n'
        )
    )


async def _texts_on_every_surface(sc: Any, model: str) -> list[str]:
    """The streamed text as an OpenAI chat client, a Responses client and an Anthropic client
    read it."""
    async with sdks(sc) as (claude, gpt):
        chat = await openai_stream_text(gpt, model, USER)
        stream = await gpt.responses.create(model=model, input="q", stream=True)
        deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
        async with claude.messages.stream(model=model, max_tokens=20, messages=USER) as events:  # type: ignore[arg-type]
            message = await events.get_final_message()
        assert message.content[0].type == "text"
        return [chat, "".join(deltas), message.content[0].text]


@pytest.mark.parametrize("after", sorted(AFTER_THE_HALF))
def test_a_half_followed_by_an_event_without_text_is_a_replacement_character(
    tmp_path: Path, mock: AnthropicMock, after: str
) -> None:
    finish, rest = AFTER_THE_HALF[after]
    body = _chunk({"role": "assistant", "content": "smile <hi>"}, finish) + rest

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_openai_replay(mock, body)) as sc:
            assert await _texts_on_every_surface(sc, GPT) == ["smile \ufffd"] * 3

    asyncio.run(main())


FAILURES = {
    "an error event": b'data: {"error": {"message": "boom", "type": "server_error"}}\n\n',
    "[DONE] before the finish": _DONE,
    "the end before the finish": b"",
    "a chunk that is not JSON": b"data: {nope\n\n",
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_half_before_a_failure_reaches_the_client_before_the_error(
    tmp_path: Path, mock: AnthropicMock, failure: str
) -> None:
    body = _chunk({"role": "assistant", "content": "smile <hi>"}) + FAILURES[failure]

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=_openai_replay(mock, body)) as sc,
            sdks(sc) as (_, gpt),
        ):
            stream = await gpt.chat.completions.create(model=GPT, messages=USER, stream=True)  # type: ignore[arg-type]
            text = ""
            with pytest.raises(openai.APIError):
                async for chunk in stream:
                    text += (chunk.choices[0].delta.content or "") if chunk.choices else ""
            assert text == "smile \ufffd"

    asyncio.run(main())


def test_tool_call_arguments_cut_in_a_character_are_joined_or_replaced(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    def call(index: int, arguments: str, **more: Any) -> bytes:
        return _chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments},
                                        **more}]})  # fmt: skip

    body = (
        call(0, '{"a": "x<hi>', id="call_1", type="function")
        + call(0, '<lo>y"}')
        + call(1, '{"b": "<hi>', id="call_2", type="function")
        + call(1, '"}')
        + call(2, '{"c": "<hi>', id="call_3", type="function")
        + _chunk({}, "tool_calls")
        + _DONE
    )

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=_openai_replay(mock, body)) as sc,
            sdks(sc) as (_, gpt),
        ):
            stream = await gpt.chat.completions.create(model=GPT, messages=USER, stream=True)  # type: ignore[arg-type]
            arguments = ["", "", ""]
            async for chunk in stream:
                for c in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                    arguments[c.index] += (c.function.arguments or "") if c.function else ""
            assert arguments == ['{"a": "x' + EMOJI + 'y"}', '{"b": "\ufffd"}', '{"c": "\ufffd']

    asyncio.run(main())


def test_with_several_choices_each_half_waits_for_its_own_choice(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    body = (
        _chunk({"content": "a<hi>"}, index=0)
        + _chunk({"content": "b<hi>"}, index=1)
        + _chunk({"content": "c"}, index=1)
        + _chunk({"content": "<lo>d"}, index=0)
        + _chunk({"content": "e<hi>"}, index=1)
        + _chunk({}, "stop", index=0)
        + _chunk({}, "stop", index=1)
        + _DONE
    )

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=_openai_replay(mock, body)) as sc,
            sdks(sc) as (_, gpt),
        ):
            stream = await gpt.chat.completions.create(model=GPT, messages=USER, stream=True, n=2)  # type: ignore[arg-type]
            texts = ["", ""]
            async for chunk in stream:
                for c in chunk.choices:
                    texts[c.index] += c.delta.content or ""
            assert texts == ["a" + EMOJI + "d", "b\ufffdce\ufffd"]

    asyncio.run(main())


def _text_frames(*texts: str, after: bytes = b"") -> bytes:
    frames = [anthropic_mock.frame("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "replay", "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1}}})]  # fmt: skip
    frames.append(anthropic_mock.frame("content_block_start", {"type": "content_block_start",
        "index": 0, "content_block": {"type": "text", "text": ""}}))  # fmt: skip
    for text in texts:
        delta = {"type": "content_block_delta", "index": 0,
                 "delta": {"type": "text_delta", "text": text}}  # fmt: skip
        frames.append(anthropic_mock.frame("content_block_delta", delta))
    return _escapes(b"".join(frames)) + after


_ANTHROPIC_END = b"".join(
    anthropic_mock.frame(kind, data)
    for kind, data in (
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 4},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    )
)


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (("smile <hi>", "<lo> done"), "smile " + EMOJI + " done"),
        (("smile <hi>",), "smile \ufffd"),  # content_block_stop next: no partner
        (("a<hi>", "b"), "a\ufffdb"),
    ],
)
def test_an_anthropic_upstream_s_halves_are_joined_on_every_surface(
    tmp_path: Path, mock: AnthropicMock, texts: tuple[str, ...], expected: str
) -> None:
    body = _text_frames(*texts, after=_ANTHROPIC_END)

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_claude_replay(mock, body)) as sc:
            assert await _texts_on_every_surface(sc, CLAUDE) == [expected] * 3

    asyncio.run(main())


def test_bytes_that_are_not_utf8_are_replacement_characters_on_every_surface(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    bad = _chunk({"role": "assistant", "content": "caf@ x"}).replace(b"@", b"\xe9")  # latin-1
    truncated = _chunk({"content": " y@"}).replace(b"@", b"\xf0\x9f\x98")  # 3 of 4 bytes
    body = bad + truncated + _chunk({}, "stop") + _DONE

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_openai_replay(mock, body)) as sc:
            assert await _texts_on_every_surface(sc, GPT) == ["caf\ufffd x y\ufffd"] * 3

    asyncio.run(main())


def _byte_chunks(*contents: bytes) -> bytes:
    """Chunks whose content is `contents`, bytes as they are (not JSON escapes): "@" marks
    where they go, so the JSON around them is written by orjson."""
    return b"".join(_chunk({"content": "@"}).replace(b"@", content) for content in contents)


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        ((b"smile \xf0\x9f", b"\x98\x80 done"), f"smile {EMOJI} done"),
        ((b"a\xf0", b"\x9f", b"\x98", b"\x80b"), f"a{EMOJI}b"),  # one byte an event
        ((b"caf\xc3", b"\xa9"), "café"),
        ((b"a\xf0\x9f", b"b"), "a\ufffdb"),  # the rest never came
        ((b"a\xe2\x82",), "a\ufffd"),  # the finish came next
    ],
)
def test_a_character_whose_bytes_two_events_carry_is_whole(
    tmp_path: Path, mock: AnthropicMock, pieces: tuple[bytes, ...], expected: str
) -> None:
    """A server that cuts text by bytes (as UTF-16 servers cut surrogate pairs) sends a
    character's first bytes at the end of one event's string and the rest in the next: each
    event alone is not UTF-8, the stream is."""
    body = _byte_chunks(*pieces) + _chunk({}, "stop") + _DONE

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_openai_replay(mock, body)) as sc:
            assert await _texts_on_every_surface(sc, GPT) == [expected] * 3

    asyncio.run(main())


def test_an_anthropic_upstream_s_bad_bytes_are_replacement_characters(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    body = _text_frames("caf@ au lait", after=_ANTHROPIC_END).replace(b"@", b"\xe9")

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_claude_replay(mock, body)) as sc:
            assert await _texts_on_every_surface(sc, CLAUDE) == ["caf\ufffd au lait"] * 3

    asyncio.run(main())


def test_a_character_split_across_network_reads_stays_whole(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    whole = _chunk({"role": "assistant", "content": "smile " + EMOJI + " é"})
    emoji, accent = whole.index(EMOJI.encode()), whole.index("é".encode())
    escape = _chunk({"content": " <hi><lo>"})
    halves = escape.index(b"\\ude00")
    rest = _chunk({}, "stop") + _DONE
    # cut inside the emoji's four bytes, inside "é"'s two, and inside the escape pair's text
    mock.replay_pieces = [
        whole[: emoji + 2],
        whole[emoji + 2 : accent + 1],
        whole[accent + 1 :] + escape[: halves + 3],
        escape[halves + 3 :] + rest,
    ]

    def edit(config: str) -> str:
        return with_openai_mock(mock)(config).replace('"openai-reply"', '"replay-pieces"')

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            assert await _texts_on_every_surface(sc, GPT) == [f"smile {EMOJI} é {EMOJI}"] * 3

    asyncio.run(main())


def test_a_deep_answer_needing_its_characters_mended_is_refused_cleanly(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    """A lone surrogate sends an answer to Python's parser (lenient_json); one 900 levels deep
    (orjson reads 1,024) made the mending recurse past the interpreter's limit: a
    RecursionError, an HTTP 500. Past json_depth's bound it is a malformed answer (502)."""
    deep = "[" * 900 + "]" * 900
    answer = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
              "choices": [{"index": 0, "finish_reason": "stop",
                           "message": {"role": "assistant", "content": "caf\ud800"}}]}  # fmt: skip
    mock.openai_reply = answer | {"deep": orjson.loads(deep)}

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=with_openai_mock(mock)) as sc,
            sdks(sc) as (_, gpt),
        ):
            with pytest.raises(openai.APIStatusError) as caught:
                await gpt.chat.completions.create(model=GPT, messages=USER)  # type: ignore[arg-type]
            assert caught.value.status_code == 502

    asyncio.run(main())


@pytest.mark.parametrize(
    "failure",
    [
        anthropic_mock.frame(
            "error", {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
        ),
        b"event: content_block_delta\ndata: {nope\n\n",
        b"",  # the body ends
    ],
    ids=["error event", "event that is not JSON", "end of the body"],
)
def test_an_anthropic_upstream_s_half_before_a_failure_reaches_the_client_first(
    tmp_path: Path, mock: AnthropicMock, failure: bytes
) -> None:
    body = _text_frames("smile <hi>", after=failure)

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=_claude_replay(mock, body)) as sc,
            sdks(sc) as (claude, _),
        ):
            text = ""
            with pytest.raises(anthropic.APIError):
                async with claude.messages.stream(
                    model=CLAUDE,
                    max_tokens=20,
                    messages=USER,  # type: ignore[arg-type]
                ) as events:
                    async for event in events:
                        if event.type == "content_block_delta" and event.delta.type == "text_delta":
                            text += event.delta.text
            assert text == "smile \ufffd"

    asyncio.run(main())
