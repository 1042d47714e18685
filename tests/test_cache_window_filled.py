"""An answer that stopped because the model's context window filled is not kept by the cache.

Mistral's finish word `model_length` and Anthropic's `model_context_window_exceeded` are read as
`max_tokens` (a client of the other protocol is told `length` / `max_tokens`; one of the same
protocol gets the upstream's word, as before); with the client's own
`max_tokens` set, such an answer was stored as if cut at that limit and served again, though
another model (or the same one with room) answers whole. Official SDKs, a scripted 127.0.0.1
upstream that counts its calls, whole answers and streams, both upstream protocols; the
control (`length`, `max_tokens`: cut at the client's limit) is kept."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.adversarial.hostile_upstream import fast_failover, response, scripted_upstream
from tests.inproc import raw_anthropic_upstream, raw_openai_upstream, sidecar_in_process
from tests.sdk_clients import sdks

pytestmark = pytest.mark.timeout(60)

TEXT = "The tide rises and falls"
USAGE = {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}
MESSAGES = [{"role": "user", "content": "Describe the tides at length."}]


def _openai(finish: str, stream: bool) -> bytes:
    base = {"id": "c1", "created": 7, "model": "m"}
    if not stream:
        return orjson.dumps({**base, "object": "chat.completion", "usage": USAGE, "choices": [
            {"index": 0, "finish_reason": finish,
             "message": {"role": "assistant", "content": TEXT}}]})  # fmt: skip
    chunks = [
        {**base, "object": "chat.completion.chunk",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": TEXT}}]},
        {**base, "object": "chat.completion.chunk",
         "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
        {**base, "object": "chat.completion.chunk", "choices": [], "usage": USAGE},
    ]  # fmt: skip
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def _anthropic(stop: str, stream: bool) -> bytes:
    message: dict[str, Any] = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "stop_sequence": None, "usage": {"input_tokens": 9, "output_tokens": 12},
    }  # fmt: skip
    if not stream:
        return orjson.dumps({**message, "content": [{"type": "text", "text": TEXT}],
                             "stop_reason": stop})  # fmt: skip
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start",
                           "message": {**message, "content": [], "stop_reason": None}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": TEXT}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop},
                           "usage": {"output_tokens": 12}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return b"".join(
        b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
        for name, data in events
    )


async def _twice(
    tmp_path: Path, protocol: str, client: str, word: str, stream: bool
) -> tuple[str, str, int]:
    """The request (streamed or not) from an SDK of `client`'s protocol to a model of
    `protocol`, then the same one whole: what the client was told the first time, the
    second's x-arbiter-cache, and the upstream's call count."""
    payload = _openai(word, stream) if protocol == "openai" else _anthropic(word, stream)
    kind = b"text/event-stream" if stream else b"application/json"

    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(response(b"200 OK\r\ncontent-type: " + kind, payload))

    async with scripted_upstream(answer) as (port, calls):
        raw = raw_openai_upstream(port) if protocol == "openai" else raw_anthropic_upstream(port)
        edit = lambda t: fast_failover(raw(t)) + "\n[cache]\nenabled = true\n"  # noqa: E731
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, gpt):
            model = "oa-raw" if protocol == "openai" else "an-raw"
            ask: dict[str, Any] = {"model": model, "messages": MESSAGES, "max_tokens": 12}
            if client == "openai":
                if stream:
                    s = await gpt.chat.completions.create(**ask, stream=True)
                    told = [c.choices[0].finish_reason async for c in s if c.choices][-1]
                else:
                    told = (await gpt.chat.completions.create(**ask)).choices[0].finish_reason
                await sc.services.cache.drain()
                again = await gpt.chat.completions.with_raw_response.create(**ask)
            else:
                if stream:
                    async with claude.messages.stream(**ask) as s:
                        told = (await s.get_final_message()).stop_reason
                else:
                    told = (await claude.messages.create(**ask)).stop_reason
                await sc.services.cache.drain()
                again = await claude.messages.with_raw_response.create(**ask)
            return str(told), again.headers["x-arbiter-cache"], calls[0]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(
    ("protocol", "client", "word", "told", "kept"),
    [
        # Mistral: the context window filled (relayed as said to an OpenAI client)
        ("openai", "openai", "model_length", "model_length", False),
        ("openai", "anthropic", "model_length", "max_tokens", False),  # translated
        ("openai", "openai", "length", "length", True),  # control: the client's max_tokens
        (
            "anthropic",
            "anthropic",
            "model_context_window_exceeded",
            "model_context_window_exceeded",
            False,
        ),
        ("anthropic", "openai", "model_context_window_exceeded", "length", False),
        ("anthropic", "anthropic", "max_tokens", "max_tokens", True),  # control
    ],
)
def test_an_answer_cut_by_a_full_context_window_is_not_cached(
    tmp_path: Path, protocol: str, client: str, word: str, told: str, kept: bool, stream: bool
) -> None:
    first, again, calls = asyncio.run(_twice(tmp_path, protocol, client, word, stream))
    assert first == told  # as before: the upstream's word, or its translation
    if kept:
        assert (again, calls) == ("hit", 1)
    else:  # before: "hit", the cut answer served again with no upstream call
        assert (again, calls) == ("miss", 2)
