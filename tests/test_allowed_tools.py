"""OpenAI's `allowed_tools` tool_choice crosses protocols: an Anthropic model gets only the tools
it allows, with `auto` or `any` per its mode (what Anthropic can carry), instead of a 400 saying
the translation cannot read the request. Through the openai SDK, by name and `auto`; the
Responses API's flat form too."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from arbiter.errors import InvalidRequest
from arbiter.protocols import anthropic as codec
from arbiter.protocols import openai as oai
from arbiter.protocols import openai_responses as responses
from arbiter.protocols import untranslatable
from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import check_completion, sdks

CLAUDE = "sim-medium"  # served over Anthropic's API


def fn(name: str) -> dict[str, Any]:
    params = {"type": "object", "properties": {"city": {"type": "string"}}}
    return {"type": "function", "function": {"name": name, "parameters": params}}


TOOLS = [fn("get_weather"), fn("get_time"), fn("delete_everything")]
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def allowed(mode: str, *names: str) -> dict[str, Any]:
    listed = [{"type": "function", "function": {"name": n}} for n in names]
    return {"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": listed}}


@pytest.mark.parametrize(("mode", "kind"), [("auto", "auto"), ("required", "any")])
def test_allowed_tools_reach_anthropic_as_the_tools_it_allows(mode: str, kind: str) -> None:
    body = {"model": "m", "messages": ASK, "tools": TOOLS,
            "tool_choice": allowed(mode, "get_weather", "get_time")}  # fmt: skip
    req = oai.decode_request(body)
    assert untranslatable(req, "anthropic") is None
    out = codec.encode_request(req, "claude-x", default_max_tokens=9)
    assert [t["name"] for t in out["tools"]] == ["get_weather", "get_time"]
    assert out["tool_choice"] == {"type": kind}


def test_the_responses_api_form_and_bad_values_are_400s_naming_the_field() -> None:
    body = {
        "model": "m", "input": "hi",
        "tools": [{"type": "function", "name": "a", "parameters": {"type": "object"}},
                  {"type": "function", "name": "b", "parameters": {"type": "object"}}],
        "tool_choice": {"type": "allowed_tools", "mode": "required",
                        "tools": [{"type": "function", "name": "b"}]},
    }  # fmt: skip
    req, echo = responses.decode_request(body)
    assert len(echo.tools) == 2  # the answer echoes every tool offered
    out = codec.encode_request(req, "claude-x", default_max_tokens=9)
    assert [t["name"] for t in out["tools"]] == ["b"] and out["tool_choice"] == {"type": "any"}
    chat = {"model": "m", "messages": ASK, "tools": TOOLS}
    for choice, param in [
        (allowed("sometimes", "get_time"), "tool_choice.allowed_tools.mode"),
        (allowed("auto", "nope"), "tool_choice.allowed_tools.tools[0].function.name"),
        (allowed("auto"), "tool_choice.allowed_tools.tools"),
    ]:
        with pytest.raises(InvalidRequest) as err:
            oai.decode_request({**chat, "tool_choice": choice})
        assert err.value.param == param, err.value


def test_openai_sdk_allowed_tools_served_by_an_anthropic_model(tmp_path: Path) -> None:
    def claude_only(text: str) -> str:
        for name in ("sim-tiny", "sim-small", "sim-premium"):
            i = text.index("capabilities = ", text.index(f"[models.{name}]\n"))
            text = text[:i] + 'capabilities = ["chat", "no-route"]' + text[text.index("\n", i) :]
        return text

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,), edit_config=claude_only) as sc,
            sdks(sc) as (_, gpt),
        ):
            await body(sc, gpt)

    async def body(sc: InProcess, gpt: openai.AsyncOpenAI) -> None:
        for model in (CLAUDE, "auto"):
            for stream in (False, True):
                raw = await gpt.chat.completions.with_raw_response.create(
                    model=model, messages=ASK, tools=TOOLS,  # type: ignore[arg-type]
                    tool_choice=allowed("auto", "get_weather"),  # type: ignore[arg-type]
                    stream=stream,
                )  # fmt: skip
                assert raw.headers["x-arbiter-model"] == CLAUDE
                if stream:
                    chunks = [c async for c in raw.parse()]  # type: ignore[union-attr]
                    assert any(c.choices and c.choices[0].finish_reason for c in chunks)
                else:
                    check_completion(raw.content)

    asyncio.run(main())
