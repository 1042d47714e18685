"""Outside probe: a `tool_choice` that forces a call of a tool the request does not offer. OpenAI
refuses `{"type": "function", "function": {"name": "X"}}` when no tool in `tools` is named X, and
any forcing tool_choice without `tools`; Anthropic refuses `{"type": "tool", "name": "X"}` the
same way. Arbiter passed them upstream: an OpenAI-protocol model that does not check answered
200 (its answer "calling" a tool nobody offered), a Claude model answered 400 after routing
(`upstream_rejected`). Each is now the caller's 400 at the edge, in the surface's own shape,
before any upstream is called. "auto" and "none" without tools still work (test_probe2's
frameworks), and are no longer forwarded to an OpenAI upstream (which refuses them too)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter.surfaces.openai_chat import parse_chat_request
from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import sim_requests

CLAUDE = "sim-medium"
GPT = "sim-small"
HI = [{"role": "user", "content": "Say hello."}]
FN = {"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}
NAMED_X = {"type": "function", "function": {"name": "x"}}

# (path, body without model, where the problem is)
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("/v1/chat/completions", {"messages": HI, "tools": [FN], "tool_choice": NAMED_X},
     "tool_choice.function.name"),
    ("/v1/chat/completions", {"messages": HI, "tool_choice": NAMED_X}, "tool_choice"),
    ("/v1/chat/completions", {"messages": HI, "tool_choice": "required"}, "tool_choice"),
    ("/v1/messages", {"messages": HI, "max_tokens": 20,
                      "tool_choice": {"type": "tool", "name": "x"},
                      "tools": [{"name": "w", "input_schema": {"type": "object"}}]},
     "tool_choice.name"),
    ("/v1/responses", {"input": "hi", "tool_choice": {"type": "function", "name": "x"},
                       "tools": [{"type": "function", "name": "w", "parameters": {}}]},
     "tool_choice.name"),
    ("/v1/responses", {"input": "hi", "tool_choice": "required"}, "tool_choice"),
]  # fmt: skip


def _run(tmp_path: Path, body: Any) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc:
            await body(sc)

    asyncio.run(main())


@pytest.mark.parametrize("model", [GPT, CLAUDE, "auto"])
def test_a_forced_tool_that_is_not_offered_is_the_callers_400(tmp_path: Path, model: str) -> None:
    async def body(sc: InProcess) -> None:
        before = await sim_requests(sc)
        for path, payload, param in BAD:
            r = await sc.client.post(
                path, json={"model": model, **payload}, headers=sc.auth_for(path)
            )
            assert r.status_code == 400, (path, payload, r.text)
            if path == "/v1/messages":
                assert r.json()["type"] == "error", r.text
                error = r.json()["error"]
                assert error["type"] == "invalid_request_error" and "tool" in error["message"]
            else:
                error = r.json()["error"]
                assert error["code"] == "invalid_request" and error["param"] == param, r.text
        assert await sim_requests(sc) == before, "a refused request reached an upstream"

    _run(tmp_path, body)


def test_an_offered_forced_tool_still_goes_through(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        named = {"type": "function", "function": {"name": "w"}}
        for model in (GPT, CLAUDE):
            for choice in (named, "required"):
                chat = {"model": model, "messages": HI, "tools": [FN], "tool_choice": choice}
                r = await sc.client.post("/v1/chat/completions", json=chat, headers=sc.auth)
                assert r.status_code == 200, (model, choice, r.text)

    _run(tmp_path, body)


def test_idle_tool_fields_without_tools_are_not_forwarded() -> None:
    """ "auto"/"none" and parallel_tool_calls mean nothing without tools (and OpenAI refuses
    them): the body an OpenAI upstream gets has none of them."""
    for extra in ({"tool_choice": "auto"}, {"tool_choice": "none", "parallel_tool_calls": True}):
        req = parse_chat_request(orjson.dumps({"model": "m", "messages": HI, **extra}))
        assert "tool_choice" not in req.body and "parallel_tool_calls" not in req.body
