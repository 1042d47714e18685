"""Grades over a whole answer, through the request path in process (an OpenAI-protocol upstream
on the loopback mock answering a scripted completion): with n > 1 every choice is graded and the
grade is their mean (or the best, when the caller says so); a caller's reference answer grades by
agreement (grader "reference", above the automatic checks); OpenAI `tool_calls` are graded as
calls; the hints are validated (400 in the surface's shape) and never forwarded upstream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from arbiter.offline.demo import API_KEY_ENV
from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import ANTHROPIC_VERSION, InProcess, sidecar_in_process
from tests.sdk_clients import check_completion, sdks
from tests.test_failover_anthropic import TOOLS
from tests.test_signals_tools import graded

GPT = "gpt-mock"
MATH = [{"role": "user", "content": "What is 17 + 25?"}]
OPEN = [{"role": "user", "content": "Which city is the capital of France?"}]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def with_openai_mock(mock: AnthropicMock) -> Callable[[str], str]:
    def edit(text: str) -> str:
        return text + (
            f'\n[upstreams.oaimock]\nbase_url = "{mock.base_url}/v1"\nprotocol = "openai"\n'
            f'api_key_env = "{API_KEY_ENV}"\n\n'
            f'[models.{GPT}]\nupstream = "oaimock"\nupstream_model = "openai-reply"\n'
            "price_in_per_mtok = 0.05\nprice_out_per_mtok = 0.1\ncontext_window = 32000\n"
            'capabilities = ["chat", "json", "tools"]\n'
        )

    return edit


def completion(*messages: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-mock", "object": "chat.completion", "created": 1, "model": "openai-reply",
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        "choices": [
            {"index": i, "finish_reason": finish, "logprobs": None,
             "message": {"role": "assistant", "refusal": None, **m}}
            for i, m in enumerate(messages)
        ],
    }  # fmt: skip


def text(content: str) -> dict[str, Any]:
    return {"content": content}


def run(tmp_path: Path, mock: AnthropicMock, body: Callable[[InProcess], Awaitable[None]]) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=with_openai_mock(mock)) as sc:
            await body(sc)

    asyncio.run(main())


async def ask(
    sc: InProcess, messages: list[dict[str, Any]], headers: dict[str, str] | None = None,
    **extra: Any,
) -> Any:  # fmt: skip
    req = {"model": GPT, "messages": messages, **extra}
    return await sc.client.post(
        "/v1/chat/completions", json=req, headers={**sc.auth, **(headers or {})}
    )


def test_every_choice_is_graded_mean_by_default_best_when_asked(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    mock.openai_reply = completion(text("17 + 25 = 42"), text("The answer is 42."), text("41"))

    async def body(sc: InProcess) -> None:
        r = await ask(sc, MATH, n=3)
        assert r.status_code == 200, r.text
        row = await graded(sc, r.headers["x-arbiter-decision-id"])
        assert row["grader"] == "auto" and row["grade"] == pytest.approx(2 / 3)
        assert row["grades"][0]["detail"].startswith("mean of 3 choices [1.00, 1.00, 0.00]")
        r = await ask(sc, MATH, {"x-arbiter-grade-choices": "best"}, n=3)
        row = await graded(sc, r.headers["x-arbiter-decision-id"])
        assert row["grade"] == 1.0 and "best of 3 choices (choice 0)" in row["grades"][0]["detail"]
        # the same rule in the body (the SDKs' extra_body), never forwarded upstream
        r = await ask(sc, MATH, n=3, arbiter={"grade_choices": "best"})
        assert r.status_code == 200, r.text
        assert "arbiter" not in mock.requests[-1][1]
        row = await graded(sc, r.headers["x-arbiter-decision-id"])
        assert row["grade"] == 1.0

    run(tmp_path, mock, body)


def test_a_reference_answer_grades_by_agreement_and_outranks_the_checks(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    async def body(sc: InProcess) -> None:
        mock.openai_reply = completion(text("The capital of France is Paris."))
        r = await ask(sc, OPEN, {"x-arbiter-reference": "Paris"})
        row = await graded(sc, r.headers["x-arbiter-decision-id"])
        assert (row["grader"], row["grade"]) == ("reference", 1.0)
        assert "exact" in row["grades"][0]["detail"]
        mock.openai_reply = completion(text("It is Lyon."))
        r = await ask(sc, OPEN, arbiter={"reference": "Paris"})
        assert "arbiter" not in mock.requests[-1][1]
        row = await graded(sc, r.headers["x-arbiter-decision-id"])
        assert (row["grader"], row["grade"]) == ("reference", 0.0)
        # a numeric reference: the final number within tolerance, beside the math check
        mock.openai_reply = completion(text("So the total is 42.0"))
        r = await ask(sc, MATH, {"x-arbiter-reference": "42"})
        row = await graded(sc, r.headers["x-arbiter-decision-id"])
        assert [g["grader"] for g in row["grades"]] == ["reference", "auto"]
        assert row["grader"] == "reference" and row["grade"] == 1.0

    run(tmp_path, mock, body)


def test_openai_tool_calls_are_graded_as_calls(tmp_path: Path, mock: AnthropicMock) -> None:
    def call(name: str, args: str) -> dict[str, Any]:
        fn = {"name": name, "arguments": args}
        return {"content": None, "tool_calls": [{"id": "c1", "type": "function", "function": fn}]}

    async def body(sc: InProcess) -> None:
        cases = [
            (call("get_weather", '{"city": "Paris"}'), 1.0),
            (call("get_weather", '{"city": "Paris"'), 0.0),  # arguments are not JSON
            (call("get_weather", '{"city": 7}'), 0.2),  # the schema says string
            (call("launch_rockets", "{}"), 0.0),
        ]
        for message, expected in cases:
            mock.openai_reply = completion(message, finish="tool_calls")
            r = await ask(sc, OPEN, tools=TOOLS)
            assert r.status_code == 200, r.text
            row = await graded(sc, r.headers["x-arbiter-decision-id"])
            assert (row["grader"], row["grade"]) == ("auto", expected), row["grades"]

    run(tmp_path, mock, body)


def test_bad_hints_are_400s_in_each_surface_shape(tmp_path: Path, mock: AnthropicMock) -> None:
    async def body(sc: InProcess) -> None:
        r = await ask(sc, OPEN, {"x-arbiter-grade-choices": "worst"})
        assert r.status_code == 400
        assert r.json()["error"]["param"] == "x-arbiter-grade-choices"
        r = await ask(sc, OPEN, arbiter={"reference": 5})
        assert r.status_code == 400 and r.json()["error"]["param"] == "arbiter.reference"
        r = await ask(sc, OPEN, arbiter={"referense": "x"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "arbiter.referense"
        r = await sc.client.post(
            "/v1/messages",
            json={"model": GPT, "max_tokens": 50, "messages": OPEN, "arbiter": "x"},
            headers={"x-api-key": sc.api_key, **ANTHROPIC_VERSION},
        )
        assert r.status_code == 400
        err = r.json()
        assert err["type"] == "error" and err["error"]["type"] == "invalid_request_error"

    run(tmp_path, mock, body)


def test_the_openai_sdk_sends_hints_by_extra_body_and_header(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    mock.openai_reply = completion(text("Paris."), text("Rome."))

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, openai):
            raw = await openai.chat.completions.with_raw_response.create(
                model=GPT, messages=OPEN, n=2,  # type: ignore[arg-type]
                extra_body={"arbiter": {"reference": "Paris"}},
                extra_headers={"x-arbiter-grade-choices": "best"},
            )  # fmt: skip
            check_completion(raw.http_response.content)
            row = await graded(sc, raw.headers["x-arbiter-decision-id"])
            assert (row["grader"], row["grade"]) == ("reference", 1.0)

    run(tmp_path, mock, body)


def test_the_operators_registered_reference_grades_matching_prompts(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    refs = tmp_path / "refs.jsonl"
    refs.write_text('{"prompt": "Which city is the capital   of France?", "reference": "Paris"}\n')

    def edit(text: str) -> str:
        return with_openai_mock(mock)(text) + f'\n[references]\nfile = "{refs}"\n'

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            mock.openai_reply = completion(text("Marseille."))
            r = await ask(sc, OPEN)
            row = await graded(sc, r.headers["x-arbiter-decision-id"])
            assert (row["grader"], row["grade"]) == ("reference", 0.0)
            # the caller's own reference wins over the operator's
            r = await ask(sc, OPEN, {"x-arbiter-reference": "Marseille"})
            row = await graded(sc, r.headers["x-arbiter-decision-id"])
            assert (row["grader"], row["grade"]) == ("reference", 1.0)
            # a prompt without a registered reference: no reference grade
            r = await ask(sc, MATH)
            row = await graded(sc, r.headers["x-arbiter-decision-id"])
            assert "reference" not in [g["grader"] for g in row["grades"]]

    asyncio.run(main())


def test_the_anthropic_sdk_sends_a_reference_by_extra_body(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    """Through /v1/messages (translated to the OpenAI-protocol model and back): the body field
    is taken off before the request is encoded for the upstream."""
    mock.openai_reply = completion(text("Paris."))

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            raw = await claude.messages.with_raw_response.create(
                model=GPT, max_tokens=50, messages=OPEN,  # type: ignore[arg-type]
                extra_body={"arbiter": {"reference": "Paris"}},
            )  # fmt: skip
            assert (await raw.parse()).content[0].type == "text"
            assert "arbiter" not in mock.requests[-1][1]
            row = await graded(sc, raw.headers["x-arbiter-decision-id"])
            assert (row["grader"], row["grade"]) == ("reference", 1.0)

    run(tmp_path, mock, body)
