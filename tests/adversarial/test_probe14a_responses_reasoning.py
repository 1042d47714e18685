"""Outside probe (fourteenth session): the Responses API with a reasoning model, read through the
official openai SDK.

- `usage.output_tokens_details.reasoning_tokens` was always 0: the upstream's Chat Completions
  `completion_tokens_details.reasoning_tokens` was dropped on the way to canonical usage, so a
  client reading how much of its bill was hidden reasoning (o-series, gpt-5) saw none, streamed
  or not. It is now carried (never above the output tokens it is part of).
- The Response echoed `reasoning` as `{"effort": null, "summary": null}` whatever the request
  set, although every other parameter is echoed as OpenAI echoes it: `response.reasoning.effort`
  read None after asking for "low". It now repeats the request's `effort` and `summary`.
- `tools` given as `{}`, `0` or `false` was taken as "no tools" (a falsy value read as absent),
  while `{"a": 1}` was a 400: every value that is not an array is now the same 400 naming
  `tools`, as OpenAI answers it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from tests.adversarial.hostile_upstream import fast_failover, response, scripted_upstream
from tests.inproc import raw_openai_upstream, sidecar_in_process
from tests.sdk_clients import sdks

pytestmark = pytest.mark.timeout(60)

USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 50,
    "total_tokens": 62,
    "completion_tokens_details": {"reasoning_tokens": 40},
}
BASE = {"id": "c1", "created": 1, "model": "o-mini"}


def _answer() -> bytes:
    choice = {"index": 0, "message": {"role": "assistant", "content": "4"}, "finish_reason": "stop"}
    return orjson.dumps({**BASE, "object": "chat.completion", "choices": [choice], "usage": USAGE})


def _stream() -> bytes:
    chunk = {**BASE, "object": "chat.completion.chunk"}
    events = [
        {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "4"}}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**chunk, "choices": [], "usage": USAGE},
    ]
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


async def _ask(tmp_path: Path, stream: bool, **params: Any) -> Any:
    """The Response the SDK reads back for `params`, from a scripted reasoning upstream."""
    media = b"text/event-stream" if stream else b"application/json"
    body = _stream() if stream else _answer()

    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(response(b"200 OK\r\ncontent-type: " + media, body))

    async with scripted_upstream(answer) as (port, _):
        edit = raw_openai_upstream(port)
        async with (
            sidecar_in_process(tmp_path, edit_config=lambda t: fast_failover(edit(t))) as sc,
            sdks(sc) as (_claude, gpt),
        ):
            if not stream:
                return await gpt.responses.create(model="oa-raw", input="2+2?", **params)
            async with gpt.responses.stream(model="oa-raw", input="2+2?", **params) as events:
                async for _event in events:
                    pass
                return await events.get_final_response()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_reasoning_tokens_reach_the_response_usage(tmp_path: Path, stream: bool) -> None:
    answer = asyncio.run(_ask(tmp_path, stream))
    assert answer.usage is not None
    assert answer.usage.output_tokens == 50
    assert answer.usage.output_tokens_details.reasoning_tokens == 40
    assert answer.usage.total_tokens == 62


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_the_requested_reasoning_is_echoed(tmp_path: Path, stream: bool) -> None:
    reasoning = {"effort": "low", "summary": "auto"}
    answer = asyncio.run(_ask(tmp_path, stream, reasoning=reasoning))
    assert answer.reasoning is not None
    assert (answer.reasoning.effort, answer.reasoning.summary) == ("low", "auto")


def test_no_reasoning_asked_echoes_none(tmp_path: Path) -> None:
    answer = asyncio.run(_ask(tmp_path, False))
    assert answer.reasoning is not None
    assert (answer.reasoning.effort, answer.reasoning.summary) == (None, None)


@pytest.mark.parametrize("tools", [{}, 0, False, "", {"a": 1}, "x"], ids=repr)
def test_tools_that_are_not_an_array_are_a_400(tmp_path: Path, tools: Any) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_claude, gpt):
            with pytest.raises(openai.BadRequestError) as err:
                await gpt.responses.create(model="auto", input="hi", tools=tools)
            assert err.value.status_code == 400
            assert isinstance(err.value.body, dict) and err.value.body["param"] == "tools"
            # and the count endpoint decodes them the same way
            r = await sc.client.post(
                "/v1/responses/input_tokens",
                json={"model": "auto", "input": "hi", "tools": tools},
                headers=sc.auth,
            )
            assert r.status_code == 400 and r.json()["error"]["param"] == "tools"

    asyncio.run(main())


def test_a_request_past_the_context_names_input(tmp_path: Path) -> None:
    """A Responses request past the named model's context window was a 400 naming `messages`,
    a parameter the Responses API does not have: it names the caller's own field. Here the
    input ("hi") fits and the asked output does not, so that field is `max_output_tokens`
    (probe21b: the refusal names what to lower)."""

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_claude, gpt):
            with pytest.raises(openai.BadRequestError) as err:
                await gpt.responses.create(
                    model="sim-small", input="hi", max_output_tokens=1_000_000
                )
            body = err.value.body
            assert isinstance(body, dict) and body["code"] == "context_length_exceeded"
            assert body["param"] == "max_output_tokens"

    asyncio.run(main())
