"""Inline images as clients write data URLs: RFC 2397 lets the header carry parameters
(`;name=x.png`, `;charset=...`) and its tokens in any case (`;BASE64`, `DATA:IMAGE/PNG`); those
were a 400. They are taken, priced by their real size and forwarded as `data:<type>;base64,`;
what is ambiguous (a repeated or misplaced `base64`, a bare word, not base64) stays a 400 naming
the part, in the surface's shape."""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from pathlib import Path

import openai
import orjson
import pytest

from arbiter.data_url import data_url_parts
from arbiter.image_rules import ImageSpec
from arbiter.surfaces.openai_chat import parse_chat_request
from tests.adversarial.test_probe5_image_data import _vision
from tests.budget_harness import Harness, Scripted, settings
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks, sim_requests


def _png_b64(w: int, h: int) -> str:
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", w, h)
    return base64.b64encode(head + b"\x08\x06\x00\x00\x00" * 8).decode()


DATA = _png_b64(300, 200)
TAKEN = [
    f"data:image/png;BASE64,{DATA}",
    f"data:image/png;name=screen.png;base64,{DATA}",
    f"data:image/png;charset=utf-8;Base64,{DATA}",
    f"DATA:IMAGE/PNG;base64,{DATA}",
]
AMBIGUOUS = [
    f"data:image/png;base64;base64,{DATA}",  # twice
    f"data:image/png;base64;name=x.png,{DATA}",  # not last: a parameter without a value
    f"data:image/png;inline;base64,{DATA}",  # a bare word
    "data:image/png,%89PNG%0D%0A",  # percent-encoded, not base64
    f"data:image;base64,{DATA}",  # no subtype
]


def _content(url: str) -> list[dict[str, object]]:
    return [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]


@pytest.mark.parametrize("url", TAKEN)
def test_rfc_2397_forms_are_taken_and_sized(url: str) -> None:
    parts = data_url_parts(url)
    assert not isinstance(parts, str), parts
    assert parts[:2] == ("image/png", DATA)
    body = {"model": "auto", "messages": [{"role": "user", "content": _content(url)}]}
    req = parse_chat_request(orjson.dumps(body))
    assert req.images == (ImageSpec(300, 200, "auto"),)  # its header read, not 1024 x 1024


def test_the_openai_sdk_gets_answers_and_clear_400s(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_vision) as sc, sdks(sc) as (_, gpt):
            for url in TAKEN:
                messages = [{"role": "user", "content": _content(url)}]
                done = await gpt.chat.completions.create(model="auto", messages=messages)  # type: ignore[arg-type]
                assert done.choices[0].message.content, url
                content = [{"type": "input_image", "image_url": url}]
                answer = await gpt.responses.create(
                    model="auto",
                    input=[{"role": "user", "content": content}],  # type: ignore[list-item,misc]
                )
                assert answer.output_text, url
            before = await sim_requests(sc)
            for url in AMBIGUOUS:
                messages = [{"role": "user", "content": _content(url)}]
                with pytest.raises(openai.BadRequestError) as info:
                    await gpt.chat.completions.create(model="auto", messages=messages)  # type: ignore[arg-type]
                assert info.value.param == "messages[0].content[1].image_url.url", url
                assert "data URL" in info.value.message, info.value.message
            assert await sim_requests(sc) == before, "nothing ambiguous reached an upstream"

    asyncio.run(main())


def test_the_upstream_gets_the_canonical_form(tmp_path: Path) -> None:
    async def main() -> None:
        up = Scripted()
        async with Harness(settings(tmp_path, None, capabilities=("vision",)), up) as h:
            for url in TAKEN:
                body = {"messages": [{"role": "user", "content": _content(url)}]}
                r = await h.chat(body)
                assert r.status_code == 200, r.text
                sent = up.bodies[-1]["messages"][0]["content"][1]["image_url"]["url"]
                assert sent == f"data:image/png;base64,{DATA}"

    asyncio.run(main())


def test_the_header_scan_is_bounded_and_linear() -> None:
    started = time.perf_counter()
    for url in ("data:" + ";a=b" * 1_000_000, "data:image/png;" + "x" * 5_000_000):
        assert isinstance(data_url_parts(url), str)  # no ',' near the start: refused
    assert time.perf_counter() - started < 1.0
