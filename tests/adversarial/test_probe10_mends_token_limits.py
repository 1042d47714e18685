"""Outside probe (tenth session, mended): `max_tokens` and `max_completion_tokens` together on
/v1/chat/completions were both forwarded as they came. OpenAI refuses such a request (a failed,
billed-for-nothing attempt after routing); an upstream that took `max_tokens` could answer past
the worst case reserved from `max_completion_tokens`. It is now the caller's 400 in OpenAI's
words, naming both, before any upstream call; either one alone, or one null, still passes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

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


def test_both_token_limits_are_the_callers_400(tmp_path: Path, mock: AnthropicMock) -> None:
    mock.openai_reply = completion(text("fine"))

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=with_openai_mock(mock)) as sc,
            sdks(sc) as (_, gpt),
        ):
            before = len(mock.requests)
            with pytest.raises(openai.BadRequestError) as caught:
                await gpt.chat.completions.create(
                    model=GPT, messages=USER, max_tokens=4000, max_completion_tokens=10
                )  # type: ignore[call-overload]
            error = caught.value.body
            assert isinstance(error, dict)
            assert "'max_tokens' and 'max_completion_tokens'" in error["message"]
            assert error["param"] == "max_tokens"
            assert len(mock.requests) == before  # refused before routing: nothing sent
            for limits in ({"max_tokens": 10}, {"max_completion_tokens": 10, "max_tokens": None}):
                done = await gpt.chat.completions.create(
                    model=GPT, messages=USER, extra_body=limits
                )  # type: ignore[call-overload]
                assert done.choices[0].message.content == "fine"
            assert len(mock.requests) == before + 2

    asyncio.run(main())
