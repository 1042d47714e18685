"""A request no pool model can take (an image, an audio clip, and no model with that capability)
is the client's to fix: a 400 naming the capability, never a 503 that clients retry."""

from __future__ import annotations

import base64
import struct

import httpx
import pytest

from tests.conftest import Sidecar


def _wav(seconds: float) -> str:
    n = int(seconds * 32_000)
    head = (b"RIFF" + struct.pack("<I", 36 + n) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1,
            16_000, 32_000, 2, 16) + b"data" + struct.pack("<I", n))  # fmt: skip
    return base64.b64encode(head + b"\x00" * n).decode()


@pytest.mark.parametrize(
    ("part", "capability"),
    [
        ({"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}, "vision"),
        ({"type": "input_audio", "input_audio": {"data": _wav(0.5), "format": "wav"}}, "audio"),
    ],
)
def test_a_modality_no_model_has_is_a_400_naming_it(
    sidecar: Sidecar, api_key: str, part: dict[str, object], capability: str
) -> None:
    content = [{"type": "text", "text": "What is this?"}, part]
    r = httpx.post(
        f"{sidecar.base_url}/chat/completions",
        headers={"authorization": f"Bearer {api_key}"},
        json={"model": "auto", "messages": [{"role": "user", "content": content}]},
    )
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "no_capable_model" and f"lacks {capability}" in err["message"]
