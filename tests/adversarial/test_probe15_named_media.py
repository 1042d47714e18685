"""Outside probe: a request carrying an image or an audio clip that NAMES a model without the
`vision` / `audio` capability. Under `auto` that model is ineligible ("lacks vision"), but named
it was reserved for and called, for the upstream to refuse the part it cannot read (or, a
text-only server that ignores it, to answer blind and bill). Now it is the caller's 400
`no_capable_model` naming the capability, in its surface's shape, before any upstream call, as
a named model without `json` already is for `response_format`."""

from __future__ import annotations

import asyncio
import base64
import struct
from pathlib import Path

import anthropic
import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks, sim_requests

PNG = base64.b64encode(
    b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 64, 64) + b"\0" * 9
).decode()
_N = 16_000  # 0.5 s of 16 kHz mono 16-bit PCM
WAV = base64.b64encode(
    b"RIFF" + struct.pack("<I", 36 + _N) + b"WAVEfmt "
    + struct.pack("<IHHIIHH", 16, 1, 1, 16_000, 32_000, 2, 16) + b"data" + struct.pack("<I", _N)
    + b"\0" * _N
).decode()  # fmt: skip
PARTS = {
    "vision": {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    "audio": {"type": "input_audio", "input_audio": {"data": WAV, "format": "wav"}},
}


def _medium_sees(text: str) -> str:
    """sim-medium with vision and audio, the other demo models without (the control)."""
    head = "[models.sim-medium]\n"
    at = text.index(head)
    caps = '["chat", "json", "json-schema", "tools"]'
    end = text.index(caps, at) + len(caps)
    return text[:at] + text[at:end].replace(caps, caps[:-1] + ', "vision", "audio"]') + text[end:]


@pytest.mark.parametrize("capability", list(PARTS))
def test_a_named_model_without_the_capability_is_an_openai_400(
    tmp_path: Path, capability: str
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            content = [{"type": "text", "text": "What is this?"}, PARTS[capability]]
            with pytest.raises(openai.BadRequestError) as info:
                await gpt.chat.completions.create(
                    model="sim-medium",
                    messages=[{"role": "user", "content": content}],  # type: ignore[misc,list-item]
                )
            assert info.value.code == "no_capable_model", info.value.body
            assert "`sim-medium`" in info.value.message and f"lacks {capability}" in (
                info.value.message
            ), info.value.body
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    asyncio.run(main())


def test_a_named_model_without_vision_is_an_anthropic_400(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (claude, _):
            before = await sim_requests(sc)
            image = {"type": "base64", "media_type": "image/png", "data": PNG}
            with pytest.raises(anthropic.BadRequestError) as info:
                await claude.messages.create(
                    model="sim-medium",
                    max_tokens=20,
                    messages=[{"role": "user", "content": [{"type": "image", "source": image}]}],  # type: ignore[list-item]
                )
            body = info.value.body
            assert isinstance(body, dict) and body["error"]["type"] == "invalid_request_error"
            assert "lacks vision" in body["error"]["message"], body
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    asyncio.run(main())


def test_a_named_model_with_the_capabilities_still_serves_them(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=_medium_sees) as sc,
            sdks(sc) as (_, gpt),
        ):
            for part in PARTS.values():
                content = [{"type": "text", "text": "What is this?"}, part]
                answer = await gpt.chat.completions.create(
                    model="sim-medium",
                    messages=[{"role": "user", "content": content}],  # type: ignore[misc,list-item]
                )
                assert answer.model == "sim-medium" and answer.choices[0].message.content

    asyncio.run(main())
