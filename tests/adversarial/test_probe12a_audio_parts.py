"""Outside probe (twelfth session): a chat `input_audio` part whose `format` is not one the spec
allows (wav, mp3) or whose `data` is not base64 (garbage, bad padding, empty) was forwarded as it
came to an audio-capable model: OpenAI answers such a part with a 400 after the call was routed
and its worst case reserved (a failed attempt, then a failover through every audio model), and
a server that does not check passed garbage to the model. It is now the caller's 400 naming the
part's field, before any upstream call, as inline image data already was (probe5_image_data).
A well-formed clip still reaches the model."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks, sim_requests

# a 44-byte WAV header for 1 s of 8 kHz mono 16-bit audio, then its silence
WAV = base64.b64encode(
    b"RIFF" + (36 + 16000).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
    + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
    + (16000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    + b"data" + (16000).to_bytes(4, "little") + bytes(16000)
).decode()  # fmt: skip
BAD: dict[str, tuple[str, str, str]] = {  # case: (format, data, the field named)
    "format-ogg": ("ogg", WAV, "format"),
    "format-upper": ("WAV", WAV, "format"),
    "format-empty": ("", WAV, "format"),
    "data-not-base64": ("wav", "this is not base64!", "data"),
    "data-bad-padding": ("wav", WAV[:-2], "data"),
    "data-empty": ("mp3", "", "data"),
}


def _audio(text: str) -> str:
    """The demo pool, every model able to hear (else any clip is a 400 for that reason)."""
    return text.replace('"json-schema", "tools"]', '"json-schema", "tools", "audio"]')


def _messages(fmt: str, data: str) -> list[dict[str, Any]]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Transcribe this."},
                {"type": "input_audio", "input_audio": {"data": data, "format": fmt}},
            ],
        }
    ]


@pytest.mark.parametrize("case", list(BAD))
def test_bad_audio_part_is_a_400_naming_the_field_before_any_call(
    tmp_path: Path, case: str
) -> None:
    fmt, data, field = BAD[case]

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_audio) as sc, sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            for model in ("auto", "sim-small"):
                with pytest.raises(openai.BadRequestError) as info:
                    await gpt.chat.completions.create(
                        model=model,
                        messages=_messages(fmt, data),  # type: ignore[arg-type]
                    )
                err = info.value
                assert err.type == "invalid_request_error", err.body
                assert err.param == f"messages[0].content[1].input_audio.{field}", err.body
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    asyncio.run(main())


def test_a_well_formed_clip_still_reaches_the_model(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_audio) as sc, sdks(sc) as (_, gpt):
            for fmt in ("wav", "mp3"):
                answer = await gpt.chat.completions.create(
                    model="sim-small",
                    messages=_messages(fmt, WAV),  # type: ignore[arg-type]
                )
                assert answer.choices[0].message.content, answer

    asyncio.run(main())
