"""Tool-call ids across the protocols (the official SDKs as the clients).

OpenAI takes a tool-call id of at most 40 characters in the history ("Invalid
'messages[3].tool_call_id': string too long. Expected a string with maximum length 40");
Anthropic sets no such bound. An Anthropic client's tool_use id longer than that (another
gateway's, or its own) went to an OpenAI model as it came: its 400 after routing. It now goes
as a digest of it, the same for the call and its result, so they still pair. An id within the
bound crosses as it came: a Claude model's `toolu_...` call reaches an OpenAI client as such,
and that client sending it back to an OpenAI model is answered (both APIs check only the
pairing inside a request, and keep no state to map back to)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import sdks

LONG_ID = "toolu_" + "0123456789abcdefghij" * 3  # 66 characters of Anthropic's [a-zA-Z0-9_-]
SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}}


def _conversation(call_id: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Look up order 7."},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": call_id, "name": "lookup", "input": {"q": "7"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call_id, "content": "shipped"},
            {"type": "text", "text": "And order 8?"}]},
    ]  # fmt: skip


def test_a_long_anthropic_call_id_reaches_an_openai_model_within_its_bound(
    tmp_path: Path,
) -> None:
    tools = [{"name": "lookup", "description": "a lookup", "input_schema": SCHEMA}]

    async def body(sc: InProcess) -> None:
        assert sc.services.protocol_of("sim-small") == "openai"
        async with sdks(sc) as (claude, _):
            answer = await claude.messages.create(
                model="sim-small", max_tokens=50, messages=_conversation(LONG_ID),  # type: ignore[arg-type]
                tools=tools,  # type: ignore[arg-type]
            )  # fmt: skip
            assert answer.content, answer
            async with claude.messages.stream(
                model="sim-small", max_tokens=50, messages=_conversation(LONG_ID),  # type: ignore[arg-type]
                tools=tools,  # type: ignore[arg-type]
            ) as stream:  # fmt: skip
                final = await stream.get_final_message()
            assert final.content, final

    run_with_claude(tmp_path, body)


def test_a_claude_call_id_reaches_an_openai_client_and_goes_back_to_an_openai_model(
    tmp_path: Path,
) -> None:
    lookup = {"type": "function", "function": {"name": "lookup", "parameters": SCHEMA}}

    async def body(sc: InProcess) -> None:
        assert sc.services.protocol_of("sim-medium") == "anthropic"
        async with sdks(sc) as (_, gpt):
            asked = [{"role": "user", "content": "Look up order 7."}]
            first = await gpt.chat.completions.create(
                model="sim-medium", messages=asked, tools=[lookup],  # type: ignore[arg-type,list-item]
                tool_choice="required",
            )  # fmt: skip
            calls = first.choices[0].message.tool_calls
            assert calls, first
            call_id = calls[0].id
            assert call_id.startswith("toolu_") and len(call_id) <= 40, call_id
            follow_up = [
                *asked,
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": call_id, "type": "function",
                     "function": {"name": "lookup", "arguments": '{"q": "7"}'}}]},
                {"role": "tool", "tool_call_id": call_id, "content": "shipped"},
            ]  # fmt: skip
            for model in ("sim-small", "sim-medium"):
                answer = await gpt.chat.completions.create(
                    model=model, messages=follow_up, tools=[lookup],  # type: ignore[arg-type,list-item]
                )  # fmt: skip
                assert answer.choices, answer

    run_with_claude(tmp_path, body)
