"""Outside probe (seventeenth session): /v1/responses through the official `openai` SDK.
`reasoning.summary` is echoed in the Response object; any string was taken, so `"lots"` came
back in a Response its own spec refuses (Reasoning.summary is auto, concise or detailed).
`max_tool_calls: "5"` and `stream_options.include_obfuscation: "yes"` were answered 200 though
the spec types them (the caller's mistake, OpenAI's 400). Each is now a 400 naming the field
before any upstream call; the spec's own values are answered, with a Response that validates."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from tests.inproc import sidecar_in_process
from tests.openapi_spec import validate, validate_response_event
from tests.sdk_clients import sdks, sim_requests, sse

pytestmark = pytest.mark.timeout(120)

BAD: list[tuple[dict[str, Any], str]] = [
    ({"reasoning": {"summary": "lots"}}, "reasoning.summary"),
    ({"reasoning": {"summary": 1}}, "reasoning.summary"),
    ({"reasoning": {"generate_summary": "brief"}}, "reasoning.generate_summary"),
    ({"max_tool_calls": "5"}, "max_tool_calls"),
    ({"max_tool_calls": -1}, "max_tool_calls"),
    ({"stream": True, "stream_options": {"include_obfuscation": "yes"}},
     "stream_options.include_obfuscation"),
]  # fmt: skip

GOOD: list[dict[str, Any]] = [
    {"reasoning": {"summary": "concise", "effort": "low"}},
    {"reasoning": {"generate_summary": "detailed"}},
    {"reasoning": {"summary": None}},
    {"max_tool_calls": 3},
    {"stream_options": {"include_obfuscation": False}},
]


def test_a_field_the_spec_types_is_a_400_naming_it(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            for extra, param in BAD:
                with pytest.raises(openai.BadRequestError) as caught:
                    await gpt.responses.create(model="auto", input="Say hi.", extra_body=extra)
                body = caught.value.response.json()
                validate("ErrorResponse", body)
                assert body["error"]["param"] == param, (extra, body)
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    asyncio.run(main())


def test_the_spec_values_are_answered_with_a_valid_response(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            for extra in GOOD:
                raw = await gpt.responses.with_raw_response.create(
                    model="sim-small", input="Say hi.", extra_body=extra
                )
                validate("Response", orjson.loads(raw.content))
                streamed = await sc.client.post(
                    "/v1/responses",
                    json={"model": "sim-small", "input": "Say hi.", "stream": True, **extra},
                    headers=sc.auth,
                )
                events = [orjson.loads(data) for _, data in sse(streamed.content)]
                for event in events:
                    validate_response_event(event)
                assert events[-1]["type"] == "response.completed", events[-1]

    asyncio.run(main())
