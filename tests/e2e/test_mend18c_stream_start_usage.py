"""An Anthropic client streamed from an OpenAI-protocol model got `message_start` with
`input_tokens: 0` (an OpenAI stream tells its usage only at its end): clients that read input
tokens there (the SDK's `message_start` event; loggers, cost meters) recorded 0. It now carries
the sidecar's own count of the prompt: the budget's tokenizer count when caps made one, else
routing's estimate. `message_delta` still carries the upstream's own figure, the one billed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
CAPS = '\n[[budgets.caps]]\nscope = "global"\nlimit_usd = 100.0\nwindow = "total"\n'


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _stream() -> bytes:
    def chunk(delta: dict[str, str], reason: str | None = None) -> bytes:
        body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}  # fmt: skip
        return b"data: " + orjson.dumps(body) + b"\n\n"

    usage = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [], "usage": USAGE}  # fmt: skip
    return (
        chunk({"role": "assistant", "content": "Hi"}) + chunk({}, "stop")
        + b"data: " + orjson.dumps(usage) + b"\n\ndata: [DONE]\n\n"
    )  # fmt: skip


@pytest.mark.parametrize("caps", [False, True], ids=["routing-estimate", "budget-tokenizer"])
def test_message_start_counts_the_prompt_and_message_delta_keeps_the_upstreams(
    tmp_path: Path, mock: AnthropicMock, caps: bool
) -> None:
    mock.replay_body = _stream()
    edit = _with_mock(mock, "openai", "replay", model="oa-streamed")

    async def main() -> None:
        config = (lambda text: edit(text) + CAPS) if caps else edit
        async with sidecar_in_process(tmp_path, edit_config=config) as sc, sdks(sc) as (claude, _):
            starts: list[int] = []
            for words in (3, 2000):  # the count grows with the prompt: it counts it
                prompt = " ".join(["word"] * words)
                async with claude.messages.stream(
                    model="oa-streamed",
                    max_tokens=20,
                    messages=[{"role": "user", "content": prompt}],
                ) as s:
                    start = delta = None
                    async for event in s:
                        if event.type == "message_start":
                            start = event.message.usage.input_tokens
                        elif event.type == "message_delta":
                            delta = event.usage.input_tokens
                assert start is not None and start > 0, start
                assert delta == USAGE["prompt_tokens"], delta  # the upstream's own, billed
                starts.append(start)
            assert starts[1] > 1000 > starts[0], starts

    asyncio.run(main())
