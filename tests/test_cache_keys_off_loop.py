"""A long prompt's cache keys are worked out off the event loop, and still hit.

keys_for serialises and hashes the whole body (twice): ~10 ms of the loop at 1 MB of CJK on the
dev box (bench/loop_time_by_prompt_size.py)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from arbiter.cache import service
from tests.adversarial.test_probe5_image_data import _vision
from tests.inproc import sidecar_in_process

BIG = "路由模型的成本与质量之间需要权衡。 Which one is cheaper? " * 25_000  # ~1 MB of UTF-8


def _edit(text: str) -> str:
    text = text.replace("context_window = 32000", "context_window = 2000000")  # 1 MB is served
    return text + "\n[cache]\nenabled = true\n"


def test_a_1mb_prompt_is_keyed_off_the_loop_and_hits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, bool]] = []  # (prompt chars, keyed on the loop's thread)
    real = service.keys_for
    loop_thread = threading.get_ident()

    def spy(protocol: Any, body: dict[str, Any], *args: Any) -> Any:
        text = body["messages"][-1]["content"]
        calls.append((len(text), threading.get_ident() == loop_thread))
        return real(protocol, body, *args)

    monkeypatch.setattr(service, "keys_for", spy)

    async def main() -> list[str]:
        async with sidecar_in_process(tmp_path, edit_config=_edit) as sc:
            seen = []
            for text in ("What is 2+2?", BIG, BIG):
                body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
                r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
                assert r.status_code == 200, r.text[:300]
                seen.append(r.headers["x-arbiter-cache"])
            return seen

    statuses = asyncio.run(main())
    assert statuses == ["miss", "miss", "hit"]  # the keys of the long one are the same each time
    assert calls == [(12, True), (len(BIG), False), (len(BIG), False)]  # the loop's before


def _png(width: int, height: int, filler: int) -> str:
    """A real PNG (noise, so it does not compress) as a data URL of about `filler` bytes."""
    import base64
    import os
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = width * 3
    rows = b"".join(b"\x00" + os.urandom(row) for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 0))
    png += chunk(b"IEND", b"")
    assert len(png) >= filler
    return "data:image/png;base64," + base64.b64encode(png).decode()


def test_a_body_big_by_its_image_is_keyed_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 32 KiB switch read the prompt's text only: a short question with a 400 KB image
    (the body marked big by the surface's decode) hashed the whole body on the loop."""
    image = _png(400, 350, 400_000)
    on_loop: list[bool] = []
    real = service.keys_for
    loop_thread = threading.get_ident()

    def spy(protocol: Any, body: dict[str, Any], *args: Any) -> Any:
        on_loop.append(threading.get_ident() == loop_thread)
        return real(protocol, body, *args)

    monkeypatch.setattr(service, "keys_for", spy)
    content = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": image}},
    ]

    async def main() -> list[str]:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: _edit(_vision(t))) as sc:
            seen = []
            for _ in range(2):
                body = {"model": "auto", "messages": [{"role": "user", "content": content}]}
                r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
                assert r.status_code == 200, r.text[:300]
                seen.append(r.headers["x-arbiter-cache"])
            return seen

    assert asyncio.run(main()) == ["miss", "hit"]
    assert on_loop == [False, False]
