"""The in-process harness itself: the app answers routed calls, errors and admin routes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.inproc import sidecar_in_process

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "What is 2 + 2?"}]}


def test_routed_call_and_decision_feed_in_process(tmp_path: Path) -> None:
    asyncio.run(_routed_call(tmp_path))


async def _routed_call(tmp_path: Path) -> None:
    async with sidecar_in_process(tmp_path) as sc:
        r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=sc.auth)
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"]
        decision = r.headers["x-arbiter-decision-id"]
        feed = await sc.client.get("/arbiter/decisions", headers=sc.auth)
        assert feed.json()["data"][0]["id"] == decision
        unauth = await sc.client.post("/v1/chat/completions", json=CHAT)
        assert unauth.status_code == 401 and unauth.json()["error"]["code"]
