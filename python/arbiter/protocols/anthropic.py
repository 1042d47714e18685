"""Anthropic Messages API requests <-> canonical types. Pure: no I/O, no clock.

decode_request() validates as Anthropic's API does (400 naming the param): max_tokens required,
system as a string or text blocks, text/image/tool_use/tool_result blocks, every tool_result
answering a tool_use of the assistant turn before it. Blocks with no OpenAI counterpart
(document, thinking, ...) decode as OpaquePart, their shapes checked (anthropic_opaque.py);
the other top-level fields Anthropic takes go to `extras`, any other is a 400 as Anthropic's.
Encoding (canonical -> Anthropic body), responses, errors and streams live in
anthropic_encode.py, anthropic_response.py and anthropic_stream.py, re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from arbiter.canonical import (
    CanonicalRequest,
    ImagePart,
    Message,
    OpaquePart,
    Part,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from arbiter.errors import InvalidRequest, ThreadsUnsupported
from arbiter.image_data import check_inline_image
from arbiter.media import image_type_of
from arbiter.protocols import _check as c
from arbiter.protocols.anthropic_cache_control import check_cache_control
from arbiter.protocols.anthropic_encode import (
    IMAGE_TYPES,
    MAX_USER_ID,
    TOOL_ID_CHARS,
    encode_request,
)
from arbiter.protocols.anthropic_fields import (
    check_block_fields,
    check_message_fields,
    check_tool_fields,
)
from arbiter.protocols.anthropic_opaque import check_opaque
from arbiter.protocols.anthropic_response import (
    count_tokens_body,
    decode_response,
    encode_response,
    error_body,
    error_bytes,
    error_status,
    error_type,
    sse_error_event,
)
from arbiter.protocols.anthropic_stream import StreamDecoder, StreamEncoder
from arbiter.protocols.anthropic_system import system_message, system_prompt, text_of

__all__ = [
    "StreamDecoder",
    "StreamEncoder",
    "count_tokens_body",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "error_body",
    "error_bytes",
    "error_status",
    "error_type",
    "parse_request",
    "sse_error_event",
]

SERVICE_TIERS = ("auto", "standard_only")  # Anthropic's `service_tier` values
SPEEDS = ("standard", "fast")  # its `speed` values (null: the default)
MAX_TOOL_NAME = 128  # characters of a custom tool's name (of [a-zA-Z0-9_-], as a tool_use id's)
_MODELED = frozenset({
    "model", "messages", "system", "max_tokens", "tools", "tool_choice", "temperature", "top_p",
    "top_k", "stop_sequences", "stream", "metadata",
})  # fmt: skip
# Top-level fields Anthropic takes that Arbiter sends on as they came (`extras`): those of the
# anthropic SDK's (2.17) create params, beta ones included, and thread (refused below). Any
# other field is Anthropic's 400 "<field>: Extra inputs are not permitted", so it is ours too
# (a typo like `max_token` must not be dropped silently, nor meet a provider's 400 after
# routing). A field Anthropic adds later needs a line here. The params' `workspace_id` and
# `user_profile_id` are not body fields: the SDK sends them as the `anthropic-workspace-id` /
# `anthropic-user-profile-id` headers (not forwarded: the upstream key is the operator's).
_PASSED_ON = frozenset({
    "billing_policy", "cache_control", "compaction", "container", "context_management",
    "diagnostics", "fallback_credit_token", "fallbacks", "inference_geo", "mcp_servers",
    "output_config", "output_format", "service_tier", "speed", "thinking", "thread",
})  # fmt: skip
_KNOWN_FIELDS = _MODELED | _PASSED_ON
# /v1/messages/count_tokens takes fewer: those of the anthropic SDK's (2.17)
# MessageCountTokensParams, beta ones included. A create-only field (max_tokens, stream,
# temperature, metadata, stop_sequences, ...) is Anthropic's 400 there, so it is ours too: a
# client that sends it believes it configures something the count never sees.
_COUNT_TOKENS_FIELDS = frozenset({
    "model", "messages", "system", "tools", "tool_choice", "thinking", "output_config",
    "cache_control", "speed", "billing_policy", "compaction", "context_management",
    "mcp_servers",
})  # fmt: skip
# Valid Anthropic blocks that have no OpenAI counterpart: kept, refused cross-protocol. Those
# of the anthropic SDK's (2.17) ContentBlockParam and BetaContentBlockParam: a server tool's
# result is sent back in the next turn's assistant message (a conversation with code execution,
# web fetch, tool search or an MCP server failed at its second turn when one was missing here).
_OPAQUE_BLOCKS = frozenset({
    "document", "thinking", "redacted_thinking", "search_result", "server_tool_use",
    "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
    "bash_code_execution_tool_result", "text_editor_code_execution_tool_result",
    "tool_search_tool_result", "container_upload",
    # beta
    "advisor_tool_result", "mcp_tool_use", "mcp_tool_result", "mcp_tool_listing", "compaction",
    "tool_addition", "tool_removal", "fallback",
})  # fmt: skip


def parse_request(raw: bytes) -> CanonicalRequest:
    return decode_request(c.load_json(raw), raw=raw)


def decode_request(
    body: Any, *, count_tokens: bool = False, raw: bytes | None = None
) -> CanonicalRequest:
    """`count_tokens`: a /v1/messages/count_tokens body, which has no max_tokens; `raw`: the
    text it was parsed from (its depth read from it: _check.writes_back)."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    c.sendable(body, raw)
    model = c.string(body.get("model"), "model", non_empty=True)
    _check_fields(body, _COUNT_TOKENS_FIELDS if count_tokens else _KNOWN_FIELDS)
    if body.get("thread") is not None:  # before `messages`: a continued thread sends only a delta
        raise ThreadsUnsupported(
            "'thread' is not supported: Arbiter keeps no conversation state (the next turn may go "
            "to another model or provider). Send the whole conversation without 'thread'.",
            param="thread",
        )
    max_tokens = None
    if not count_tokens:
        if "max_tokens" not in body:
            raise InvalidRequest("max_tokens: Field required", param="max_tokens")
        max_tokens = c.integer(body["max_tokens"], "max_tokens", minimum=1)
    raw_messages = c.array(body.get("messages"), "messages", non_empty=True)
    tools = tuple(
        _tool(t, f"tools.{i}")
        for i, t in enumerate(
            c.array(body.get("tools", []) if body.get("tools") is not None else [], "tools")
        )
    )
    _unique_tool_names(tools)
    choice, parallel = _tool_choice(body.get("tool_choice"))
    if choice is not None and choice.kind != "none" and not tools:
        raise InvalidRequest(
            "tool_choice may only be specified while providing tools.", param="tool_choice"
        )
    c.forced_tool_offered(choice, tools, "tool_choice.name")
    _check_thinking(body, max_tokens)
    # an extra, sent on as it came to a Claude model: a value Anthropic refuses is our 400
    c.opt_choice(body.get("service_tier"), "service_tier", SERVICE_TIERS)
    c.opt_choice(body.get("speed"), "speed", SPEEDS)
    c.opt_string(body.get("inference_geo"), "inference_geo")
    response_format, extras = _output_format(body)
    stop = c.array(body.get("stop_sequences") or [], "stop_sequences")
    metadata = c.obj(body.get("metadata") or {}, "metadata")
    for key in metadata:
        if key != "user_id":
            raise InvalidRequest(
                f"metadata.{key}: Extra inputs are not permitted", param=f"metadata.{key}"
            )
    user = c.opt_string(metadata.get("user_id"), "metadata.user_id")
    if user is not None and len(user) > MAX_USER_ID:  # Anthropic's bound: its 400, after routing
        raise InvalidRequest(
            f"metadata.user_id: String should have at most {MAX_USER_ID} characters",
            param="metadata.user_id",
        )
    messages, where, system_messages = _messages(raw_messages)
    _check_prefill(body, messages, where[-1])
    request = CanonicalRequest(
        model=model,
        messages=messages,
        source="anthropic",
        system=system_prompt(body.get("system")) + system_messages,
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        max_tokens=max_tokens,
        temperature=c.opt_number(body.get("temperature"), "temperature", 0.0, 1.0),
        top_p=c.opt_number(body.get("top_p"), "top_p", 0.0, 1.0),
        top_k=c.opt_integer(body.get("top_k"), "top_k", minimum=0),
        stop=tuple(_stop_sequence(s, f"stop_sequences.{i}") for i, s in enumerate(stop)),
        stream=c.opt_bool(body.get("stream"), "stream"),
        include_usage=True,  # Anthropic streams always carry usage
        user=user,
        response_format=response_format,
        extras=extras,
    )
    check_cache_control(body)  # after the blocks' own checks: their shapes are known good
    return request


def _check_fields(body: dict[str, Any], known: frozenset[str]) -> None:
    for key in body:
        if key not in known:
            shown = key if len(key) <= 64 else key[:64] + "..."
            raise InvalidRequest(f"{shown}: Extra inputs are not permitted", param=shown)


def _output_format(body: dict[str, Any]) -> tuple[ResponseFormat | None, dict[str, Any]]:
    """Anthropic's structured outputs as the canonical strict JSON schema, and the extras left.
    `output_config.format` = {"type": "json_schema", "schema": {...}} (generally available, no
    beta header; platform.claude.com/docs/en/build-with-claude/structured-outputs); the beta's
    top-level `output_format` (header structured-outputs-2025-11-13) still works, deprecated.
    Always strict: Anthropic decodes constrained to the schema. The rest of `output_config`
    (`effort`) stays an extra."""
    extras = {k: v for k, v in body.items() if k not in _MODELED}
    config, legacy = body.get("output_config"), extras.pop("output_format", None)
    raw, param = legacy, "output_format"
    if isinstance(config, dict) and config.get("format") is not None:
        if legacy is not None:
            raise InvalidRequest(
                "output_format and output_config.format cannot both be set.",
                param="output_format",
            )
        raw, param = config["format"], "output_config.format"
        rest = {k: v for k, v in config.items() if k != "format"}
        if rest:
            extras["output_config"] = rest
        else:
            del extras["output_config"]
    if raw is None:
        return None, extras
    fmt = c.obj(raw, param)
    if fmt.get("type") != "json_schema":
        raise InvalidRequest(f"{param}.type: Input should be 'json_schema'", param=f"{param}.type")
    schema = c.obj(fmt.get("schema"), f"{param}.schema")
    return ResponseFormat("json_schema", schema, None, strict=True), extras


_MIN_THINKING_BUDGET = 1024
_THINKING_TYPES = ("enabled", "disabled", "adaptive", "between_tools")  # the SDK's (2.17) union


def wants_thinking(body: dict[str, Any]) -> bool:
    """Extended thinking asked for (a model without it refuses the request); `disabled` and
    `between_tools` turn it off."""
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _check_thinking(body: dict[str, Any], max_tokens: int | None) -> None:
    """Extended thinking as Anthropic takes it: a budget >= 1024 and below max_tokens, and none
    of what its docs say thinking does not go with (a forced tool, a temperature other than 1,
    top_k, a top_p under 0.95). It is forwarded as it came, and only a Claude model carries it
    (`auto` too), so each was Anthropic's 400 after routing. Other thinking types (disabled,
    adaptive, between_tools) are the upstream's to judge; an unknown or missing type is
    Anthropic's 400 (a tagged union), so ours, or `auto` answered it or not by the model it
    picked."""
    thinking = body.get("thinking")
    if thinking is None:
        return
    thinking = c.obj(thinking, "thinking")
    kind = thinking.get("type")
    if kind not in _THINKING_TYPES:
        raise InvalidRequest(
            f"thinking.type: Input tag {kind!r} does not match any of the expected tags: "
            + ", ".join(repr(t) for t in _THINKING_TYPES),
            param="thinking.type",
        )
    if kind != "enabled":
        return
    budget = c.integer(
        thinking.get("budget_tokens"), "thinking.budget_tokens", minimum=_MIN_THINKING_BUDGET
    )
    if max_tokens is not None and budget >= max_tokens:
        raise InvalidRequest(
            f"thinking.budget_tokens ({budget}) must be less than max_tokens ({max_tokens}).",
            param="thinking.budget_tokens",
        )
    choice = body.get("tool_choice")  # its shape is _tool_choice's check, made before this
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        raise InvalidRequest(
            "tool_choice: Thinking may not be enabled when tool_choice forces tool use.",
            param="tool_choice",
        )
    for key, allowed, rule in _WITH_THINKING:
        value = body.get(key)
        if value is not None and not allowed(value):
            raise InvalidRequest(f"{key}: {rule} when thinking is enabled.", param=key)


def _check_prefill(body: dict[str, Any], messages: tuple[Message, ...], i: int) -> None:
    """Anthropic's rules for a final assistant message (a prefill), each its 400 after routing
    (only a Claude model takes a prefill, `auto` too), so ours: it may not end in whitespace,
    and with extended thinking enabled it must start with a thinking block (a tool loop's
    continuation). Runs after _check_thinking: `thinking` is a known-good object here. `i`:
    the last message's place in the client's `messages`."""
    last = messages[-1]
    if last.role != "assistant":
        return
    end = last.parts[-1] if last.parts else None
    if isinstance(end, TextPart) and end.text != end.text.rstrip():
        raise InvalidRequest(
            "messages: final assistant content cannot end with trailing whitespace",
            param=f"messages.{i}.content",
        )
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return
    first = last.parts[0] if last.parts else None
    if not (isinstance(first, OpaquePart) and first.kind in ("thinking", "redacted_thinking")):
        raise InvalidRequest(
            f"messages.{i}.content.0.type: When `thinking` is enabled, a final `assistant` "
            "message must start with a thinking block (an assistant prefill cannot be used "
            "with extended thinking).",
            param=f"messages.{i}.content.0.type",
        )


# what a sampling field may be under extended thinking (unset always may): its check, its rule
_WITH_THINKING: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("temperature", lambda v: v == 1, "temperature may only be set to 1"),
    ("top_k", lambda v: False, "top_k must be unset"),
    (
        "top_p",
        lambda v: isinstance(v, int | float) and 0.95 <= v <= 1,
        "top_p must be in [0.95, 1]",
    ),
)


def _stop_sequence(value: Any, param: str) -> str:
    text = c.string(value, param)
    if not text.strip():  # Anthropic's own rule
        raise InvalidRequest(
            f"{param}: each stop sequence must contain non-whitespace", param=param
        )
    return text


def _messages(raw: list[Any]) -> tuple[tuple[Message, ...], tuple[int, ...], tuple[str, ...]]:
    """The user and assistant messages, each one's place in the client's `messages` (for the
    params errors name), and the texts of its `role: "system"` messages (the SDK's
    SystemMessageParam), which go after the top-level system prompt: the canonical form keeps
    system text apart, as chat's system messages anywhere in the list (a Claude model gets
    the client's own body, with them where they were)."""
    out: list[Message] = []
    where: list[int] = []
    system: list[str] = []
    for i, msg in enumerate(raw):
        msg = c.obj(msg, f"messages.{i}")
        if msg.get("role") == "system":
            system.extend(system_message(msg, i))
        else:
            out.append(_message(msg, i))
            where.append(i)
    if not out:
        raise InvalidRequest(
            "messages: at least one user or assistant message is required", param="messages"
        )
    for k, msg in enumerate(out):
        # Anthropic's rule; an empty turn also vanishes when translated (OpenAI then gets no
        # messages at all), so it must be the caller's 400, not the upstream's
        empty = all(isinstance(p, TextPart) and not p.text for p in msg.parts)
        if empty and not (k == len(out) - 1 and msg.role == "assistant"):
            raise InvalidRequest(
                f"messages.{where[k]}: all messages must have non-empty content except for the "
                "optional final assistant message",
                param=f"messages.{where[k]}.content",
            )
    _check_tool_pairs(tuple(out), where)
    return tuple(out), tuple(where), tuple(system)


def _message(msg: Any, i: int) -> Message:
    msg = c.obj(msg, f"messages.{i}")
    role = msg.get("role")
    if role not in ("user", "assistant"):
        raise InvalidRequest(
            f"messages.{i}.role: Input should be 'user', 'assistant' or 'system'",
            param=f"messages.{i}.role",
        )
    check_message_fields(msg, f"messages.{i}")
    content = msg.get("content")
    if isinstance(content, str):
        return Message(role, (TextPart(content),))
    blocks = c.array(content, f"messages.{i}.content")
    return Message(
        role, tuple(_block(b, role, f"messages.{i}.content.{j}") for j, b in enumerate(blocks))
    )


def _check_tool_pairs(messages: tuple[Message, ...], where: list[int]) -> None:
    """Anthropic's pairing rule, on turns (consecutive same-role messages count as one): every
    tool_result answers a tool_use of the assistant turn just before, and every tool_use of an
    assistant turn that a user turn follows is answered in it. `where`: each message's place
    in the client's `messages`, which the errors name."""
    # tool_use ids of the assistant turn before the current user turn, in order (a dict: a
    # list's `in` made n results answering n calls cost n^2)
    calls: dict[str, None] = {}
    answered: set[str] = set()
    every_call: set[str] = set()  # Anthropic: tool_use ids are unique in the whole request
    first_of_turn = 0
    other: tuple[int, int] | None = None  # the message's first block that is no tool_result
    for i, msg in enumerate(messages):
        new_turn = i == 0 or messages[i - 1].role != msg.role
        if msg.role == "assistant":
            if new_turn:
                calls = {}
            for j, part in enumerate(msg.parts):
                if isinstance(part, ToolCallPart):
                    if part.id in every_call:
                        raise InvalidRequest(
                            f"messages.{where[i]}.content.{j}: `tool_use` ids must be unique",
                            param=f"messages.{where[i]}.content.{j}.id",
                        )
                    every_call.add(part.id)
                    calls[part.id] = None
            continue
        if new_turn:
            first_of_turn, answered = where[i], set()
        # the rule is on one message's content array, as documented; whether Anthropic also
        # holds text in an earlier message of the same turn against it is unverified
        other = None
        for j, part in enumerate(msg.parts):
            if not isinstance(part, ToolResultPart):
                other = other or (where[i], j)
                continue
            if part.tool_call_id not in calls:
                raise InvalidRequest(
                    f"messages.{where[i]}.content.{j}: unexpected `tool_use_id` found in "
                    f"`tool_result` blocks: {part.tool_call_id}. Each `tool_result` block "
                    "must have a corresponding `tool_use` block in the previous message.",
                    param=f"messages.{where[i]}.content.{j}.tool_use_id",
                )
            if other is not None:
                _result_after_other(part, f"messages.{where[i]}.content.{j}", other)
            answered.add(part.tool_call_id)
        turn_ends = i + 1 == len(messages) or messages[i + 1].role != "user"
        if turn_ends and (missing := [t for t in calls if t not in answered]):
            raise InvalidRequest(
                f"messages.{first_of_turn}: `tool_use` ids were found without `tool_result` "
                f"blocks immediately after: {', '.join(missing)}. Each `tool_use` block must "
                "have a corresponding `tool_result` block in the next message.",
                param=f"messages.{first_of_turn}.content",
            )
        if turn_ends:
            calls = {}


def _result_after_other(part: ToolResultPart, param: str, other: tuple[int, int]) -> None:
    """Anthropic's rule (its tool-use docs: "tool_result blocks must come FIRST in the content
    array, and any text must come AFTER all tool results"): a result after other content is
    its 400. Unchecked, such a turn was routed and reserved, then refused by a Claude model
    after the call, while an OpenAI model took it (text and results reordered)."""
    raise InvalidRequest(
        f"{param}: `tool_result` blocks must come first in the user message that answers "
        f"`tool_use` blocks, before any other content (messages.{other[0]}.content.{other[1]} "
        f"comes before the result for "
        f"{part.tool_call_id[:64]}). Each `tool_use` block must have a corresponding "
        "`tool_result` block immediately after; put any text after all tool results.",
        param=param,
    )


def _block(block: Any, role: str, param: str, named: str | None = None) -> Part:
    """`named`: where the block is as Anthropic's errors name it (a tool_result's inner block
    under `...tool_result.content.K`), when not `param`."""
    block = c.obj(block, param)
    kind = block.get("type")
    if isinstance(kind, str):
        check_block_fields(block, kind, named or param)
    if kind == "text":
        return TextPart(text_of(block, param))
    if kind == "image":
        return _image(block, param)
    if kind == "tool_use" and role == "assistant":
        name = c.string(block.get("name"), f"{param}.name", non_empty=True)
        given = c.obj(block.get("input"), f"{param}.input")
        arguments = c.raw_arguments(given)
        if arguments is None:
            arguments = orjson.dumps(given).decode()
        call_id = c.string(block.get("id"), f"{param}.id", non_empty=True)
        if not TOOL_ID_CHARS.issuperset(call_id):
            raise InvalidRequest(
                f"{param}.id: String should match pattern '^[a-zA-Z0-9_-]+$'", param=f"{param}.id"
            )
        return ToolCallPart(call_id, name, arguments)
    if kind == "tool_result" and role == "user":
        return _tool_result(block, param, named or param)
    if isinstance(kind, str) and kind in _OPAQUE_BLOCKS:
        check_opaque(kind, block, param)  # sent on as it came: a bad one is the caller's 400
        return OpaquePart("anthropic", kind, block)
    allowed = "text, image, tool_result" if role == "user" else "text, image, tool_use"
    raise InvalidRequest(
        f"{param}.type: {kind!r} is not a valid block type in a {role} message ({allowed})",
        param=f"{param}.type",
    )


FILE_IMAGE = "image file"  # an OpaquePart's kind: an image from Anthropic's Files API
# the blocks Anthropic takes inside a tool_result that OpenAI has no counterpart for
_IN_TOOL_RESULT = frozenset({FILE_IMAGE, "document", "search_result"})
# blocks a tool_result may hold and nothing else may (tool search's tool_reference; a browser
# toolset's browser_state): the SDK's ToolResultBlockParam content
_ONLY_IN_TOOL_RESULT = frozenset({"tool_reference", "browser_state"})


def _image(block: dict[str, Any], param: str) -> ImagePart | OpaquePart:
    source = c.obj(block.get("source"), f"{param}.source")
    kind = source.get("type")
    if kind == "file":  # Anthropic's Files API (a beta): only an Anthropic model can fetch it
        c.string(source.get("file_id"), f"{param}.source.file_id", non_empty=True)
        return OpaquePart("anthropic", FILE_IMAGE, block)
    if kind == "base64":
        media_type = source.get("media_type")
        if not isinstance(media_type, str) or media_type not in IMAGE_TYPES:
            raise InvalidRequest(
                f"{param}.source.media_type: Input should be one of {sorted(IMAGE_TYPES)}",
                param=f"{param}.source.media_type",
            )
        data = c.string(source.get("data"), f"{param}.source.data")
        check_inline_image(media_type, data, f"{param}.source.data")
        shown = image_type_of(data)  # Anthropic's own check, else its 400 after routing
        if shown is not None and shown != media_type:
            raise InvalidRequest(
                f"{param}.source.data: Image does not match the provided media type "
                f"{media_type} (its bytes are {shown})",
                param=f"{param}.source.data",
            )
        return ImagePart(media_type, data)
    if kind == "url":
        return ImagePart(url=c.string(source.get("url"), f"{param}.source.url", non_empty=True))
    raise InvalidRequest(
        f"{param}.source.type: Input should be 'base64', 'url' or 'file'",
        param=f"{param}.source.type",
    )


def _tool_result(block: dict[str, Any], param: str, named: str) -> ToolResultPart:
    tool_use_id = c.string(block.get("tool_use_id"), f"{param}.tool_use_id", non_empty=True)
    content = block.get("content")
    parts: list[TextPart | ImagePart | OpaquePart] = []
    if isinstance(content, str):
        parts.append(TextPart(content))
    elif content is not None:
        for k, inner in enumerate(c.array(content, f"{param}.content")):
            kind = inner.get("type") if isinstance(inner, dict) else None
            inner_named = f"{named}.tool_result.content.{k}"
            if isinstance(kind, str) and kind in _ONLY_IN_TOOL_RESULT:
                check_block_fields(inner, kind, inner_named)
                check_opaque(kind, inner, f"{param}.content.{k}")
                parts.append(OpaquePart("anthropic", kind, inner))
                continue
            part = _block(inner, "user", f"{param}.content.{k}", inner_named)
            if isinstance(part, TextPart | ImagePart) or (
                isinstance(part, OpaquePart) and part.kind in _IN_TOOL_RESULT
            ):
                parts.append(part)
                continue
            raise InvalidRequest(
                f"{param}.content.{k}.type: a tool_result holds text, image, document, "
                "search_result, tool_reference and browser_state blocks",
                param=f"{param}.content.{k}.type",
            )
    is_error = c.opt_bool(block.get("is_error"), f"{param}.is_error")
    return ToolResultPart(tool_use_id, tuple(parts), is_error)


def _tool(raw: Any, param: str) -> Tool:
    tool = c.obj(raw, param)
    kind = tool.get("type")
    if kind not in (None, "custom"):
        builtin = c.string(kind, f"{param}.type")
        check_tool_fields(tool, builtin, param)
        return Tool(_builtin_name(tool, builtin, param), builtin=builtin, parameters=tool)
    check_tool_fields(tool, "custom", param)
    name = _custom_tool_name(tool.get("name"), f"{param}.name")
    schema = c.obj(tool.get("input_schema"), f"{param}.input_schema")
    if schema.get("type") != "object":
        raise InvalidRequest(
            f"{param}.input_schema.type: Input should be 'object'", param=f"{param}.input_schema"
        )
    strict = tool.get("strict")  # structured outputs: the input decoded to the schema
    return Tool(
        name,
        c.opt_string(tool.get("description"), f"{param}.description"),
        schema,
        strict=None if strict is None else c.opt_bool(strict, f"{param}.strict"),
    )


def _custom_tool_name(value: Any, param: str) -> str:
    """A custom tool's name as Anthropic takes it (1-128 of [a-zA-Z0-9_-]). Unchecked, a name
    like `crm.lookup` (MCP clients make them) was routed and reserved, then refused by a Claude
    model after the call, while `auto` sometimes picked a model that took it."""
    name = c.string(value, param, non_empty=True)
    if len(name) > MAX_TOOL_NAME or not TOOL_ID_CHARS.issuperset(name):
        raise InvalidRequest(
            f"{param}: String should match pattern '^[a-zA-Z0-9_-]{{1,{MAX_TOOL_NAME}}}$' "
            f"(got {name[:64]!r}{'...' if len(name) > 64 else ''})",
            param=param,
        )
    return name


def _unique_tool_names(tools: tuple[Tool, ...]) -> None:
    """Anthropic's "tools: Tool names must be unique." (a toolset's stand-in name is no name)."""
    seen: set[str] = set()
    for tool in tools:
        if not tool.named:
            continue
        if tool.name in seen:
            raise InvalidRequest(
                f"tools: Tool names must be unique ({tool.name[:64]!r} is given twice).",
                param="tools",
            )
        seen.add(tool.name)


def _builtin_name(tool: dict[str, Any], kind: str, param: str) -> str:
    """The name a provider-side tool goes by here. Every one has a `name` but the toolsets,
    which group tools under no name of their own (the beta `mcp_toolset`: one MCP server's
    tools, named by its required `mcp_server_name`; `computer_toolset_...`,
    `browser_toolset_...`): a required name refused them all before a Claude model saw them."""
    undated = kind[:-9] if kind[-8:].isdigit() and kind[-9:-8] == "_" else kind
    if "name" in tool or not undated.endswith("_toolset"):
        return c.string(tool.get("name"), f"{param}.name", non_empty=True)
    if kind == "mcp_toolset":
        return c.string(tool.get("mcp_server_name"), f"{param}.mcp_server_name", non_empty=True)
    return kind


def _tool_choice(raw: Any) -> tuple[ToolChoice | None, bool | None]:
    if raw is None:
        return None, None
    choice = c.obj(raw, "tool_choice")
    kind = choice.get("type")
    disable = c.opt_bool(
        choice.get("disable_parallel_tool_use"), "tool_choice.disable_parallel_tool_use"
    )
    parallel = False if disable else None
    if kind in ("auto", "any", "none"):
        return ToolChoice(kind), parallel
    if kind == "tool":
        return ToolChoice(
            "named", c.string(choice.get("name"), "tool_choice.name", non_empty=True)
        ), parallel
    raise InvalidRequest(
        "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'",
        param="tool_choice.type",
    )
