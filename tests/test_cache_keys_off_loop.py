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
