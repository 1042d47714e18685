"""Probes (seventeenth session): /v1/responses refused the spec's `moderation`,
`context_management` and `prompt_cache_options` as "Unknown parameter" (they are the openai SDK's
ResponseCreateParams), and took any value in `reasoning.context` / `reasoning.mode`. Now the first
two are "not supported by this gateway" (a screened or compacted answer must not be implied),
the cache options are typed and ignored but for what changes the answer or needs a stored
response, and the reasoning fields are typed as the spec types them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

REFUSED: list[tuple[dict[str, Any], str, str]] = [
    ({"moderation": {"model": "omni-moderation-latest"}}, "moderation",
     "not supported by this gateway"),
    ({"context_management": [{"type": "compaction", "compact_threshold": 1000}]},
     "context_management", "not supported by this gateway"),
    ({"prompt_cache_options": {"prewarm": True}}, "prompt_cache_options.prewarm",
     "not supported by this gateway"),
    ({"prompt_cache_options": {"comparison_response_id": "resp_1"}},
     "prompt_cache_options.comparison_response_id", "not supported by this gateway"),
    ({"prompt_cache_options": {"ttl": "1h"}}, "prompt_cache_options.ttl", "'30m' or '12h'"),
    ({"prompt_cache_options": {"mode": "always"}}, "prompt_cache_options.mode", "'implicit'"),
    ({"prompt_cache_options": {"tll": "30m"}}, "prompt_cache_options.tll", "Unknown parameter"),
    ({"prompt_cache_options": "30m"}, "prompt_cache_options", "an object"),
    ({"reasoning": {"context": "every_turn"}}, "reasoning.context", "'current_turn'"),
    ({"reasoning": {"mode": 3}}, "reasoning.mode", "string"),
]  # fmt: skip
TAKEN: list[dict[str, Any]] = [
    {"prompt_cache_options": {"mode": "explicit", "ttl": "12h", "prewarm": False}},
    {"reasoning": {"context": "all_turns", "mode": "pro"}},
    {"moderation": None, "context_management": None},
]


def test_gateway_fields_are_refused_by_name_or_typed_and_taken(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            for extra, param, said in REFUSED:
                with pytest.raises(openai.BadRequestError) as caught:
                    await gpt.responses.create(model="sim-small", input="Hi", extra_body=extra)
                body: Any = caught.value.body
                assert body["param"] == param, (extra, body)
                assert said in body["message"], (extra, body)
                assert "Unknown parameter" not in body["message"] or param.endswith("tll")
            for extra in TAKEN:
                response = await gpt.responses.create(
                    model="sim-small", input="Hi", extra_body=extra
                )
                assert response.status == "completed", extra

    asyncio.run(main())
