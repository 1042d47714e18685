"""Probes (seventeenth session): /v1/messages/count_tokens accepted the create-only fields
(max_tokens, stream, temperature, metadata, stop_sequences, ...) that Anthropic's count_tokens
refuses ("<field>: Extra inputs are not permitted", its MessageCountTokensParams). A client that
sends them believes it configures something the count never sees; the same body sent to
Anthropic is a 400, so it must be ours too, in Anthropic's shape, naming the field."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

MESSAGES: Any = [{"role": "user", "content": "How many tokens is this?"}]
CREATE_ONLY: dict[str, Any] = {
    "max_tokens": 64,
    "stream": False,
    "temperature": 0.5,
    "top_p": 0.9,
    "top_k": 5,
    "metadata": {"user_id": "u1"},
    "stop_sequences": ["END"],
    "service_tier": "auto",
    "container": "c1",
    "inference_geo": "us",
}


def test_count_tokens_refuses_each_create_only_field(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (claude, _):
            plain = await claude.messages.count_tokens(model="sim-small", messages=MESSAGES)
            assert plain.input_tokens > 0
            for field, value in CREATE_ONLY.items():
                with pytest.raises(anthropic.BadRequestError) as caught:
                    await claude.messages.count_tokens(
                        model="sim-small", messages=MESSAGES, extra_body={field: value}
                    )
                body = caught.value.body
                assert isinstance(body, dict) and body["type"] == "error", field
                assert body["error"]["type"] == "invalid_request_error", field
                assert body["error"]["message"] == f"{field}: Extra inputs are not permitted"

    asyncio.run(main())


def test_count_tokens_still_takes_every_field_of_its_params(tmp_path: Path) -> None:
    """The fields count_tokens does take (MessageCountTokensParams, beta ones included) count."""

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (claude, _):
            r = await claude.messages.count_tokens(
                model="sim-small",
                messages=MESSAGES,
                system="Be brief.",
                tools=[{"name": "lookup", "input_schema": {"type": "object"}}],
                tool_choice={"type": "auto"},
                thinking={"type": "enabled", "budget_tokens": 2048},
                output_config={"effort": "low"},
                extra_body={"cache_control": {"type": "ephemeral"}, "speed": "standard"},
            )
            assert r.input_tokens > 0

    asyncio.run(main())
