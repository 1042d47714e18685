"""A chat request to an Anthropic-protocol model whose fields the Anthropic translation cannot
read: the 400 said "...the anthropic translation cannot read (tools: ...)" with `param: null`,
so a client (the openai SDK's BadRequestError.param) could not tell which field to fix. It now
names the field in `param` and says what is wrong with it, in the caller's (OpenAI's) words.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

pytestmark = pytest.mark.timeout(60)
USER = [{"role": "user", "content": "hi"}]
BAD_TURNS = [*USER, {"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]

# fields OpenAI takes that the translation cannot read. A malformed `tools` or json_schema
# format was such a case too, until the chat surface refused it for every model (before any
# routing: tests/adversarial/test_probe17a_chat_shapes.py)
CASES: list[tuple[dict[str, Any], str, str]] = [
    (
        {
            "tools": [{"type": "custom", "custom": {"name": "g"}}],
            "tool_choice": {"type": "custom", "custom": {"name": "g"}},
        },
        "tool_choice",
        "Invalid value for 'tool_choice'",
    ),
    (
        {"messages": [*BAD_TURNS, {"role": "user", "content": [{"type": "bogus"}]}]},
        "messages[3].content[0].type",
        "Invalid value for 'messages[3].content[0].type': 'bogus'",
    ),
]


def test_a_field_the_translation_cannot_read_is_named(tmp_path: Path) -> None:
    async def main() -> list[openai.BadRequestError]:
        errors = []
        async with (
            sidecar_in_process(tmp_path, anthropic_models=("sim-small",)) as sc,
            sdks(sc) as (_claude, gpt),
        ):
            for extra, _param, _words in CASES:
                body = {"messages": USER, **extra}
                with pytest.raises(openai.BadRequestError) as caught:
                    await gpt.chat.completions.create(
                        model="sim-small", messages=body.pop("messages"), extra_body=body
                    )
                errors.append(caught.value)
        return errors

    for err, (_extra, param, words) in zip(asyncio.run(main()), CASES, strict=True):
        assert err.param == param, err.message
        assert words in err.message and "translation cannot read" not in err.message
        assert "sim-small" in err.message  # which model could not take it


def test_auto_finding_no_model_names_the_field_too(tmp_path: Path) -> None:
    """`auto` over a pool that speaks only Anthropic's API: every model is ruled out by the
    field the translation cannot read. Its 400 summed them up the old way ("a request the
    anthropic translation cannot read (tools: ...)", `param: null`); it now words the field as
    the named model's 400 does and names it in `param`."""
    pool = ("sim-tiny", "sim-small", "sim-medium", "sim-premium")

    async def main() -> list[openai.BadRequestError]:
        errors = []
        async with (
            sidecar_in_process(tmp_path, anthropic_models=pool) as sc,
            sdks(sc) as (_claude, gpt),
        ):
            for extra, _param, _words in CASES:
                body = {"messages": USER, **extra}
                with pytest.raises(openai.BadRequestError) as caught:
                    await gpt.chat.completions.create(
                        model="auto", messages=body.pop("messages"), extra_body=body
                    )
                errors.append(caught.value)
        return errors

    for err, (_extra, param, words) in zip(asyncio.run(main()), CASES, strict=True):
        assert err.param == param, err.message
        assert words in err.message and "translation cannot read" not in err.message
        assert "No model in the pool can serve this request" in err.message
