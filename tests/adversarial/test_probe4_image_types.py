"""Outside probe: an OpenAI image data URL whose media type Anthropic does not take, on a chat
request routed to a Claude model. Anthropic takes image/jpeg, png, gif and webp only; the
translation sent `data:text/plain;base64,...` (or the common misspelling `image/jpg`, which
OpenAI takes) as it came, and Anthropic's 400 came back after routing (`upstream_rejected`).
`image/jpg` is now sent as `image/jpeg`; any other type keeps Claude models out of the choice
(a request pinned to one gets a 400 naming the image type, before any call)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from arbiter.protocols import anthropic_encode, compat
from arbiter.protocols import openai as openai_protocol
from tests.adversarial.test_probe5_image_data import _vision
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sim_requests

CLAUDE = "sim-medium"
PNG_HEAD = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAA="
JPEG_HEAD = "/9j/4AAQSkZJRgABAQAAAQABAAA="  # what image/jpg labels (the bytes' type is sent)


def _ask(media_type: str, data: str = PNG_HEAD) -> list[dict[str, object]]:
    url = f"data:{media_type};base64,{data}"
    parts = [{"type": "text", "text": "What is this?"},
             {"type": "image_url", "image_url": {"url": url}}]  # fmt: skip
    return [{"role": "user", "content": parts}]


def test_jpg_is_sent_as_jpeg_and_other_types_do_not_translate() -> None:
    jpg = openai_protocol.decode_request({"model": "m", "messages": _ask("image/jpg", JPEG_HEAD)})
    assert compat.untranslatable(jpg, "anthropic") is None
    body = anthropic_encode.encode_request(jpg, "claude", default_max_tokens=10)
    assert body["messages"][0]["content"][1]["source"]["media_type"] == "image/jpeg"
    text = openai_protocol.decode_request({"model": "m", "messages": _ask("text/plain")})
    assert "text/plain" in (compat.untranslatable(text, "anthropic") or "")


def test_a_claude_model_is_never_sent_an_image_type_it_refuses(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(
            tmp_path, anthropic_models=(CLAUDE,), edit_config=_vision
        ) as sc:
            chat = {"model": CLAUDE, "messages": _ask("image/jpg")}
            r = await sc.client.post("/v1/chat/completions", json=chat, headers=sc.auth)
            assert r.status_code == 200, r.text
            before = await sim_requests(sc)
            chat = {"model": CLAUDE, "messages": _ask("text/plain")}
            r = await sc.client.post("/v1/chat/completions", json=chat, headers=sc.auth)
            assert r.status_code == 400, r.text
            error = r.json()["error"]
            assert error["code"] == "invalid_request" and "text/plain" in error["message"]
            assert await sim_requests(sc) == before

    asyncio.run(main())
