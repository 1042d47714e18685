"""Outside probe: inline image data that is not an image in base64 (garbage, bad padding, an
empty payload, a media type that is not an image), sent through the official SDKs. It was
forwarded upstream as it came: the upstream's 400 came back after routing (billed tries, a
failover), or an upstream that does not check passed garbage to the model. It is now the
caller's 400 in its surface's shape, naming the content part, before any upstream call; the
check is strict base64 decoding's, decided without decoding (image_data.py)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import random
from pathlib import Path

import anthropic
import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks, sim_requests

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAA="  # a PNG header, valid base64
BAD = {
    "not-base64": ("image/png", "this is not base64!"),
    "bad-padding": ("image/png", PNG[:-2]),  # 38 characters: not a multiple of 4
    "padding-inside": ("image/png", "iVBO=w0K"),
    "empty": ("image/png", ""),
}
NOT_IMAGE = ("text/plain", base64.b64encode(b"hello").decode())


def _vision(text: str) -> str:
    """The demo pool, every model able to see (else any image is a 400 for that reason)."""
    return text.replace('"json-schema", "tools"]', '"json-schema", "tools", "vision"]')


def _openai_parts(media_type: str, data: str) -> list[dict[str, object]]:
    return [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{data}"}},
    ]


@pytest.mark.parametrize("case", [*BAD, "not-an-image"])
def test_bad_image_data_is_an_openai_400_naming_the_part(tmp_path: Path, case: str) -> None:
    media_type, data = BAD.get(case, NOT_IMAGE)

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_vision) as sc, sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            messages = [{"role": "user", "content": _openai_parts(media_type, data)}]
            with pytest.raises(openai.BadRequestError) as info:
                await gpt.chat.completions.create(model="auto", messages=messages)  # type: ignore[arg-type]
            err = info.value
            assert err.type == "invalid_request_error", err.body
            assert err.param == "messages[0].content[1].image_url.url", err.body
            assert await sim_requests(sc) == before, "nothing reached an upstream"
            # the Responses surface reads the same part
            content = [{"type": "input_image", "image_url": f"data:{media_type};base64,{data}"}]
            with pytest.raises(openai.BadRequestError) as info:
                await gpt.responses.create(
                    model="auto",
                    input=[{"role": "user", "content": content}],  # type: ignore[list-item,misc]
                )
            assert info.value.param == "input[0].content[0].image_url", info.value.body
            assert await sim_requests(sc) == before

    asyncio.run(main())


@pytest.mark.parametrize("case", list(BAD))
def test_bad_image_data_is_an_anthropic_400_naming_the_block(tmp_path: Path, case: str) -> None:
    media_type, data = BAD[case]

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_vision) as sc, sdks(sc) as (claude, _):
            before = await sim_requests(sc)
            image = {"type": "base64", "media_type": media_type, "data": data}
            content = [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": image},
            ]
            with pytest.raises(anthropic.BadRequestError) as info:
                await claude.messages.create(
                    model="auto",
                    max_tokens=20,
                    messages=[{"role": "user", "content": content}],  # type: ignore[typeddict-item]
                )
            body = info.value.body
            assert isinstance(body, dict) and body["error"]["type"] == "invalid_request_error"
            assert "messages.0.content.1.source.data" in body["error"]["message"], body
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    asyncio.run(main())


def test_a_valid_image_still_passes(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=_vision) as sc,
            sdks(sc) as (claude, gpt),
        ):
            messages = [{"role": "user", "content": _openai_parts("image/png", PNG)}]
            answer = await gpt.chat.completions.create(model="auto", messages=messages)  # type: ignore[arg-type]
            assert answer.choices[0].message.content
            image = {"type": "base64", "media_type": "image/png", "data": PNG}
            message = await claude.messages.create(
                model="auto",
                max_tokens=20,
                messages=[{"role": "user", "content": [{"type": "image", "source": image}]}],  # type: ignore[list-item]
            )
            assert message.content

    asyncio.run(main())


def test_the_check_is_strict_decoding_of_a_whole_padded_text() -> None:
    """Decided without decoding, yet the same answer as strict decoding (a2b_base64 with
    strict_mode) of a text of whole 4-character groups with at most two `=` (both decoders
    take excess padding after a whole group, "QUJD=", which RFC 4648 does not), on random
    strings over the alphabet, padding and a few wrong characters (seeded, bounded)."""
    from arbiter.image_data import base64_problem  # (here: the module is new)

    rng = random.Random(5)
    chars = "AZaz09+/=" + "=" * 4 + "-_ \n!é"
    for _ in range(5000):
        text = "".join(rng.choice(chars) for _ in range(rng.randrange(0, 13)))
        whole = len(text) % 4 == 0 and not text.endswith("===")
        try:
            binascii.a2b_base64(text.encode() if text.isascii() else b"!", strict_mode=True)
            valid = bool(text) and whole  # an empty payload decodes, but is no image
        except ValueError:
            valid = False
        assert (base64_problem(text) is None) == valid, text
