"""`PATCH /arbiter/admin/models/{name}` sets a model's `image_tokens` (its image rule), through
the config's own strict parser (image_rules.parse): it answered "Unknown field" before, so a
model's image pricing could only come from the config or its family's default. The patched rule
is what the model's image counts then use (its ceiling, in the budget's count of an image)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arbiter.errors import InvalidRequest
from arbiter.registry import validate_patch
from tests.adversarial.test_probe5_image_data import _vision
from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import sdks

MODEL = "sim-small"
IMAGE = {"type": "input_image", "image_url": "https://example.com/cat.png"}
TEXT = {"type": "input_text", "text": "What is in this picture?"}


def test_the_patch_parses_image_tokens_as_the_config_does() -> None:
    assert validate_patch({"image_tokens": " flat:1300 "}) == {"image_tokens": "flat:1300"}
    assert validate_patch({"image_tokens": "anthropic"}) == {"image_tokens": "anthropic"}
    assert validate_patch({"image_tokens": None}) == {"image_tokens": None}  # the family's
    for bad in ("", "flat:0", "tiles:85", "bogus", "flat:nan", 1300, ["flat:1"]):
        with pytest.raises(InvalidRequest) as info:
            validate_patch({"image_tokens": bad})
        assert info.value.param == "image_tokens", bad


async def _image_share(sc: InProcess) -> int:
    """What one linked image adds to MODEL's counted input (the Responses input_tokens count,
    which reserves each image at the model's rule's ceiling)."""
    async with sdks(sc) as (_, gpt):
        counts = [
            await gpt.responses.input_tokens.count(
                model=MODEL, input=[{"role": "user", "content": content}]
            )
            for content in ([TEXT, IMAGE], [TEXT])
        ]
    return counts[0].input_tokens - counts[1].input_tokens


def test_a_patched_image_rule_is_the_models_rule(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_vision) as sc:
            before = await _image_share(sc)
            assert before != 1300  # the control: the family default (GPT-4o's tiles)
            url = f"/arbiter/admin/models/{MODEL}"
            r = await sc.client.patch(url, json={"image_tokens": "flat:1300"}, headers=sc.admin)
            assert r.status_code == 200, r.text
            assert r.json()["overrides"]["image_tokens"] == "flat:1300"
            assert sc.services.registry[MODEL].image_rule.spec == "flat:1300"
            assert await _image_share(sc) == 1300
            r = await sc.client.patch(url, json={"image_tokens": "flat:-1"}, headers=sc.admin)
            assert r.status_code == 400 and r.json()["error"]["param"] == "image_tokens", r.text
            assert await _image_share(sc) == 1300  # a refused patch changes nothing

    asyncio.run(main())


def test_a_null_image_rule_puts_back_the_family_default(tmp_path: Path) -> None:
    """`image_tokens: null` resets the model to its family's rule (it was a 400, so a patched
    rule could only be replaced by another spelled out): even over a rule the config named."""

    def named_rule(text: str) -> str:  # the config names a rule of its own for the model
        return _vision(text).replace(
            f"[models.{MODEL}]\n", f'[models.{MODEL}]\nimage_tokens = "flat:500"\n', 1
        )

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_vision) as sc:
            family = await _image_share(sc)
        async with sidecar_in_process(tmp_path / "named", edit_config=named_rule) as sc:
            assert sc.services.registry[MODEL].image_rule.spec == "flat:500"
            url = f"/arbiter/admin/models/{MODEL}"
            r = await sc.client.patch(url, json={"image_tokens": "flat:1300"}, headers=sc.admin)
            assert r.status_code == 200, r.text
            assert await _image_share(sc) == 1300
            r = await sc.client.patch(url, json={"image_tokens": None}, headers=sc.admin)
            assert r.status_code == 200, r.text
            assert r.json()["overrides"]["image_tokens"] is None
            assert await _image_share(sc) == family != 1300
            assert sc.services.registry[MODEL].image_rule.spec != "flat:500"

    asyncio.run(main())
