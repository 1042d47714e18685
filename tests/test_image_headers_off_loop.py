"""The budget reads each inline image's header for its size (worst_case.image_parts): the data
URL's payload copied, up to 48 KiB of it decoded, a JPEG's markers walked to its frame. It ran
on the event loop for every capped request, after the parse (which a big body gets in a thread)
had read them once already: a 4 MB body of 60 crafted JPEGs (4-byte markers) held the loop for
~1 s (at load 9.7). Now the walk stops after 64 markers (past that the size is unknown: the
rule's ceiling, never under-reserved), and big inline images are read in a worker thread."""

from __future__ import annotations

import asyncio
import base64
import struct
import threading
from pathlib import Path
from typing import Any

import pytest

from arbiter import media, worst_case
from tests.adversarial.test_probe5_image_data import _vision
from tests.inproc import sidecar_in_process

CAP = '\n[[budgets.caps]]\nscope = "tenant"\nlimit_usd = 50\nwindow = "total"\n'


def _jpeg(markers: int, width: int = 640, height: int = 480) -> bytes:
    """SOI, `markers` empty APP1 segments (4 bytes each), then a baseline frame header."""
    sof = b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", height, width) + b"\x03" + b"\0" * 9
    return b"\xff\xd8" + b"\xff\xe1\x00\x02" * markers + sof


def _url(raw: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(raw).decode()


def test_the_jpeg_walk_is_bounded() -> None:
    assert media.image_size(_url(_jpeg(3))) == (640, 480)  # a real file's few markers
    assert media.image_size(_url(_jpeg(60))) == (640, 480)
    assert media.image_size(_url(_jpeg(100))) is None  # unknown: the ceiling, never less
    spec = media.image_bound_spec({"type": "image_url", "image_url": {"url": _url(_jpeg(100))}})
    assert (spec.width, spec.height) == (0, 0)


@pytest.mark.parametrize(("copies", "off_loop"), [(1, False), (40, True)])
def test_big_inline_images_are_read_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, copies: int, off_loop: bool
) -> None:
    threads: list[bool] = []
    real = worst_case.image_parts

    def spy(body: dict[str, Any]) -> Any:
        found = real(body)
        if found:  # a body with images (a judge's call has none)
            threads.append(threading.current_thread() is threading.main_thread())
        return found

    monkeypatch.setattr(worst_case, "image_parts", spy)
    image = {"type": "image_url", "image_url": {"url": _url(_jpeg(2000))}}  # 10.7 KB each

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: _vision(t) + CAP) as sc:
            content = [{"type": "text", "text": "What are these?"}, *[image] * copies]
            r = await sc.client.post(
                "/v1/chat/completions",
                json={"model": "sim-small", "messages": [{"role": "user", "content": content}]},
                headers=sc.auth,
            )
            assert r.status_code == 200, r.text

    asyncio.run(main())
    assert threads, "the budget read the images"
    assert all(on_loop is not off_loop for on_loop in threads), threads
