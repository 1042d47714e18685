"""A linked image (or document) is keyed by its URL, and one URL may serve other bytes tomorrow
(a webcam frame, a reused upload path): by default such requests bypass the response cache, so a
second ask about "the latest frame" reaches the upstream. `cache.linked_media = true` caches
them keyed by the URL; an inline image (its bytes are in the key) is cached either way."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

from tests.budget_harness import Harness, Scripted, settings

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 24).decode()


def _ask(url: str) -> dict[str, Any]:
    image = {"type": "image_url", "image_url": {"url": url}}
    text = {"type": "text", "text": "What is in the latest frame?"}
    return {"messages": [{"role": "user", "content": [text, image]}], "max_tokens": 20}


def _calls(tmp_path: Path, url: str, cache: str) -> tuple[int, list[str]]:
    async def main() -> tuple[int, list[str]]:
        up = Scripted()
        extra = f"[cache]\nenabled = true\n{cache}"
        async with Harness(settings(tmp_path, None, extra, capabilities=("vision",)), up) as h:
            seen = []
            for _ in range(2):
                r = await h.chat(_ask(url))
                assert r.status_code == 200, r.text
                seen.append(r.headers.get("x-arbiter-cache", ""))
            return len(up.bodies), seen

    return asyncio.run(main())


def test_a_linked_image_is_not_answered_from_the_cache_by_default(tmp_path: Path) -> None:
    calls, seen = _calls(tmp_path, "https://cam.example.com/latest.jpg", "")
    assert calls == 2, seen
    assert "hit" not in seen


def test_linked_media_on_caches_by_url(tmp_path: Path) -> None:
    calls, seen = _calls(tmp_path, "https://cam.example.com/latest.jpg", "linked_media = true\n")
    assert calls == 1 and seen[-1] == "hit", seen


def test_an_inline_image_is_cached_by_its_bytes(tmp_path: Path) -> None:
    calls, seen = _calls(tmp_path, PNG, "")
    assert calls == 1 and seen[-1] == "hit", seen
