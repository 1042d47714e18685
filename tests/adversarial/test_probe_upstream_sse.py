"""Outside probe: OpenAI-protocol upstream streams that the SSE spec allows but Arbiter misread.

- A stream that opens with a UTF-8 byte order mark (the spec says to skip it): the first event's
  line no longer started with `data:`, so it was skipped as a comment and its text was lost, in
  a stream that then ended as a success: "Hello" reached the client as "lo".
- An empty `data:` line (a heartbeat some servers send; the spec dispatches no event for it)
  failed the answer as a malformed chunk (502, and a count towards the circuit breaker).
Both through the same protocol (relayed) and across (translated for the other protocol's client),
from an OpenAI-protocol upstream and an Anthropic one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from arbiter.offline.demo import API_KEY_ENV
from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import openai_stream_text, sdks

USER = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _chunk(**fields: Any) -> bytes:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    return b"data: " + orjson.dumps({**base, **fields}) + b"\n\n"


def _delta(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return _chunk(choices=[{"index": 0, "delta": delta, "finish_reason": finish}])


def _stream(prefix: bytes = b"") -> bytes:
    first = {"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}
    second = {"index": 0, "delta": {"content": "lo"}, "finish_reason": None}
    stop = {"index": 0, "delta": {}, "finish_reason": "stop"}
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    return (
        prefix + _chunk(choices=[first]) + _chunk(choices=[second]) + _chunk(choices=[stop])
        + _chunk(choices=[], usage=usage) + b"data: [DONE]\n\n"
    )  # fmt: skip


def _with_mock(
    mock: AnthropicMock,
    protocol: str = "openai",
    upstream_model: str = "replay",
    *,
    model: str = "oa-mock",
    prices: tuple[float, float] = (1.0, 2.0),
) -> Any:
    """`model`: a model on the mock (`upstream_model` picks its answer), over `protocol`."""
    base_url = f"{mock.base_url}/v1" if protocol == "openai" else mock.base_url

    def edit(text: str) -> str:
        return text + (
            f'\n[upstreams.mockup]\nbase_url = "{base_url}"\nprotocol = "{protocol}"\n'
            f'api_key_env = "{API_KEY_ENV}"\n'
            f'[models.{model}]\nupstream = "mockup"\n'
            f'upstream_model = "{upstream_model}"\n'
            f"price_in_per_mtok = {prices[0]}\nprice_out_per_mtok = {prices[1]}\n"
            'context_window = 32000\ncapabilities = ["chat", "no-route", "vision", "pdf"]\n'
        )

    return edit


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xef\xbb\xbf" + _stream(), id="byte-order-mark"),
        pytest.param(_stream(b"data:\n\n"), id="empty-data-heartbeat"),
        pytest.param(_stream().replace(b"\n\ndata: {", b"\n\ndata:\n\ndata: {"), id="heartbeats"),
        # some OpenAI-compatible servers end a finished answer without `data: [DONE]`
        pytest.param(_stream().removesuffix(b"data: [DONE]\n\n"), id="no-done-after-finish"),
    ],
)
def test_a_spec_valid_stream_reaches_the_client_whole(
    tmp_path: Path, mock: AnthropicMock, body: bytes
) -> None:
    run(tmp_path, mock, body, "openai")


def test_a_stream_cut_before_its_finish_reason_still_fails(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    """No [DONE] and no finish_reason: the answer was cut, not finished (the client is told)."""
    cut = _stream().split(b"data: ", 3)  # the first two content chunks only
    mock.replay_body = b"data: ".join(cut[:3])

    async def main() -> None:
        edit = _with_mock(mock, "openai")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (_, gpt):
            stream = await gpt.chat.completions.create(
                model="oa-mock",
                messages=USER,  # type: ignore[arg-type]
                stream=True,
            )
            with pytest.raises(openai.APIError):
                async for _chunk in stream:
                    pass

    asyncio.run(main())


def _frames(prefix: bytes = b"") -> bytes:
    """The mock's Anthropic event stream for "Hello from the mock.", after `prefix`."""
    return prefix + b"".join(anthropic_mock.stream_frames("m", "text"))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_frames(b"\xef\xbb\xbf"), id="byte-order-mark"),
        pytest.param(_frames(b"data:\n\n"), id="empty-data"),
    ],
)
def test_a_spec_valid_anthropic_stream_reaches_the_client_whole(
    tmp_path: Path, mock: AnthropicMock, body: bytes
) -> None:
    run(tmp_path, mock, body, "anthropic", anthropic_mock.TEXT)


def run(
    tmp_path: Path,
    mock: AnthropicMock,
    body: bytes,
    protocol: str,
    expected: str = "Hello",
    upstream_model: str = "replay",
) -> None:
    mock.replay_body = body

    async def main() -> None:
        edit = _with_mock(mock, protocol, upstream_model)
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, gpt):
            text = await openai_stream_text(gpt, "oa-mock", USER)
            assert text == expected
            async with claude.messages.stream(
                model="oa-mock",
                max_tokens=10,
                messages=USER,  # type: ignore[arg-type]
            ) as events:
                message = await events.get_final_message()
            assert [b.text for b in message.content if b.type == "text"] == [expected]

    asyncio.run(main())
