"""Outside probe: inline image data that is valid base64 but no image. A "PNG" that is an HTML
page (a login page or error body saved as the screenshot), or an SVG (XML text, with a
billion-laughs entity table here), passed every edge check: it was routed, reserved and sent,
for OpenAI or Anthropic to refuse (or, with SVG, for an upstream that parses it to expand).
Now it is the caller's 400 in its surface's shape, naming the part, before any upstream call;
the check reads only the payload's first bytes (image_data.py), decoding nothing else."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import anthropic
import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks, sim_requests

HTML = base64.b64encode(b"<!DOCTYPE html><html><body>Sign in</body></html>").decode()
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;">]><svg xmlns="http://www.w3.org/2000/svg" width="4096" '
    b'height="4096"><text>&c;</text></svg>'
)
SVG = base64.b64encode(LAUGHS).decode()
CASES = {"html-as-png": ("image/png", HTML), "html-as-jpeg": ("image/jpeg", HTML),
         "svg": ("image/svg+xml", SVG)}  # fmt: skip


def _vision(text: str) -> str:
    """The demo pool, every model able to see (else any image is a 400 for that reason)."""
    return text.replace('"json-schema", "tools"]', '"json-schema", "tools", "vision"]')


@pytest.mark.parametrize("case", list(CASES))
def test_an_image_that_is_no_image_is_an_openai_400(tmp_path: Path, case: str) -> None:
    media_type, data = CASES[case]
    url = f"data:{media_type};base64,{data}"

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_vision) as sc, sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            content = [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": url}},
            ]
            with pytest.raises(openai.BadRequestError) as info:
                await gpt.chat.completions.create(
                    model="auto",
                    messages=[{"role": "user", "content": content}],  # type: ignore[misc,list-item]
                )
            assert info.value.type == "invalid_request_error", info.value.body
            assert info.value.param == "messages[0].content[1].image_url.url", info.value.body
            with pytest.raises(openai.BadRequestError) as info:
                await gpt.responses.create(
                    model="auto",
                    input=[
                        {"role": "user", "content": [{"type": "input_image", "image_url": url}]}
                    ],  # type: ignore[list-item,misc,typeddict-item]
                )
            assert info.value.param == "input[0].content[0].image_url", info.value.body
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    asyncio.run(main())


def test_an_image_that_is_html_is_an_anthropic_400(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_vision) as sc, sdks(sc) as (claude, _):
            before = await sim_requests(sc)
            image = {"type": "base64", "media_type": "image/png", "data": HTML}
            with pytest.raises(anthropic.BadRequestError) as info:
                await claude.messages.create(
                    model="auto",
                    max_tokens=20,
                    messages=[{"role": "user", "content": [{"type": "image", "source": image}]}],  # type: ignore[list-item]
                )
            body = info.value.body
            assert isinstance(body, dict) and body["error"]["type"] == "invalid_request_error"
            assert "messages.0.content.0.source.data" in body["error"]["message"], body
            assert "not a JPEG, PNG, GIF or WebP" in body["error"]["message"], body
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    asyncio.run(main())
