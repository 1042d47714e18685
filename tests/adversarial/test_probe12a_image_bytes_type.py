"""Outside probe (twelfth session): an image whose declared media type is not what its bytes
are (a JPEG sent as `data:image/png;base64,...`: screenshots renamed, tools that label every
image PNG). OpenAI reads the bytes and answers; Anthropic answers 400 ("Image does not match the
provided media type"). So an OpenAI client's mislabelled image routed to a Claude model failed
after routing and the reservation, though the client had done what OpenAI accepts; and an
Anthropic client's went to Claude for the same 400. Now the translation to Anthropic sends the
type the bytes show (PNG, JPEG, GIF, WebP magic numbers), and on /v1/messages a mismatch is the
caller's 400 in Anthropic's shape naming the block, before any upstream call."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import anthropic
import pytest

from arbiter.protocols import anthropic_encode
from arbiter.protocols import openai as openai_protocol
from tests.adversarial.test_probe5_image_data import _vision
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks, sim_requests

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAA="  # a PNG header, valid base64
JPEG = base64.b64encode(
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
).decode()
GIF = base64.b64encode(b"GIF89a\x01\x00\x01\x00\x80\x00\x00").decode()


@pytest.mark.parametrize(
    ("declared", "data", "sent"),
    [("image/png", JPEG, "image/jpeg"), ("image/jpeg", PNG, "image/png"),
     ("image/webp", GIF, "image/gif"), ("image/png", PNG, "image/png"),
     ("image/jpg", JPEG, "image/jpeg")],
)  # fmt: skip
def test_the_translation_sends_the_type_the_bytes_show(declared: str, data: str, sent: str) -> None:
    image = {"url": f"data:{declared};base64,{data}"}
    parts = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": image}]
    req = openai_protocol.decode_request(
        {"model": "m", "messages": [{"role": "user", "content": parts}]}
    )
    body = anthropic_encode.encode_request(req, "claude", default_max_tokens=10)
    assert body["messages"][0]["content"][1]["source"]["media_type"] == sent


def test_an_anthropic_image_whose_bytes_are_another_type_is_a_400(tmp_path: Path) -> None:
    def ask(media_type: str, data: str) -> Any:
        source = {"type": "base64", "media_type": media_type, "data": data}
        return [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                             {"type": "image", "source": source}]}]  # fmt: skip

    async def main() -> None:
        async with (
            sidecar_in_process(
                tmp_path, anthropic_models=("sim-medium",), edit_config=_vision
            ) as sc,
            sdks(sc) as (claude, _),
        ):
            before = await sim_requests(sc)
            for model in ("sim-medium", "auto"):
                with pytest.raises(anthropic.BadRequestError) as info:
                    await claude.messages.create(
                        model=model, max_tokens=64, messages=ask("image/png", JPEG)
                    )
                err = info.value.body
                assert isinstance(err, dict) and err["error"]["type"] == "invalid_request_error"
                message = err["error"]["message"]
                assert message.startswith("messages.0.content.1.source.data:"), message
                assert "image/jpeg" in message, message
            assert await sim_requests(sc) == before, "nothing reached an upstream"
            answer = await claude.messages.create(
                model="sim-medium", max_tokens=64, messages=ask("image/png", PNG)
            )
            assert answer.content

    asyncio.run(main())
