"""OpenAI Chat Completions requests <-> canonical types. Pure: no I/O, no clock.

Used when an OpenAI-format request goes to a model of another protocol, or a canonical request
comes to an OpenAI upstream. (Same protocol in and out never comes here: the body is relayed.)
System and developer messages become the canonical system prompt, in order; `tool` messages
become user turns holding tool results. Responses and streams: openai_response.py and
openai_stream.py (re-exported here).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from arbiter.canonical import (
    AudioPart,
    CanonicalRequest,
    ImagePart,
    Message,
    OpaquePart,
    Part,
    Protocol,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from arbiter.errors import InvalidRequest
from arbiter.image_data import split_data_url
from arbiter.protocols import _check as c
from arbiter.protocols.function_names import check_function_name, schema_name
from arbiter.protocols.openai_call_ids import openai_call_id
from arbiter.protocols.openai_response import decode_response, encode_response
from arbiter.protocols.openai_stream import StreamDecoder, StreamEncoder
from arbiter.protocols.openai_strict import check_strict_function
from arbiter.protocols.schema_dialects import for_openai

__all__ = [
    "StreamDecoder",
    "StreamEncoder",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "parse_request",
]

_CHAT_DETAILS = ("auto", "low", "high")  # image_url.detail
_MODELED = frozenset({
    "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens",
    "max_completion_tokens", "temperature", "top_p", "stop", "n", "stream", "stream_options",
    "response_format", "user",
})  # fmt: skip


def parse_request(raw: bytes) -> CanonicalRequest:
    return decode_request(c.load_json(raw), raw)


def decode_request(body: Any, raw: bytes | None = None) -> CanonicalRequest:
    """`raw`: the text `body` was parsed from (its depth read from it: _check.writes_back)."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    c.sendable(body, raw)
    model = c.string(body.get("model"), "model", non_empty=True)
    system: list[str] = []
    messages = _messages(c.array(body.get("messages"), "messages", non_empty=True), system)
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else c.array(stop or [], "stop")
    options = c.obj(body.get("stream_options") or {}, "stream_options")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    parallel = body.get("parallel_tool_calls")
    tools = tuple(
        _tool(t, f"tools[{i}]") for i, t in enumerate(c.array(body.get("tools") or [], "tools"))
    )
    raw_choice = body.get("tool_choice")
    tool_choice: ToolChoice | None
    if isinstance(raw_choice, dict) and raw_choice.get("type") == "allowed_tools":
        spec = c.obj(raw_choice.get("allowed_tools"), "tool_choice.allowed_tools")
        tool_choice, tools = allowed_tools(spec, tools, "tool_choice.allowed_tools", chat=True)
    else:
        tool_choice = _tool_choice(raw_choice)
    c.forced_tool_offered(tool_choice, tools, "tool_choice.function.name")
    return CanonicalRequest(
        model=model,
        messages=messages,
        source="openai",
        system=tuple(system),
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=None
        if parallel is None
        else c.opt_bool(parallel, "parallel_tool_calls"),
        max_tokens=c.opt_integer(max_tokens, "max_tokens", minimum=1),
        temperature=c.opt_number(body.get("temperature"), "temperature", 0.0, 2.0),
        top_p=c.opt_number(body.get("top_p"), "top_p", 0.0, 1.0),
        stop=tuple(c.string(s, f"stop[{i}]") for i, s in enumerate(stops)),
        n=c.opt_integer(body.get("n"), "n", minimum=1) or 1,
        stream=c.opt_bool(body.get("stream"), "stream"),
        include_usage=c.opt_bool(options.get("include_usage"), "stream_options.include_usage"),
        response_format=_response_format(body.get("response_format")),
        user=c.opt_string(body.get("user"), "user"),
        extras={k: v for k, v in body.items() if k not in _MODELED},
    )


def _messages(raw: list[Any], system: list[str]) -> tuple[Message, ...]:
    out: list[Message] = []
    open_calls: set[str] = set()  # ids of the last assistant message's tool calls
    for i, msg in enumerate(raw):
        param = f"messages[{i}]"
        msg = c.obj(msg, param)
        role = msg.get("role")
        content = msg.get("content")
        if role in ("system", "developer"):
            system.append(
                "\n".join(p.text for p in _parts(content, param) if isinstance(p, TextPart))
            )
        elif role == "user":
            out.append(Message("user", _parts(content, param)))
        elif role == "assistant":
            calls = tuple(
                _tool_call(t, f"{param}.tool_calls[{j}]")
                for j, t in enumerate(c.array(msg.get("tool_calls") or [], f"{param}.tool_calls"))
            )
            open_calls = {call.id for call in calls}
            texts = _parts(content, param) if content is not None else ()
            refusal = msg.get("refusal")
            if isinstance(refusal, str) and refusal:
                texts += (TextPart(refusal),)
            out.append(Message("assistant", texts + calls))
        elif role == "tool":
            call_id = c.string(msg.get("tool_call_id"), f"{param}.tool_call_id", non_empty=True)
            if call_id not in open_calls:
                raise InvalidRequest(
                    f"{param}: a message with role 'tool' must answer a tool call of the "
                    f"preceding assistant message (no tool call {call_id!r} there)",
                    param=f"{param}.tool_call_id",
                )
            result = tuple(p for p in _parts(content, param) if isinstance(p, TextPart | ImagePart))
            out.append(Message("user", (ToolResultPart(call_id, result),)))
        else:
            raise InvalidRequest(
                f"Invalid value for '{param}.role': {role!r}.", param=f"{param}.role"
            )
    return tuple(out)


def _parts(content: Any, param: str) -> tuple[Part, ...]:
    if content is None:
        return ()
    if isinstance(content, str):
        return (TextPart(content),)
    out: list[Part] = []
    for j, part in enumerate(c.array(content, f"{param}.content")):
        where = f"{param}.content[{j}]"
        part = c.obj(part, where)
        kind = part.get("type")
        if kind == "text":
            out.append(TextPart(c.string(part.get("text"), f"{where}.text")))
        elif kind == "image_url":
            image = c.obj(part.get("image_url"), f"{where}.image_url")
            url = f"{where}.image_url.url"
            decoded = image_part(c.string(image.get("url"), url, non_empty=True), url)
            # kept where it is one of Chat Completions' levels (an OpenAI model re-encoded from
            # canonical bills the image by it); the body an OpenAI upstream gets is the client's
            detail = image.get("detail")
            if detail in _CHAT_DETAILS:
                decoded = replace(decoded, detail=detail)
            out.append(decoded)
        elif kind == "input_audio":
            audio = c.obj(part.get("input_audio"), f"{where}.input_audio")
            out.append(
                AudioPart(
                    c.string(audio.get("data"), f"{where}.input_audio.data"),
                    c.string(audio.get("format"), f"{where}.input_audio.format"),
                )
            )
        elif kind == "refusal":  # an earlier assistant refusal: what the model said
            out.append(TextPart(c.string(part.get("refusal"), f"{where}.refusal")))
        elif kind == "file":
            out.append(OpaquePart("openai", kind, part))
        else:
            raise InvalidRequest(
                f"Invalid value for '{where}.type': {kind!r}.", param=f"{where}.type"
            )
    return tuple(out)


# -- shared with the Responses codec (openai_responses.py): the same objects, nested otherwise --


def image_part(url: str, param: str) -> ImagePart:
    """An image URL (`param` names it): a `data:` URL becomes inline base64, anything else stays
    a URL."""
    if url[:5].lower() != "data:":
        return ImagePart(url=url)
    return ImagePart(*split_data_url(url, param))


def function_tool(fn: dict[str, Any], param: str) -> Tool:
    """A function tool from its name/description/parameters object (`param` names it: the chat
    tool's `function`, or the Responses tool itself); no parameters = an empty object schema."""
    parameters = fn.get("parameters")
    tool = Tool(
        check_function_name(
            c.string(fn.get("name"), f"{param}.name", non_empty=True), f"{param}.name"
        ),
        c.opt_string(fn.get("description"), f"{param}.description"),
        {"type": "object", "properties": {}}
        if parameters is None or parameters == {}
        else c.obj(parameters, f"{param}.parameters"),
        strict=None if fn.get("strict") is None else c.opt_bool(fn["strict"], f"{param}.strict"),
    )
    check_strict_function(fn, param)  # OpenAI's 400 for a schema outside its strict subset
    return tool


def allowed_tools(
    spec: dict[str, Any], tools: tuple[Tool, ...], param: str, *, chat: bool
) -> tuple[ToolChoice, tuple[Tool, ...]]:
    """OpenAI's `allowed_tools` tool_choice (Chat Completions nests it under `allowed_tools`,
    the Responses API does not): the model may call only the tools it lists, `mode` auto or
    required. Canonically: those tools alone, with choice `auto` or `any`, which is what
    another protocol can carry (OpenAI keeps the full list only so its prompt cache holds)."""
    mode = spec.get("mode")
    if mode not in ("auto", "required"):
        raise InvalidRequest(
            f"Invalid value for '{param}.mode': {str(mode)[:40]!r} (use auto or required).",
            param=f"{param}.mode",
        )
    names: set[str] = set()
    kinds: set[str] = set()
    for i, raw in enumerate(c.array(spec.get("tools"), f"{param}.tools", non_empty=True)):
        entry = c.obj(raw, f"{param}.tools[{i}]")
        kind = c.string(entry.get("type"), f"{param}.tools[{i}].type")
        if kind != "function":
            kinds.add(kind)  # a provider-side tool: offered by its type
            continue
        fn = c.obj(entry.get("function"), f"{param}.tools[{i}].function") if chat else entry
        where = f"{param}.tools[{i}]" + (".function.name" if chat else ".name")
        name = c.string(fn.get("name"), where, non_empty=True)
        if not any(t.builtin is None and t.name == name for t in tools):
            raise InvalidRequest(f"{where}: no function named {name[:64]!r} in tools.", param=where)
        names.add(name)
    kept = tuple(t for t in tools if (t.name in names if t.builtin is None else t.builtin in kinds))
    return ToolChoice("auto" if mode == "auto" else "any"), kept


def tool_choice_word(raw: Any) -> ToolChoice | None:
    """`auto`, `none` and `required` (as canonical `any`); None for anything else (an object,
    which each API nests its own way)."""
    if raw in ("auto", "none"):
        return ToolChoice(raw)
    if raw == "required":
        return ToolChoice("any")
    return None


def _tool_call(raw: Any, param: str) -> ToolCallPart:
    call = c.obj(raw, param)
    fn = c.obj(call.get("function"), f"{param}.function")
    return ToolCallPart(
        c.string(call.get("id"), f"{param}.id", non_empty=True),
        c.string(fn.get("name"), f"{param}.function.name", non_empty=True),
        c.string(fn.get("arguments", ""), f"{param}.function.arguments"),
    )


def _tool(raw: Any, param: str) -> Tool:
    tool = c.obj(raw, param)
    if tool.get("type") != "function":
        kind = c.string(tool.get("type"), f"{param}.type")
        return Tool(str(tool.get("name") or kind), builtin=kind, parameters=tool)
    return function_tool(c.obj(tool.get("function"), f"{param}.function"), f"{param}.function")


def _tool_choice(raw: Any) -> ToolChoice | None:
    if raw is None:
        return None
    if (word := tool_choice_word(raw)) is not None:
        return word
    choice = c.obj(raw, "tool_choice")
    if choice.get("type") != "function":
        raise InvalidRequest("Invalid value for 'tool_choice'.", param="tool_choice")
    fn = c.obj(choice.get("function"), "tool_choice.function")
    return ToolChoice(
        "named", c.string(fn.get("name"), "tool_choice.function.name", non_empty=True)
    )


def _response_format(raw: Any) -> ResponseFormat | None:
    if raw is None:
        return None
    fmt = c.obj(raw, "response_format")
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind == "json_schema":
        spec = c.obj(fmt.get("json_schema"), "response_format.json_schema")
        schema = spec.get("schema")
        return ResponseFormat(
            "json_schema",
            c.obj(schema, "response_format.json_schema.schema") if schema is not None else None,
            schema_name(spec.get("name"), "response_format.json_schema.name"),
            c.opt_bool(spec.get("strict"), "response_format.json_schema.strict"),
        )
    raise InvalidRequest(
        f"Invalid value for 'response_format.type': {kind!r}.", param="response_format.type"
    )


# -- canonical -> OpenAI body ------------------------------------------------------------------


def encode_request(req: CanonicalRequest, upstream_model: str) -> dict[str, Any]:
    """An OpenAI Chat Completions body for `req` (call untranslatable() first). Streaming
    bodies always ask for usage: it is what the answer costs."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": s} for s in req.system]
    for msg in _assistant_turns_joined(req.messages):
        messages.extend(_encode_message(msg))
    body: dict[str, Any] = {"model": upstream_model, "messages": messages}
    if req.tools:
        body["tools"] = [_encode_tool(t, req.source) for t in req.tools]
    if req.tool_choice is not None and (req.tools or req.tool_choice.kind in ("any", "named")):
        # without tools, "auto"/"none" mean nothing and Chat Completions refuses them
        kind = req.tool_choice.kind
        body["tool_choice"] = (
            {"type": "function", "function": {"name": req.tool_choice.name}}
            if kind == "named"
            else ("required" if kind == "any" else kind)
        )
    if req.parallel_tool_calls is not None and req.tools:
        body["parallel_tool_calls"] = req.parallel_tool_calls
    if req.max_tokens is not None:
        body["max_tokens"] = req.max_tokens  # the name every OpenAI-compatible server reads
    for key in ("temperature", "top_p"):
        if (value := getattr(req, key)) is not None:
            body[key] = value
    if req.stop:
        body["stop"] = list(req.stop)
    if req.n != 1:
        body["n"] = req.n
    if req.response_format is not None:
        body["response_format"] = _encode_format(req.response_format, req.source)
    if req.user is not None:
        body["user"] = req.user
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if req.source == "openai":
        body.update(req.extras)
    return body


def _assistant_turns_joined(messages: tuple[Message, ...]) -> list[Message]:
    """Consecutive assistant messages as one: Anthropic merges consecutive turns of a role, so
    its clients may send a call in one assistant message and another (or text) in the next;
    OpenAI wants an assistant message with tool_calls followed by their `tool` messages (400)."""
    out: list[Message] = []
    for msg in messages:
        if out and msg.role == "assistant" and out[-1].role == "assistant":
            out[-1] = Message("assistant", out[-1].parts + msg.parts)
        else:
            out.append(msg)
    return out


def _encode_message(msg: Message) -> list[dict[str, Any]]:
    if msg.role == "assistant":
        text = "".join(p.text for p in msg.parts if isinstance(p, TextPart))
        calls = [p for p in msg.parts if isinstance(p, ToolCallPart)]
        # null only beside tool calls: OpenAI requires an assistant message's content unless it
        # has them (an empty turn fed back, a Response's empty message item, is "" not null)
        out: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
        if calls:
            out["tool_calls"] = [
                {
                    "id": openai_call_id(p.id),
                    "type": "function",
                    "function": {"name": p.name, "arguments": p.arguments},
                }
                for p in calls
            ]
        return [out]
    # Tool results become `tool` messages, which must come right after the assistant turn.
    tool_results = [p for p in msg.parts if isinstance(p, ToolResultPart)]
    results = [_encode_result(p) for p in tool_results]
    # a `tool` message holds text only: a result's images (a screenshot a Responses client
    # returns in function_call_output) follow in a user message, named by their call, rather
    # than never reaching the model
    rest = [part for p in tool_results for part in _result_images(p)]
    rest += [_encode_part(p) for p in msg.parts if not isinstance(p, ToolResultPart)]
    if rest:
        results.append({"role": "user", "content": rest})
    return results


def _result_images(part: ToolResultPart) -> list[dict[str, Any]]:
    images = [_encode_part(p) for p in part.content if isinstance(p, ImagePart)]
    if not images:
        return []
    label = f"The result of tool call {openai_call_id(part.tool_call_id)} holds these images:"
    return [{"type": "text", "text": label}, *images]


def _encode_result(part: ToolResultPart) -> dict[str, Any]:
    # a result's text blocks one per line: joined with nothing, two blocks "42" and "17" (an
    # MCP tool's lines) read as "4217" (vLLM joins a message's text parts with a newline too)
    text = "\n".join(p.text for p in part.content if isinstance(p, TextPart))
    if part.is_error:  # OpenAI has no error flag: say it in the text the model reads
        text = "Error: " + text
    return {"role": "tool", "tool_call_id": openai_call_id(part.tool_call_id), "content": text}


def _encode_part(part: Part) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        url = part.url if part.data is None else f"data:{part.media_type};base64,{part.data}"
        image = {"url": url} if part.detail is None else {"url": url, "detail": part.detail}
        return {"type": "image_url", "image_url": image}
    if isinstance(part, AudioPart):
        return {"type": "input_audio", "input_audio": {"data": part.data, "format": part.format}}
    if isinstance(part, OpaquePart) and part.protocol == "openai":
        return part.data
    kind = part.kind if isinstance(part, OpaquePart) else type(part).__name__
    raise InvalidRequest(f"{kind} content cannot be sent to an OpenAI model", param="messages")


def _encode_tool(tool: Tool, source: Protocol) -> dict[str, Any]:
    if tool.builtin is not None:
        return tool.parameters  # an OpenAI-side tool type, as the client sent it
    parameters = tool.parameters or {"type": "object", "properties": {}}
    if tool.strict and source != "openai":
        # an Anthropic client's strict schema may leave objects' closing unsaid (compat.py
        # refuses one OpenAI's strict mode cannot take)
        parameters = for_openai(parameters)
    fn: dict[str, Any] = {"name": tool.name, "parameters": parameters}
    if tool.description:
        fn["description"] = tool.description
    if tool.strict is not None:  # said as the client said it (a Responses tool's own flag)
        fn["strict"] = tool.strict
    return {"type": "function", "function": fn}


def _encode_format(fmt: ResponseFormat, source: Protocol) -> dict[str, Any]:
    if fmt.kind == "json_object":
        return {"type": "json_object"}
    spec: dict[str, Any] = {"name": fmt.name or "response", "strict": fmt.strict}
    if fmt.schema is not None:
        # an Anthropic client's schema (output_config.format) may leave objects' closing unsaid
        spec["schema"] = for_openai(fmt.schema) if source != "openai" else fmt.schema
    return {"type": "json_schema", "json_schema": spec}
