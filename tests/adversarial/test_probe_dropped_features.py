"""Outside probe: `web_search_options: {}` on an OpenAI-format request (the documented way to turn
on web search: the empty object means "search, with the defaults"). Translated for an
Anthropic-protocol model it was dropped as a field "set to its default", so a request pinned to
such a model came back 200 with an answer that never searched, and `auto` could route it there.
A field whose mere presence asks for a feature is refused like any other untranslatable one:
the model is ineligible, and naming it is a 400 naming the field."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from arbiter.protocols import compat, openai
from tests.inproc import sidecar_in_process

USER = [{"role": "user", "content": "What happened in the news today?"}]


@pytest.mark.parametrize("options", [{}, {"search_context_size": "low"}])
def test_web_search_cannot_cross_to_anthropic(options: dict[str, Any]) -> None:
    req = openai.decode_request({"model": "m", "messages": USER, "web_search_options": options})
    assert compat.untranslatable(req, "anthropic") == "the 'web_search_options' parameter"


def test_fields_at_their_default_still_cross() -> None:
    body = {
        "model": "m",
        "messages": USER,
        "web_search_options": None,
        "seed": 0,
        "logprobs": False,
    }
    assert compat.untranslatable(openai.decode_request(body), "anthropic") is None


def test_a_named_anthropic_model_refuses_web_search(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=("sim-small",)) as sc:
            body = {"model": "sim-small", "messages": USER, "web_search_options": {}}
            r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
            assert r.status_code == 400, r.text
            assert "web_search_options" in r.json()["error"]["message"]

    asyncio.run(main())
