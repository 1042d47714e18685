"""Outside probe (ninth session): a routed chat request that asks for spoken output
(`modalities: ["text", "audio"]` with `audio: {voice, format}`, OpenAI's documented way to get
audio back). `auto` routed it like any text request, to a model without the "audio" capability,
and the client got 200 with a text-only message and no `message.audio`: what it asked for
silently left out. Audio in the answer needs an audio model as audio in the prompt does: with
none in the pool it is the caller's 400 naming the capability, with one it is chosen."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.inproc import sidecar_in_process

SPOKEN = {
    "model": "auto",
    "modalities": ["text", "audio"],
    "audio": {"voice": "alloy", "format": "wav"},
    "messages": [{"role": "user", "content": "Say hello."}],
}
AUDIO_MODEL = "sim-small"


def _sim_small_hears(text: str) -> str:
    head = f"[models.{AUDIO_MODEL}]"
    start = text.index(head)
    caps = 'capabilities = ["chat", "json", "json-schema", "tools"]'
    at = text.index(caps, start)
    return text[:at] + caps.replace("]", ', "audio"]') + text[at + len(caps) :]


def test_audio_output_without_an_audio_model_is_a_400_naming_it(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            for body in (SPOKEN, {**SPOKEN, "modalities": ["audio"]}):
                r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
                assert r.status_code == 400, r.text
                error = r.json()["error"]
                assert error["code"] == "no_capable_model" and "audio" in error["message"]
            text_only = {**SPOKEN, "modalities": ["text"]}
            text_only.pop("audio")
            r = await sc.client.post("/v1/chat/completions", json=text_only, headers=sc.auth)
            assert r.status_code == 200, r.text

    asyncio.run(main())


def test_audio_output_is_routed_to_an_audio_model(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_sim_small_hears) as sc:
            for _ in range(3):
                r = await sc.client.post("/v1/chat/completions", json=SPOKEN, headers=sc.auth)
                assert r.status_code == 200, r.text
                assert r.headers["x-arbiter-model"] == AUDIO_MODEL

    asyncio.run(main())
