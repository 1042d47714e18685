"""probe24a's rig: one request to a real sidecar through an official SDK, read for the cache's
verdict (`x-arbiter-cache`). Shared by tests/test_probe24a_semantic_*.py."""

from __future__ import annotations

from typing import Any

import anthropic
import openai

from tests.conftest import ADMIN_KEY, Sidecar


def cache_status(
    sc: Sidecar,
    ask: str | dict[str, Any],
    limit: int = 300,
    sdk: str = "openai",
    *,
    key: str = ADMIN_KEY,
    headers: dict[str, str] | None = None,
) -> str:
    """The x-arbiter-cache header of one request of model sim-small: `ask` the user's text, or
    (openai) the body's fields; max_tokens `limit` (a test gives each pair its own: another
    context key, a partition of its own)."""
    body: dict[str, Any] = (
        {"messages": [{"role": "user", "content": ask}]} if isinstance(ask, str) else ask
    )
    if sdk == "openai":
        with openai.OpenAI(base_url=sc.base_url, api_key=key, max_retries=0, timeout=60) as gpt:
            raw = gpt.chat.completions.with_raw_response.create(
                **{"model": "sim-small", "max_tokens": limit, **body}, extra_headers=headers
            )
            raw.parse()
            return str(raw.headers["x-arbiter-cache"])
    with anthropic.Anthropic(base_url=sc.root_url, api_key=key, max_retries=0, timeout=60) as an:
        msg = an.messages.with_raw_response.create(
            model="sim-small", max_tokens=limit, messages=body["messages"], extra_headers=headers
        )
        msg.parse()
        return str(msg.headers["x-arbiter-cache"])
