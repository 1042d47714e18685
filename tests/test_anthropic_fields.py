"""Unknown fields inside Anthropic messages and content blocks (mends18a): Anthropic's API answers
400 "<path>: Extra inputs are not permitted" for them (its request models forbid extra fields),
naming the path with the block's type after its place: `messages.1.content.0.thinking.
cache_control`, `messages.1.content.0.text.parsed_output` (a block dumped from the SDK's
streamed answer), `...tool_result.content.0.text.annotations` (an MCP text part's). Arbiter
checked only the top-level fields, so such a request went on to a Claude model and came back
as its 400 after routing and the budget reservation (an OpenAI model dropped the field). Now a
400 in the same words before any call.

The fields allowed are the installed anthropic SDK's: every field its request types (and the
response blocks its beta param union takes back) define for a block type, and no other; the
first test reads them from the SDK's own types, so a field the SDK adds fails here until it is
added to protocols/anthropic_fields.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

import anthropic
import pytest
from anthropic.types import ContentBlockParam, MessageParam, ToolResultBlockParam
from anthropic.types import message_create_params as create_params
from anthropic.types.beta import (
    BetaContentBlockParam,
    BetaMessageParam,
    BetaToolResultBlockParam,
)
from anthropic.types.beta import message_create_params as beta_create_params

from tests.adversarial.hostile_upstream import response, scripted_upstream
from tests.inproc import raw_anthropic_upstream, sidecar_in_process
from tests.sdk_clients import sdks

pytestmark = pytest.mark.timeout(90)


def _members(union: Any) -> list[Any]:
    if get_origin(union) is Annotated:
        union = get_args(union)[0]
    if get_origin(union) is Union:
        return [m for arg in get_args(union) for m in _members(arg)]
    return [union]


def _fields(cls: Any) -> set[str]:
    """A TypedDict's keys, or a pydantic model's wire names (aliases: `from`, not `from_`)."""
    if hasattr(cls, "model_fields"):
        return {f.alias or name for name, f in cls.model_fields.items()}
    return set(get_type_hints(cls))


def _tag(cls: Any) -> str:
    hint = get_type_hints(cls)["type"] if not hasattr(cls, "model_fields") else (
        cls.model_fields["type"].annotation
    )  # fmt: skip
    while not isinstance(hint, str):  # Optional[Literal["custom"]]: the literal, not None
        hint = next(a for a in get_args(hint) if a is not type(None))
    return hint


def _sdk_blocks() -> dict[str, set[str]]:
    unions = [ContentBlockParam, BetaContentBlockParam]
    for result in (ToolResultBlockParam, BetaToolResultBlockParam):
        content = get_type_hints(result)["content"]  # str | Iterable[the inner blocks]
        unions.append(get_args(get_args(content)[1])[0])
    table: dict[str, set[str]] = {}
    for union in unions:
        for cls in _members(union):
            table.setdefault(_tag(cls), set()).update(_fields(cls))
    return table


def _create_param(name: str) -> list[Any]:
    """The members of a create param's type, in both the plain and the beta create params."""
    out = []
    for params in (create_params, beta_create_params):
        hint = get_type_hints(params.MessageCreateParamsBase)[name]
        if name == "system":  # str | Iterable[TextBlockParam]
            hint = get_args(hint)[1]
        out.extend(_members(get_args(hint)[0]))  # Iterable[the union]
    return out


def test_the_system_and_tool_fields_allowed_are_the_installed_sdks() -> None:
    """Both ways: every tool type the SDK defines is listed with exactly its fields, and the
    top-level system blocks' fields are exactly its text blocks'; a system message's blocks
    (text, or the beta tool_addition / tool_removal) are content blocks listed."""
    from arbiter.protocols.anthropic_fields import BLOCK_FIELDS, SYSTEM_BLOCK_FIELDS, TOOL_FIELDS

    tools: dict[str, set[str]] = {}
    for cls in _create_param("tools"):
        tools.setdefault(_tag(cls), set()).update(_fields(cls))
    assert set(TOOL_FIELDS) == set(tools), (anthropic.__version__, set(TOOL_FIELDS) ^ set(tools))
    for kind, fields in tools.items():
        assert TOOL_FIELDS[kind] == fields, (kind, fields ^ TOOL_FIELDS[kind])
    system = [_fields(cls) for cls in _create_param("system")]
    assert len(system) == 2 and all(fields == SYSTEM_BLOCK_FIELDS for fields in system), system
    system_messages = [
        cls for u in (MessageParam, BetaMessageParam) for cls in _members(u)
        if "System" in cls.__name__
    ]  # fmt: skip
    assert len(system_messages) == 2
    for cls in system_messages:
        inner = get_args(get_args(get_type_hints(cls)["content"])[1])[0]  # Iterable[the blocks]
        for block in _members(inner):
            assert _fields(block) == BLOCK_FIELDS[_tag(block)], block


def test_the_fields_allowed_are_the_installed_sdks() -> None:
    from arbiter.protocols.anthropic_fields import BLOCK_FIELDS, MESSAGE_FIELDS

    sdk = _sdk_blocks()
    assert set(BLOCK_FIELDS) == set(sdk), (anthropic.__version__, set(BLOCK_FIELDS) ^ set(sdk))
    for kind, fields in sdk.items():
        assert BLOCK_FIELDS[kind] == fields, (kind, fields ^ BLOCK_FIELDS[kind])
    users = [
        c
        for u in (MessageParam, BetaMessageParam)
        for c in _members(u)
        if "System" not in c.__name__
    ]  # fmt: skip  (system messages: anthropic_system.py)
    for cls in users:
        assert _fields(cls) == MESSAGE_FIELDS, cls


SIGNED = {"type": "thinking", "thinking": "Let me see.", "signature": "c2ln"}
CALL = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}


def _loop(assistant: list[dict[str, Any]], result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": assistant},
        {"role": "user", "content": [result]},
    ]


def _result(**inner: Any) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": "toolu_1",
            "content": [{"type": "text", "text": "sunny", **inner}]}  # fmt: skip


REFUSED: dict[str, tuple[list[dict[str, Any]], str]] = {
    "cache_control on a thinking block": (
        _loop([{**SIGNED, "cache_control": {"type": "ephemeral"}}, CALL], _result()),
        "messages.1.content.0.thinking.cache_control",
    ),
    "a text block dumped from a streamed answer": (
        [
            {"role": "user", "content": "Hi"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Hello", "citations": None, "parsed_output": None}
                ],
            },
            {"role": "user", "content": "Again"},
        ],
        "messages.1.content.0.text.parsed_output",
    ),
    "an MCP text part's annotations in a tool_result": (
        _loop([CALL], _result(annotations={"audience": ["user"]})),
        "messages.2.content.0.tool_result.content.0.text.annotations",
    ),
    "a message field": (
        [{"role": "user", "content": "Hi", "name": "bob"}],
        "messages.0.name",
    ),
    "a misspelt tool_use field": (
        _loop([{**CALL, "inputs": {}}], _result()),
        "messages.1.content.0.tool_use.inputs",
    ),
    "an image field": (
        [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/a.png"},
                        "detail": "high",
                    }
                ],
            }
        ],
        "messages.0.content.0.image.detail",
    ),
}


def test_unknown_fields_are_the_callers_400_before_any_call(tmp_path: Path) -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        body = (
            b'{"id":"msg_1","type":"message","role":"assistant","model":"an-raw","content":'
            b'[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,'
            b'"usage":{"input_tokens":3,"output_tokens":1}}'
        )
        writer.write(response(b"200 OK\r\ncontent-type: application/json", body))

    async def main() -> None:
        async with (
            scripted_upstream(answer) as (port, calls),
            sidecar_in_process(tmp_path, edit_config=raw_anthropic_upstream(port)) as sc,
            sdks(sc) as (claude, _),
        ):
            for case, (messages, path) in REFUSED.items():
                for model in ("an-raw", "auto"):
                    with pytest.raises(anthropic.BadRequestError) as caught:
                        await claude.messages.create(model=model, max_tokens=50, messages=messages)
                    error = caught.value.body["error"]  # type: ignore[index]
                    assert error["type"] == "invalid_request_error", case
                    assert error["message"] == f"{path}: Extra inputs are not permitted", case
            assert calls == [0]  # refused before any call
            # the fields the SDK defines pass: a dumped tool_use's `caller`, a text block's
            # citations and cache_control, a tool_result inner text's cache_control
            ok = _loop(
                [{"type": "text", "text": "Checking.", "citations": None,
                  "cache_control": {"type": "ephemeral"}},
                 {**CALL, "caller": {"type": "direct"}}],
                _result(cache_control={"type": "ephemeral"}),
            )  # fmt: skip
            message = await claude.messages.create(model="an-raw", max_tokens=50, messages=ok)
            assert message.content[0].type == "text" and calls == [1]

    asyncio.run(main())


HELLO = [{"role": "user", "content": "Hi"}]
SCHEMA = {"type": "object", "properties": {}}
# (system, tools, messages) of a request with one stray field, and the path Anthropic names
REFUSED_OUTSIDE_MESSAGES: dict[str, tuple[Any, Any, list[dict[str, Any]], str]] = {
    "a LangChain text block's id in the system prompt": (
        [{"type": "text", "text": "Be brief.", "id": "lc_1"}], None, HELLO, "system.0.id",
    ),
    "a field on a system message's block": (
        None, None,
        [{"role": "system", "content": [{"type": "text", "text": "Be brief.", "tag": 1}]},
         *HELLO],
        "messages.0.content.0.text.tag",
    ),
    "a misspelt custom tool field": (
        None, [{"name": "f", "input_schema": SCHEMA, "defer_loadin": True}], HELLO,
        "tools.0.custom.defer_loadin",
    ),
    "an OpenAI tool's field on an explicit custom tool": (
        None,
        [{"type": "custom", "name": "f", "input_schema": SCHEMA},
         {"type": "custom", "name": "g", "input_schema": SCHEMA, "parameters": SCHEMA}],
        HELLO, "tools.1.custom.parameters",
    ),
    "a misspelt server tool field": (
        None, [{"type": "web_search_20250305", "name": "web_search", "max_use": 3}], HELLO,
        "tools.0.web_search_20250305.max_use",
    ),
    "a field of another version of the tool": (
        None, [{"type": "text_editor_20250124", "name": "str_replace_editor",
                "max_characters": 100}], HELLO,
        "tools.0.text_editor_20250124.max_characters",
    ),
}  # fmt: skip


def test_unknown_system_and_tool_fields_are_the_callers_400_before_any_call(
    tmp_path: Path,
) -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        body = (
            b'{"id":"msg_1","type":"message","role":"assistant","model":"an-raw","content":'
            b'[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,'
            b'"usage":{"input_tokens":3,"output_tokens":1}}'
        )
        writer.write(response(b"200 OK\r\ncontent-type: application/json", body))

    async def main() -> None:
        async with (
            scripted_upstream(answer) as (port, calls),
            sidecar_in_process(tmp_path, edit_config=raw_anthropic_upstream(port)) as sc,
            sdks(sc) as (claude, _),
        ):
            for case, (system, tools, messages, path) in REFUSED_OUTSIDE_MESSAGES.items():
                extra: dict[str, Any] = {}
                if system is not None:
                    extra["system"] = system
                if tools is not None:
                    extra["tools"] = tools
                for model in ("an-raw", "auto"):
                    with pytest.raises(anthropic.BadRequestError) as caught:
                        await claude.messages.create(
                            model=model, max_tokens=50, messages=messages, **extra
                        )
                    error = caught.value.body["error"]  # type: ignore[index]
                    assert error["type"] == "invalid_request_error", case
                    assert error["message"] == f"{path}: Extra inputs are not permitted", case
                with pytest.raises(anthropic.BadRequestError):  # the count takes the same
                    await claude.messages.count_tokens(model="an-raw", messages=messages, **extra)
            assert calls == [0]  # refused before any call
            # the fields the SDK defines pass: a system block's cache_control and citations, a
            # custom tool's defer_loading / input_examples / strict, a server tool's max_uses
            message = await claude.messages.create(
                model="an-raw",
                max_tokens=50,
                system=[{"type": "text", "text": "Be brief.", "citations": None,
                         "cache_control": {"type": "ephemeral"}}],
                tools=[{"name": "f", "input_schema": SCHEMA, "strict": True,
                        "defer_loading": False, "input_examples": [{}], "description": "F."},
                       {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
                messages=[{"role": "system", "content": [{"type": "text", "text": "Hi."}]},
                          *HELLO],
            )  # fmt: skip
            assert message.content[0].type == "text" and calls == [1]

    asyncio.run(main())
