"""Outside probe (twelfth session): on /v1/responses, `truncation` (the spec's enum: "auto" or
"disabled"), `service_tier`, `prompt_cache_key`, `prompt_cache_retention` (strings),
`safety_identifier` (a string of at most 64 characters) and `stream_options` (an object) are
accepted and not forwarded, yet any value passed: `truncation: "bogus"` or `5`, `service_tier:
5`, a 65-character safety identifier answered 200, where OpenAI answers a 400 naming the field;
a client's typo went unnoticed. Each is now the caller's 400 in OpenAI's
shape naming the field, before any upstream call; the values the spec allows still answer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks, sim_requests

BAD: list[tuple[str, Any]] = [
    ("truncation", "bogus"),
    ("truncation", "Auto"),
    ("truncation", ""),
    ("truncation", 5),
    ("truncation", True),
    ("service_tier", 5),
    ("service_tier", {"tier": "flex"}),
    ("service_tier", ["flex"]),
    ("prompt_cache_key", 5),
    ("prompt_cache_retention", 24),
    ("safety_identifier", "u" * 65),
    ("safety_identifier", 7),
    ("stream_options", "yes"),
]
GOOD: list[tuple[str, Any]] = [
    ("truncation", "auto"),
    ("truncation", "disabled"),
    ("service_tier", "flex"),
    ("service_tier", "auto"),
    ("prompt_cache_key", "k1"),
    ("safety_identifier", "u" * 64),
]


def test_a_value_the_spec_forbids_is_a_400_naming_the_field(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            for field, value in BAD:
                with pytest.raises(openai.BadRequestError) as info:
                    await gpt.responses.create(
                        model="auto", input="Hello there", extra_body={field: value}
                    )
                err = info.value
                assert err.type == "invalid_request_error", (field, value, err.body)
                assert err.param == field, (field, value, err.body)
            assert await sim_requests(sc) == before, "nothing reached an upstream"
            for field, value in GOOD:
                answer = await gpt.responses.create(
                    model="auto", input="Hello there", extra_body={field: value}
                )
                assert answer.status == "completed" and answer.output_text, (field, answer)
                assert answer.truncation == "disabled"  # Arbiter never drops input items

    asyncio.run(main())
