"""Outside probe (fourteenth session): an OpenAI model refuses a structured-output request made
through the Responses API, read with the openai SDK's `responses.parse`.

The upstream's Chat Completions answer says the refusal in `message.refusal`. Arbiter's Response
put that text in an `output_text` part and marked the response `incomplete` (`content_filter`),
so `responses.parse` ran the refusal ("I'm sorry, ...") through the caller's pydantic model and
raised a ValidationError: the caller could not even read why. OpenAI answers a refusal as a
`refusal` content part of a completed response, which the SDK leaves unparsed (`output_parsed`
None, the refusal readable). Arbiter now does the same (a non-streamed answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks
from tests.test_signals_choices import GPT, completion, with_openai_mock

pytestmark = pytest.mark.timeout(60)
REFUSAL = "I'm sorry, I can't help with that."


class Person(BaseModel):
    name: str


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _ask(tmp_path: Path, mock: AnthropicMock, message: dict[str, object]) -> object:
    mock.openai_reply = completion(message)

    async def main() -> object:
        async with (
            sidecar_in_process(tmp_path, edit_config=with_openai_mock(mock)) as sc,
            sdks(sc) as (_claude, gpt),
        ):
            return await gpt.responses.parse(model=GPT, input="Who?", text_format=Person)

    return asyncio.run(main())


def test_a_refusal_is_a_refusal_part_the_sdk_leaves_unparsed(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    answer = _ask(tmp_path, mock, {"content": None, "refusal": REFUSAL})
    assert answer.status == "completed" and answer.incomplete_details is None  # type: ignore[attr-defined]
    assert answer.output_parsed is None  # type: ignore[attr-defined]
    (item,) = answer.output  # type: ignore[attr-defined]
    assert [(p.type, getattr(p, "refusal", None)) for p in item.content] == [("refusal", REFUSAL)]


def test_an_answer_is_still_parsed(tmp_path: Path, mock: AnthropicMock) -> None:
    answer = _ask(tmp_path, mock, {"content": '{"name": "Ada"}'})
    assert answer.output_parsed == Person(name="Ada")  # type: ignore[attr-defined]
