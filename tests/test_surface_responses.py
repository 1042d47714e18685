"""OpenAI's Responses API (POST /v1/responses), in process: the official `openai` SDK's
`client.responses.create` (stream and not, routed and by name, onto OpenAI- and Anthropic-
protocol models), every Response object and stream event checked against OpenAI's spec
(Response, ResponseStreamEvent) and the SDK's own types; tools, tool outputs, JSON output,
the stateless refusals and bad input as clear 400s in OpenAI's shape."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from tests.inproc import InProcess, sidecar_in_process
from tests.openapi_spec import validate, validate_response_event
from tests.sdk_clients import sdks, sse

CLAUDE = "sim-medium"  # served over Anthropic's API
GPT = "sim-small"
EVENT: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def run(tmp_path: Path, body: Callable[[InProcess], Awaitable[None]], **kw: Any) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,), **kw) as sc:
            await body(sc)

    asyncio.run(main())


def check_response(data: dict[str, Any]) -> Response:
    validate("Response", data)
    return Response.model_validate(data)


def stream_events(raw: bytes) -> list[dict[str, Any]]:
    """Every event of a Responses stream, each valid by the spec and the SDK's types; the SSE
    event name matches its type and sequence numbers count from 0."""
    events = []
    for name, data in sse(raw):
        event = orjson.loads(data)
        assert name == event["type"], (name, event)
        validate_response_event(event)
        EVENT.validate_python(event)
        assert event["sequence_number"] == len(events)
        events.append(event)
    return events


async def decision(sc: InProcess, decision_id: str) -> dict[str, Any]:
    r = await sc.client.get(f"/arbiter/decisions/{decision_id}", headers=sc.admin)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_sdk_responses_create_routed_and_by_name_on_either_protocol(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            for model in ("auto", GPT, CLAUDE):
                raw = await gpt.responses.with_raw_response.create(
                    model=model,
                    input="Summarize in two sentences: the tide rises and falls.",
                    instructions="Be brief.",
                    max_output_tokens=200,
                    temperature=0.5,
                )
                resp = raw.parse()
                assert resp.status == "completed" and resp.output_text
                assert resp.usage is not None and resp.usage.output_tokens > 0
                assert resp.instructions == "Be brief." and resp.temperature == 0.5
                check_response(orjson.loads(raw.content))
                served = raw.headers["x-arbiter-model"]
                if model != "auto":
                    assert served == model
                row = await decision(sc, raw.headers["x-arbiter-decision-id"])
                assert row["status"] == "ok" and row["cost_usd"] > 0
                assert row["mode"] == ("routed" if model == "auto" else "passthrough")
                assert resp.id == "resp_" + row["id"]

    run(tmp_path, body)


def test_sdk_responses_stream_every_event_valid_from_either_protocol(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            for model in (GPT, CLAUDE):
                stream = await gpt.responses.create(
                    model=model, input="Write a haiku about rivers.", stream=True
                )
                events = [e async for e in stream]
                kinds = [e.type for e in events]
                assert kinds[:4] == [
                    "response.created", "response.in_progress",
                    "response.output_item.added", "response.content_part.added",
                ], kinds  # fmt: skip
                assert kinds[-4:] == [
                    "response.output_text.done", "response.content_part.done",
                    "response.output_item.done", "response.completed",
                ], kinds  # fmt: skip
                text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
                final = events[-1]
                assert final.type == "response.completed"
                assert final.response.output_text == text and text
                assert final.response.usage is not None and final.response.usage.output_tokens > 0
                assert stream.response.headers["x-arbiter-model"] == model
                # the wire: every event valid by OpenAI's spec, numbered in order
                r = await sc.client.post(
                    "/v1/responses",
                    json={"model": model, "input": "Write a haiku about rivers.", "stream": True},
                    headers=sc.auth,
                )
                assert r.status_code == 200, r.text
                wire = stream_events(r.content)
                check_response(wire[-1]["response"])
                row = await decision(sc, r.headers["x-arbiter-decision-id"])
                assert row["status"] == "ok" and row["stream"]

    run(tmp_path, body)


def test_function_call_outputs_are_sent_on_to_either_protocol(tmp_path: Path) -> None:
    """A conversation carrying an earlier function call and its output (the stateless way to
    continue after a tool) reaches OpenAI and Anthropic models as their own tool messages."""

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            for model in (GPT, CLAUDE):
                question = "What is the weather in Paris?"
                raw = await gpt.responses.with_raw_response.create(
                    model=model,
                    tools=[WEATHER],  # type: ignore[list-item]
                    input=[
                        {"role": "user", "content": question},
                        {
                            "type": "function_call", "call_id": "call_1",
                            "name": "get_weather", "arguments": '{"city": "Paris"}',
                        },
                        {"type": "function_call_output", "call_id": "call_1",
                         "output": '{"temp_c": 18}'},
                    ],  # type: ignore[list-item]
                )  # fmt: skip
                resp = check_response(orjson.loads(raw.content))
                assert resp.status == "completed" and resp.output_text
                assert resp.tools[0].type == "function"  # echoed as the spec's FunctionTool
                assert raw.headers["x-arbiter-model"] == model

    run(tmp_path, body)


def test_text_format_json_reaches_the_upstream_as_response_format(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            raw = await gpt.responses.with_raw_response.create(
                model=GPT,
                input="Give me a JSON object with keys a and b.",
                text={"format": {"type": "json_object"}},
            )
            resp = check_response(orjson.loads(raw.content))
            assert resp.text is not None and resp.text.format is not None
            assert resp.text.format.type == "json_object"
            orjson.loads(resp.output_text)  # the sim honours JSON mode

    run(tmp_path, body)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"previous_response_id": "resp_123"}, "previous_response_id"),
        ({"store": True}, "store"),
        ({"store": "yes"}, "store"),
        ({"reasoning": {"effort": 5}}, "reasoning.effort"),
        ({"tool_choice": {"type": "function"}}, "tool_choice.name"),
        ({"input": [{"role": "user", "content": [{"type": "input_text"}]}]},
         "input[0].content[0].text"),
        ({"input": [{"role": "developer", "content": "Only this."}]}, "input"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"background": True}, "background"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"input": 7}, "input"),
        ({"input": []}, "input"),
        ({"input": [{"type": "function_call_output", "call_id": "c1", "output": "x"}]},
         "input[0].call_id"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"text": {"format": {"type": "xml"}}}, "text.format.type"),
        # never silently dropped: log-probabilities cannot be returned, verbosity is validated
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"include": ["message.output_text.logprobs"]}, "include"),
        ({"text": {"verbosity": "loud"}}, "text.verbosity"),
        ({"frobnicate": 1}, "frobnicate"),
        ({"model": ""}, "model"),
    ],
)  # fmt: skip
def test_refusals_and_bad_input_are_clear_400s(
    tmp_path: Path, extra: dict[str, Any], param: str
) -> None:
    async def body(sc: InProcess) -> None:
        payload = {"model": "auto", "input": "Hello.", **extra}
        r = await sc.client.post("/v1/responses", json=payload, headers=sc.auth)
        assert r.status_code == 400, r.text
        validate("ErrorResponse", r.json())
        assert r.json()["error"]["param"] == param, r.text
        async with sdks(sc) as (_, gpt):
            with pytest.raises(openai.BadRequestError):
                await gpt.responses.create(model="auto", input="Hello.", extra_body=extra)

    run(tmp_path, body)


def test_text_verbosity_is_served_by_openai_models_only(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            resp = await gpt.responses.create(model=GPT, input="Hi.", text={"verbosity": "low"})
            assert resp.text is not None and resp.text.verbosity == "low"
            # the Anthropic-protocol model has no such parameter: a 400 naming it, not a drop
            with pytest.raises(openai.BadRequestError) as info:
                await gpt.responses.create(model=CLAUDE, input="Hi.", text={"verbosity": "low"})
            assert "verbosity" in str(info.value)
            raw = await gpt.responses.with_raw_response.create(
                model="auto", input="Hi.", text={"verbosity": "high"}
            )
            assert raw.headers["x-arbiter-model"] != CLAUDE

    run(tmp_path, body)


def test_store_false_is_accepted_and_echoed(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            resp = await gpt.responses.create(model=GPT, input="Hi.", store=False)
            assert resp.store is False

    run(tmp_path, body)
