"""Outside probe: the caller's grading hints on /v1/responses. The README offers a reference
answer as the header `x-arbiter-reference` or the body's `"arbiter": {"reference": ...}` (the
SDKs' `extra_body`), and `x-arbiter-tests` for code; chat and messages take them. On the Responses
API the body field was a 400 ("Unknown parameter: 'arbiter'") and the headers were silently
ignored: the answer was graded as if no reference had been given."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import sdks
from tests.test_signals_choices import GPT, completion, text, with_openai_mock
from tests.test_signals_tools import graded

QUESTION = "Which city is the capital of France?"


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def run(tmp_path: Path, mock: AnthropicMock, body: Any) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=with_openai_mock(mock)) as sc:
            await body(sc)

    asyncio.run(main())


async def grade_of(sc: InProcess, decision_id: str) -> tuple[str, float]:
    row = await graded(sc, decision_id)
    return row["grader"], row["grade"]


def test_a_reference_in_the_body_grades_a_responses_answer(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    mock.openai_reply = completion(text("The capital of France is Paris."))

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            right = await gpt.responses.with_raw_response.create(
                model=GPT, input=QUESTION, extra_body={"arbiter": {"reference": "Paris"}}
            )
            wrong = await gpt.responses.with_raw_response.create(
                model=GPT, input=QUESTION, extra_body={"arbiter": {"reference": "Lyon"}}
            )
        assert "arbiter" not in mock.requests[-1][1]  # never forwarded upstream
        assert await grade_of(sc, right.headers["x-arbiter-decision-id"]) == ("reference", 1.0)
        assert await grade_of(sc, wrong.headers["x-arbiter-decision-id"]) == ("reference", 0.0)

    run(tmp_path, mock, body)


def test_a_reference_header_grades_a_responses_answer(tmp_path: Path, mock: AnthropicMock) -> None:
    mock.openai_reply = completion(text("The capital of France is Paris."))

    async def body(sc: InProcess) -> None:
        r = await sc.client.post(
            "/v1/responses",
            json={"model": GPT, "input": QUESTION},
            headers={**sc.auth, "x-arbiter-reference": "Lyon"},
        )
        assert r.status_code == 200, r.text
        assert await grade_of(sc, r.headers["x-arbiter-decision-id"]) == ("reference", 0.0)
        bad = await sc.client.post(
            "/v1/responses",
            json={"model": GPT, "input": QUESTION, "arbiter": {"reference": 5}},
            headers=sc.auth,
        )
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "arbiter.reference"

    run(tmp_path, mock, body)
