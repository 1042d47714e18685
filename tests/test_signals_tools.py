"""A tool-call answer is graded as a tool call, through the whole request path (in process, the
Anthropic mock upstream answering with tool_use blocks), from both surfaces: the function must be
one the request offers, its arguments must validate against that tool's schema. Before this, a
correct get_weather call reached the judge as its text alone and graded 0.11."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import ANTHROPIC_VERSION, InProcess, sidecar_in_process
from tests.test_failover_anthropic import CLAUDE, TOOLS, USER, config_with_mock

ANTHROPIC_TOOLS = [{"name": "get_weather", "input_schema": TOOLS[0]["function"]["parameters"]}]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


async def graded(sc: InProcess, decision_id: str) -> dict[str, Any]:
    """The decision once background grading has landed in the store."""
    await sc.services.learner.drain()
    assert sc.services.recorder.flush(5.0)
    r = await sc.client.get(f"/arbiter/decisions/{decision_id}", headers=sc.admin)
    assert r.status_code == 200, r.text
    row: dict[str, Any] = r.json()
    return row


async def ask(sc: InProcess, surface: str, **extra: Any) -> str:
    if surface == "anthropic":
        body = {"model": CLAUDE, "max_tokens": 200, "messages": USER, "tools": ANTHROPIC_TOOLS}
        r = await sc.client.post(
            "/v1/messages",
            json={**body, **extra},
            headers={"x-api-key": sc.api_key, **ANTHROPIC_VERSION},
        )
    else:
        body = {"model": CLAUDE, "messages": USER, "tools": TOOLS}
        r = await sc.client.post("/v1/chat/completions", json={**body, **extra}, headers=sc.auth)
    assert r.status_code == 200, r.text
    return str(r.headers["x-arbiter-decision-id"])


def run(tmp_path: Path, mock: AnthropicMock, behaviour: str, surface: str) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        async with sidecar_in_process(
            tmp_path, edit_config=config_with_mock(mock, behaviour)
        ) as sc:
            return await graded(sc, await ask(sc, surface))

    return asyncio.run(main())


@pytest.mark.parametrize("surface", ["openai", "anthropic"])
def test_a_correct_tool_call_grades_high(tmp_path: Path, mock: AnthropicMock, surface: str) -> None:
    row = run(tmp_path, mock, "tool", surface)
    assert row["grader"] == "auto" and row["grade"] == 1.0, row["grades"]
    [g] = row["grades"]
    assert "get_weather: arguments valid" in g["detail"] == row["grade_detail"]


@pytest.mark.parametrize("surface", ["openai", "anthropic"])
def test_a_call_to_an_unknown_function_grades_low(
    tmp_path: Path, mock: AnthropicMock, surface: str
) -> None:
    row = run(tmp_path, mock, "tool-unknown", surface)
    assert row["grader"] == "auto" and row["grade"] == 0.0
    assert "'get_wether', which the request's tools do not offer" in row["grades"][0]["detail"]


def test_a_call_missing_a_required_argument_grades_low(tmp_path: Path, mock: AnthropicMock) -> None:
    row = run(tmp_path, mock, "tool-bad-args", "openai")
    assert row["grader"] == "auto" and row["grade"] <= 0.2
    assert "'city' is a required property" in row["grades"][0]["detail"]


@pytest.mark.parametrize("surface", ["openai", "anthropic"])
@pytest.mark.parametrize(("behaviour", "expected"), [("tool", 1.0), ("tool-bad-args", 0.2)])
def test_a_streamed_tool_call_is_reassembled_and_graded(
    tmp_path: Path, mock: AnthropicMock, surface: str, behaviour: str, expected: float
) -> None:
    """The relay's codec keeps the call's name and argument pieces (input_json_delta, or
    OpenAI's delta.tool_calls once translated), so a stream grades like a whole answer."""

    async def main() -> dict[str, Any]:
        async with sidecar_in_process(
            tmp_path, edit_config=config_with_mock(mock, behaviour)
        ) as sc:
            return await graded(sc, await ask(sc, surface, stream=True))

    row = asyncio.run(main())
    assert (row["grader"], row["grade"]) == ("auto", expected), row["grades"]
