"""Outside probe (tenth session): upstream answer headers that cannot be sent on.

The upstream's own request id (`x-request-id` / `request-id`) and its rate-limit headers are
passed to the client. httpx reads a header's bytes as UTF-8 when they are, so an upstream id
like `req-模型` arrived as text that Latin-1 (the wire's) cannot hold: the answer, already
billed, failed while its headers were built (UnicodeEncodeError, an unhandled 500), on every
surface. Such a value is now left out (the request id then is Arbiter's own); a printable
ASCII one passes as before."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

REPLY = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}  # fmt: skip
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def test_upstream_headers_latin1_cannot_carry_are_left_out(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    mock.openai_reply = REPLY
    mock.reply_headers = {
        "x-request-id": "req-模型",
        "x-ratelimit-remaining-requests": "九",
        "x-ratelimit-limit-requests": "100",
    }

    async def main() -> None:
        edit = _with_mock(mock, "openai", "openai-reply")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, gpt):
            chat = await gpt.chat.completions.with_raw_response.create(
                model="oa-mock",
                messages=USER,  # type: ignore[arg-type]
            )
            assert chat.parse().choices[0].message.content == "hello"
            assert chat.headers["x-request-id"] == chat.headers["x-arbiter-request-id"]
            assert "x-ratelimit-remaining-requests" not in chat.headers
            assert chat.headers["x-ratelimit-limit-requests"] == "100"
            msg = await claude.messages.with_raw_response.create(
                model="oa-mock",
                max_tokens=9,
                messages=USER,  # type: ignore[arg-type]
            )
            assert (await msg.parse()).content[0].text == "hello"  # type: ignore[union-attr]
            # the upstream's id left out, not mangled: Arbiter's own in its place
            assert msg.headers["request-id"] == msg.headers["x-arbiter-request-id"]
            resp = await gpt.responses.create(model="oa-mock", input="hi")
            assert resp.output_text == "hello"

    asyncio.run(main())
