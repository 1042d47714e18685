"""Media parts refused in the caller's terms, whichever form they take.

- /v1/responses: an `input_file` inside a `function_call_output`'s `output` was refused naming
  `input[i].content[j]`, a field that item does not have: the param now names `output`.
- /v1/chat/completions: an `input_image` part whose `image_url` is the URL itself (vLLM's
  string form) went upstream unchecked when it was a data URL (not an image, bad base64), while
  the object form (`image_url.url`) was a 400: both are checked the same way now, each refusal
  naming its own path. (Linked images were already held to `media.image_url_hosts` in both
  forms: the control below.)

Read through the official openai SDK."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

CALL = {"type": "function_call", "call_id": "call_1", "name": "fetch", "arguments": "{}"}
TOOLS: Any = [{"type": "function", "name": "fetch", "parameters": {"type": "object"}}]
NOT_BASE64 = "data:image/png;base64,%%%not base64%%%"
NOT_AN_IMAGE = "data:text/plain;base64,aGVsbG8="


async def _refused(call: Any) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as refused:
        await call
    return refused.value


def test_a_tool_outputs_file_is_refused_under_output(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            for part, param in [
                ({"type": "input_file", "file_url": "https://example.com/a.pdf"},
                 "input[1].output[0].file_url"),
                ({"type": "input_file", "filename": "a.pdf"}, "input[1].output[0]"),
                ({"type": "input_image"}, "input[1].output[0].image_url"),
            ]:  # fmt: skip
                output = {"type": "function_call_output", "call_id": "call_1", "output": [part]}
                err = await _refused(
                    gpt.responses.create(model="sim-small", input=[CALL, output], tools=TOOLS)
                )
                assert err.param == param, (part, err.param, err.message)

    asyncio.run(main())


def test_a_string_form_input_image_is_checked_like_the_object_form(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            at = "messages[0].content[1]"
            for url in (NOT_BASE64, NOT_AN_IMAGE, "http://127.0.0.1/cat.png"):
                for part, param in [
                    ({"type": "input_image", "image_url": url}, f"{at}.image_url"),
                    ({"type": "image_url", "image_url": {"url": url}}, f"{at}.image_url.url"),
                ]:
                    content = [{"type": "text", "text": "What is it?"}, part]
                    err = await _refused(
                        gpt.chat.completions.create(
                            model="sim-small", messages=[{"role": "user", "content": content}]
                        )
                    )
                    assert err.param == param, (url, part, err.param, err.message)

    asyncio.run(main())
