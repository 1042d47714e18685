"""OpenAI Responses API (POST /v1/responses) <-> canonical types. Pure: no I/O, no clock.

Arbiter answers the Responses API statelessly: every request carries its whole conversation
(`input` as a string or a list of items, `instructions` as the system prompt), nothing is
stored, so `previous_response_id`, `conversation`, `background` and `store: true` are refused
with a 400 naming the parameter. Function tools only (the hosted tools run at OpenAI).

Input items read: messages (`role` user/assistant/system/developer, content a string or
input_text / input_image / output_text / refusal parts), `function_call` (an earlier tool call
of the model), `function_call_output` (its result) and `reasoning` (an Anthropic model's
thinking carried in `encrypted_content`: responses_reasoning.py; any other is ignored).
`text.format` maps onto the chat `response_format`, `max_output_tokens` onto `max_tokens`,
`reasoning.effort` onto `reasoning_effort` and `text.verbosity` onto `verbosity` (OpenAI-only
extras: Anthropic models are then ineligible). Log-probabilities (`top_logprobs` above 0,
`include` of message.output_text.logprobs) are refused with a 400 naming the field: the
canonical answer every Response is built from carries none.

The answer: openai_responses_object.py builds the Response (the request's parameters echoed, as
OpenAI does: `Echo`) from canonical output; the stream encoder is openai_responses_stream.py.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

from arbiter.canonical import (
    CanonicalRequest,
    ImagePart,
    Message,
    OpaquePart,
    Part,
    ResponseFormat,
    Role,
    TextPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from arbiter.errors import InvalidRequest, MissingParameter
from arbiter.image_data import check_inline_image
from arbiter.protocols import _check as c
from arbiter.protocols.function_names import (
    call_name_fault,
    schema_name,
    unique_function_names,
)
from arbiter.protocols.openai import (
    allowed_tools,
    function_tool,
    image_part,
    tool_choice_word,
)
from arbiter.protocols.openai_responses_object import Echo
from arbiter.protocols.openai_strict import check_strict_format
from arbiter.protocols.responses_gateway_fields import CHECKED, check_gateway_fields
from arbiter.protocols.responses_reasoning import (
    ENCRYPTED_INCLUDE,
    thinking_part,
)

# Accepted and not forwarded: bookkeeping and hints that do not change the answer's content.
_IGNORED = frozenset({"metadata", "stream_options", "truncation"})
# Sent on as Chat Completions' fields of the same name, as chat sends them (compat drops them
# on the way to an Anthropic model; its encode reads safety_identifier as `user`): OpenAI
# attributes a policy breach to the end user the identifier names, not to the operator's whole
# organisation, the cache key and retention raise its prompt-cache hits (the bill), and the
# tier asks for priority ("fast") processing, reserved and billed at the model's
# price_fast_factor as chat's is (worst_case.asks_fast; the answer's tier, parse_usage)
_FORWARDED = ("safety_identifier", "prompt_cache_key", "prompt_cache_retention", "service_tier")
# the spec's TokenCountsBody's one field that CreateResponse lacks (the SDK's
# `input_tokens.count(personality=...)`): a style preset of OpenAI's, whose own prompt Arbiter
# cannot see, so only typed (at most 64 characters, as the spec says) and not counted
_COUNT_ONLY = frozenset({"personality"})
# the spec's TokenCountsBody: what /v1/responses/input_tokens takes. CreateResponse's other
# fields (`stream`, `max_output_tokens`, `temperature`, `store`...) are refused there as
# OpenAI refuses an unknown one: a count that took them would let a caller believe they count
_COUNT_FIELDS = frozenset({
    "model", "input", "previous_response_id", "tools", "text", "reasoning", "truncation",
    "instructions", "personality", "conversation", "tool_choice", "parallel_tool_calls",
})  # fmt: skip
MAX_PERSONALITY = 64
_READ = frozenset({
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "text",
    "max_output_tokens", "temperature", "top_p", "stream", "store", "reasoning",
    "previous_response_id", "conversation", "background", "prompt", "max_tool_calls",
    "top_logprobs", "include", "user",
})  # fmt: skip
_STREAM_OPTIONS = frozenset({"include_obfuscation"})
_VERBOSITY = ("low", "medium", "high")
REASONING_SUMMARIES = ("auto", "concise", "detailed")  # the spec's Reasoning.summary
_TRUNCATIONS = ("auto", "disabled")
_IMAGE_DETAILS = ("low", "high", "auto", "original")  # the spec's ImageDetail
MAX_SAFETY_IDENTIFIER = 64  # characters, as chat's (surfaces/openai_params.py)
# the `include` value that asks for log-probabilities; other values (encrypted reasoning, image
# URLs of hosted tools...) concern what Arbiter never returns, so they change nothing
_LOGPROBS_INCLUDE = "message.output_text.logprobs"
_STATEFUL = ("previous_response_id", "conversation", "prompt")
# the fields of `reasoning` and `text` (the spec's Reasoning and ResponseTextParam), a function
# tool's, and the `include` values (its IncludeEnum): anything else is a misspelling, refused
# like a top-level one
_REASONING_FIELDS = frozenset({"mode", "effort", "summary", "context", "generate_summary"})
_TEXT_FIELDS = frozenset({"format", "verbosity"})
# the spec's TextResponseFormatJsonSchema; its text and json_object formats are a type alone
_JSON_SCHEMA_FIELDS = frozenset({"type", "name", "description", "schema", "strict"})
_TYPE = frozenset({"type"})
# the spec's InputImageContent and InputFileContent (a part's cache breakpoint and a file's
# detail are hints Chat Completions has no place for)
_IMAGE_FIELDS = frozenset({"type", "image_url", "file_id", "detail", "prompt_cache_breakpoint"})
_OUTPUT_PARTS = ("input_text", "input_image", "input_file")  # a function_call_output's
_FILE_PART_FIELDS = frozenset({
    "type", "file_id", "filename", "file_data", "file_url", "detail", "prompt_cache_breakpoint",
})  # fmt: skip
# the spec's FunctionTool (`output_schema` only describes the output, `allowed_callers` who may
# call it: read by no model Arbiter sends the tool to, so accepted and not sent)
_FUNCTION_TOOL_FIELDS = frozenset({
    "type", "name", "description", "parameters", "strict", "output_schema", "defer_loading",
    "allowed_callers",
})  # fmt: skip
# the Chat Completions view's fields that the Responses API names otherwise (its errors name
# the caller's: ChatRequest.view_params)
VIEW_PARAMS = MappingProxyType(
    {"reasoning_effort": "reasoning.effort", "verbosity": "text.verbosity"}
)
_INCLUDABLE = frozenset({
    "file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
    "message.input_image.image_url", "computer_call_output.output.image_url",
    "code_interpreter_call.outputs", "reasoning.encrypted_content", _LOGPROBS_INCLUDE,
})  # fmt: skip


def decode_request(
    body: Any, *, count_only: bool = False, raw: bytes | None = None
) -> tuple[CanonicalRequest, Echo]:
    """A Responses request body -> the canonical request (source "openai": it is sent to
    OpenAI upstreams as Chat Completions) and what the answer echoes. InvalidRequest names the
    parameter. `count_only`: a /v1/responses/input_tokens body, whose `input` is optional (the
    spec's TokenCountsBody requires nothing): none, or an empty one, counts as no messages.
    `raw`: the text `body` was parsed from (its depth read from it: _check.writes_back)."""
    body = c.obj(body, "body")
    c.sendable(body, raw)
    model = c.string(body.get("model"), "model", non_empty=True)
    if count_only:
        _count_fields(body)
    for key in _STATEFUL:
        if body.get(key) is not None:
            raise InvalidRequest(
                f"'{key}' is not supported: Arbiter's Responses API is stateless and keeps no "
                "responses. Send the whole conversation in 'input'.",
                param=key,
            )
    if c.opt_bool(body.get("store"), "store"):
        raise InvalidRequest(
            "'store': true is not supported: Arbiter keeps no responses. Set 'store' to false "
            "(or leave it out) and send the whole conversation in 'input'.",
            param="store",
        )
    if c.opt_bool(body.get("background"), "background"):
        raise InvalidRequest("'background' responses are not supported.", param="background")
    check_gateway_fields(body)
    unknown = [
        k
        for k in body
        if k not in _READ
        and k not in _IGNORED
        and k not in _FORWARDED
        and k not in CHECKED
        and not (count_only and k in _COUNT_ONLY)
        and body[k] is not None
    ]
    if unknown:
        raise InvalidRequest(f"Unknown parameter: '{unknown[0]}'.", param=unknown[0])
    _no_logprobs(body)
    personality = c.opt_string(body.get("personality"), "personality")
    if personality is not None and len(personality) > MAX_PERSONALITY:
        raise InvalidRequest(
            f"'personality' must be at most {MAX_PERSONALITY} characters.", param="personality"
        )
    # ignored, yet a value the spec forbids is the caller's mistake (OpenAI's 400), not a 200;
    # `truncation` is echoed "disabled" whatever it asks: Arbiter never drops input items (an
    # input longer than every model's window is a 400 either way). The tier and the cache key
    # and retention (sent on) are only typed: OpenAI adds values
    c.opt_choice(body.get("truncation"), "truncation", _TRUNCATIONS)
    for key in ("service_tier", "prompt_cache_key", "prompt_cache_retention"):
        c.opt_string(body.get(key), key)
    identifier = c.opt_string(body.get("safety_identifier"), "safety_identifier")
    if identifier is not None and len(identifier) > MAX_SAFETY_IDENTIFIER:
        raise InvalidRequest(
            f"'safety_identifier' must be at most {MAX_SAFETY_IDENTIFIER} characters.",
            param="safety_identifier",
        )
    if body.get("stream_options") is not None:
        # the spec's one option: chat's `include_usage` is no Responses field (the final
        # response.completed event always carries the usage), refused as OpenAI refuses it
        _known_fields(body["stream_options"], "stream_options", _STREAM_OPTIONS)
        options = body["stream_options"]
        c.opt_bool(options.get("include_obfuscation"), "stream_options.include_obfuscation")
    # for hosted tools, which Arbiter never runs: ignored, yet typed as the spec types it
    c.opt_integer(body.get("max_tool_calls"), "max_tool_calls", minimum=0)
    instructions = c.opt_string(body.get("instructions"), "instructions")
    system = [instructions] if instructions else []
    raw_input = body.get("input")
    if count_only and raw_input in (None, "", []):
        messages: tuple[Message, ...] = ()  # instructions and tools alone are still counted
    else:
        messages = _input(raw_input, system, may_be_system_only=count_only)
    # absent or null is no tools; any other value that is not an array (`{}`, `0`, `false`
    # too) is the caller's mistake, as OpenAI answers it
    tools_raw = c.array([] if body.get("tools") is None else body["tools"], "tools")
    offered = tools = tuple(_tool(t, f"tools[{i}]") for i, t in enumerate(tools_raw))
    unique_function_names([t.name for t in tools], lambda i: f"tools[{i}].name")
    raw_choice = body.get("tool_choice")
    tool_choice: ToolChoice | None
    if isinstance(raw_choice, dict) and raw_choice.get("type") == "allowed_tools":
        tool_choice, tools = allowed_tools(raw_choice, tools, "tool_choice", chat=False)
    else:
        tool_choice = _tool_choice(raw_choice)
    c.forced_tool_offered(tool_choice, tools, "tool_choice.name")
    fmt_raw, response_format = _text_format(body.get("text"))
    verbosity = _verbosity(body.get("text"))
    max_tokens = c.opt_integer(body.get("max_output_tokens"), "max_output_tokens", minimum=1)
    temperature = c.opt_number(body.get("temperature"), "temperature", 0.0, 2.0)
    top_p = c.opt_number(body.get("top_p"), "top_p", 0.0, 1.0)
    parallel = body.get("parallel_tool_calls")
    parallel_tool_calls = None if parallel is None else c.opt_bool(parallel, "parallel_tool_calls")
    extras: dict[str, Any] = {}
    reasoning = body.get("reasoning")
    _known_fields(reasoning, "reasoning", _REASONING_FIELDS)
    _known_fields(body.get("text"), "text", _TEXT_FIELDS)
    effort = summary = None
    if reasoning is not None:
        reasoning = c.obj(reasoning, "reasoning")
        effort = c.opt_string(reasoning.get("effort"), "reasoning.effort")
        if effort is not None:
            extras["reasoning_effort"] = effort
        # typed as the spec types them (Reasoning.context an enum, Reasoning.mode any string:
        # "standard", "pro" and later ones); Chat Completions has neither, so not sent on
        c.opt_choice(
            reasoning.get("context"), "reasoning.context", ("auto", "current_turn", "all_turns")
        )
        c.opt_string(reasoning.get("mode"), "reasoning.mode")
        # echoed only: the Chat Completions view has no summaries (`generate_summary` is its
        # deprecated name). Echoed, so held to the spec's words: "lots" made the Response
        # object one its own schema (Reasoning.summary) refuses
        summary = c.opt_choice(
            c.opt_string(reasoning.get("summary"), "reasoning.summary"),
            "reasoning.summary",
            REASONING_SUMMARIES,
        )
        if summary is None:
            summary = c.opt_choice(
                c.opt_string(reasoning.get("generate_summary"), "reasoning.generate_summary"),
                "reasoning.generate_summary",
                REASONING_SUMMARIES,
            )
    if verbosity is not None:  # Chat Completions' `verbosity`: OpenAI only, like the effort
        extras["verbosity"] = verbosity
    metadata = c.metadata(body.get("metadata"))
    user = c.opt_string(body.get("user"), "user")
    extras.update((key, body[key]) for key in _FORWARDED if body.get(key) is not None)
    canonical = CanonicalRequest(
        model=model,
        messages=messages,
        source="openai",
        system=tuple(system),
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel_tool_calls,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        stream=c.opt_bool(body.get("stream"), "stream"),
        include_usage=True,
        response_format=response_format,
        user=user,
        extras=extras,
    )
    echo = Echo(
        instructions=instructions,
        max_output_tokens=max_tokens,
        tools=[_tool_echo(t, raw) for t, raw in zip(offered, tools_raw, strict=True)],
        tool_choice=body.get("tool_choice") or "auto",
        parallel_tool_calls=True if parallel_tool_calls is None else parallel_tool_calls,
        temperature=1.0 if temperature is None else temperature,
        top_p=1.0 if top_p is None else top_p,
        text_format=fmt_raw,
        verbosity=verbosity,
        metadata=metadata,
        user=user,
        reasoning_effort=effort,
        reasoning_summary=summary,
        encrypted_reasoning=ENCRYPTED_INCLUDE in (body.get("include") or ()),
    )
    return canonical, echo


def _input(raw: Any, system: list[str], *, may_be_system_only: bool) -> tuple[Message, ...]:
    if raw is None:  # absent or null: nothing to answer (Arbiter keeps no earlier response)
        raise MissingParameter("input")
    if isinstance(raw, str):
        if not raw:
            raise InvalidRequest("'input' must not be empty.", param="input")
        return (Message("user", (TextPart(raw),)),)
    items = c.array(raw, "input", non_empty=True)
    out: list[tuple[Role, list[Part]]] = []

    def add(role: Role, parts: tuple[Part, ...]) -> None:
        # consecutive items of one role are one turn (a message and its function calls); the
        # turn's parts grow in place: a new tuple per item made n items of one role cost n^2
        if out and out[-1][0] == role:
            out[-1][1].extend(parts)
        else:
            out.append((role, list(parts)))

    calls: dict[str, str] = {}  # call_id -> where its function_call is, until answered
    answered: dict[str, str] = {}  # call_id -> where its function_call_output is
    for i, item in enumerate(items):
        where = f"input[{i}]"
        item = c.obj(item, where)
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            # a user turn of no parts is no prompt: refused here, not by the upstream after routing
            parts = _parts(item.get("content"), where, non_empty=role == "user")
            if role in ("system", "developer"):
                system.append(_system_text(parts, where))
            elif role in ("user", "assistant"):
                add(role, parts)
            else:
                raise InvalidRequest(
                    f"Invalid value for '{where}.role': {role!r}.", param=f"{where}.role"
                )
        elif kind == "function_call":
            call_id = c.string(item.get("call_id"), f"{where}.call_id", non_empty=True)
            # two calls of one id open at once: no output could say which it answers (sent as
            # given, an OpenAI model's 400 naming nothing the caller sent); an id answered
            # before may be called again (servers that number calls per answer reuse them)
            if call_id in calls and call_id not in answered:
                raise InvalidRequest(
                    f"Invalid '{where}.call_id': duplicate call_id {call_id[:64]!r} (also at "
                    f"{calls[call_id]}, not answered yet): each open function_call's call_id is "
                    "unique.",
                    param=f"{where}.call_id",
                )
            calls[call_id] = where
            answered.pop(call_id, None)
            name = c.string(item.get("name"), f"{where}.name", non_empty=True)
            # a chat model's 400 once it is an earlier tool call
            if (want := call_name_fault(name)) is not None:
                raise InvalidRequest(
                    f"{where}.name: Input should be {want} (got {name[:64]!r})",
                    param=f"{where}.name",
                )
            arguments = c.string(item.get("arguments", ""), f"{where}.arguments")
            add("assistant", (ToolCallPart(call_id, name, arguments),))
        elif kind == "function_call_output":
            call_id = c.string(item.get("call_id"), f"{where}.call_id", non_empty=True)
            if call_id not in calls:
                raise InvalidRequest(
                    f"{where}: no function_call with call_id {call_id!r} before this output "
                    "(Arbiter keeps no earlier responses: send the function_call item too).",
                    param=f"{where}.call_id",
                )
            if call_id in answered:
                raise InvalidRequest(
                    f"Invalid '{where}.call_id': duplicate function_call_output for call_id "
                    f"{call_id[:64]!r} (its function_call at {calls[call_id]} is already "
                    f"answered at {answered[call_id]}): each function_call is answered by one "
                    "output.",
                    param=f"{where}.call_id",
                )
            answered[call_id] = where
            output = item.get("output")
            parts = (
                (TextPart(output),)
                if isinstance(output, str)
                else _parts(c.array(output, f"{where}.output"), where, field="output")
            )
            content = tuple(p for p in parts if isinstance(p, TextPart | ImagePart))
            # a tool result holds text and images; its files go with it in the same turn
            files = tuple(p for p in parts if isinstance(p, OpaquePart))
            add("user", (ToolResultPart(call_id, content), *files))
        elif kind == "item_reference":
            raise InvalidRequest(
                f"'{where}': item references need stored responses, which Arbiter does not keep.",
                param=f"{where}.type",
            )
        elif kind == "reasoning":
            # an Anthropic model's thinking block, carried in `encrypted_content`, goes back to
            # it in this turn (a tool loop's must); otherwise context for OpenAI only, not text
            if (thought := thinking_part(item, where)) is not None:
                add("assistant", (thought,))
        else:
            raise InvalidRequest(
                f"Invalid value for '{where}.type': {kind!r} (supported: message, "
                "function_call, function_call_output).",
                param=f"{where}.type",
            )
    if not out and not may_be_system_only:
        raise InvalidRequest("'input' holds no user or assistant message.", param="input")
    for call_id, where in calls.items():  # OpenAI's rule (and Anthropic's, once translated)
        if call_id not in answered:
            raise InvalidRequest(
                f"No tool output found for function call {call_id[:64]!r} ({where}).",
                param=f"{where}.call_id",
            )
    return tuple(Message(role, tuple(parts)) for role, parts in out)


def _count_fields(body: dict[str, Any]) -> None:
    """A count body holds TokenCountsBody's fields only (null is left out, as everywhere)."""
    extra = [k for k in body if k not in _COUNT_FIELDS and body[k] is not None]
    if extra:
        raise InvalidRequest(f"Unknown parameter: '{extra[0][:64]}'.", param=extra[0])


def _parts(
    content: Any, where: str, *, non_empty: bool = False, field: str = "content"
) -> tuple[Part, ...]:
    """A message's `content` (or, `field="output"`, a function_call_output's `output`) as
    canonical parts; a refusal names the part's path under `field`."""
    if isinstance(content, str):
        return (TextPart(content),)
    out: list[Part] = []
    for j, part in enumerate(c.array(content, f"{where}.{field}", non_empty=non_empty)):
        at = f"{where}.{field}[{j}]"
        part = c.obj(part, at)
        kind = part.get("type")
        if field == "output" and kind not in _OUTPUT_PARTS:
            # the spec's FunctionCallOutputItemParam: a tool's output is input to the model,
            # never the model's own text or refusal (OpenAI's 400, not text read as given)
            raise InvalidRequest(
                f"Invalid value for '{at}.type': {str(kind)[:64]!r} (a function_call_output's "
                "parts are input_text, input_image or input_file).",
                param=f"{at}.type",
            )
        if kind in ("input_text", "output_text", "text"):
            out.append(TextPart(c.string(part.get("text"), f"{at}.text")))
        elif kind == "refusal":
            out.append(TextPart(c.string(part.get("refusal"), f"{at}.refusal")))
        elif kind == "input_image":
            _known_fields(part, at, _IMAGE_FIELDS)  # a misspelt `detail` billed `auto`
            url = part.get("image_url")
            if not isinstance(url, str) or not url:
                raise InvalidRequest(
                    f"'{at}.image_url' (a URL or data URL) is required; file ids need OpenAI's "
                    "file store.",
                    param=f"{at}.image_url",
                )
            image = image_part(url, f"{at}.image_url")
            if image.data is not None:
                check_inline_image(image.media_type, image.data, f"{at}.image_url")
            detail = c.opt_choice(part.get("detail"), f"{at}.detail", _IMAGE_DETAILS)
            # sent on as the client asked (it sets what an OpenAI model bills for the image);
            # Chat Completions has no `original`: its nearest, `high`
            detail = "high" if detail == "original" else detail
            out.append(image if detail is None else replace(image, detail=detail))
        elif kind == "input_file":
            _known_fields(part, at, _FILE_PART_FIELDS)
            out.append(OpaquePart("openai", "file", _chat_file(part, at)))
        else:
            raise InvalidRequest(f"Invalid value for '{at}.type': {kind!r}.", param=f"{at}.type")
    return tuple(out)


def _system_text(parts: tuple[Part, ...], where: str) -> str:
    """A system or developer message's text, its parts one per line (as chat's: joined with
    nothing, "Be brief." and "Answer in French." read "Be brief.Answer in French."). An image
    or file there is refused: the system prompt every upstream gets is text (Chat
    Completions' system and developer messages take text parts only, Anthropic's `system`
    text blocks only), and it was dropped without a word."""
    for j, part in enumerate(parts):
        if not isinstance(part, TextPart):
            kind = "input_image" if isinstance(part, ImagePart) else "input_file"
            raise InvalidRequest(
                f"Invalid value for '{where}.content[{j}].type': {kind!r} in a "
                "system or developer message: those hold text only here (the system "
                "prompt reaches every model as text). Put it in a user message.",
                param=f"{where}.content[{j}].type",
            )
    return "\n".join(p.text for p in parts if isinstance(p, TextPart))


_FILE_FIELDS = ("file_id", "filename", "file_data")


def _chat_file(part: dict[str, Any], at: str) -> dict[str, Any]:
    """An `input_file` as Chat Completions' file part, the body an OpenAI upstream gets (the
    Responses part as it came is a type Chat Completions refuses)."""
    if part.get("file_url") is not None:
        raise InvalidRequest(
            f"'{at}.file_url' is not supported: send the file as 'file_id' or 'file_data'.",
            param=f"{at}.file_url",
        )
    file = {k: c.string(part[k], f"{at}.{k}") for k in _FILE_FIELDS if part.get(k) is not None}
    if "file_id" not in file and "file_data" not in file:
        raise InvalidRequest(f"'{at}' needs 'file_id' or 'file_data'.", param=at)
    return {"type": "file", "file": file}


def _tool(raw: Any, where: str) -> Tool:
    tool = c.obj(raw, where)
    if tool.get("type") != "function":
        raise InvalidRequest(
            f"'{where}.type' {tool.get('type')!r} is not supported: Arbiter's Responses API "
            "serves function tools only (hosted tools run at OpenAI).",
            param=f"{where}.type",
        )
    # a misspelt `parameters` went unread: the tool reached the model with no arguments
    _known_fields(tool, where, _FUNCTION_TOOL_FIELDS)
    if tool.get("defer_loading"):
        raise InvalidRequest(
            f"'{where}.defer_loading' is not supported: a deferred function is loaded by tool "
            "search, a hosted tool Arbiter does not run.",
            param=f"{where}.defer_loading",
        )
    return function_tool(tool, where)


def _tool_echo(tool: Tool, raw: dict[str, Any]) -> dict[str, Any]:
    """A function tool as the Response object lists it (the spec's FunctionTool)."""
    strict = raw.get("strict")
    return {
        "type": "function", "name": tool.name, "description": tool.description,
        "parameters": tool.parameters, "strict": strict if isinstance(strict, bool) else None,
    }  # fmt: skip


def _tool_choice(raw: Any) -> ToolChoice | None:
    if raw is None:
        return None
    if (word := tool_choice_word(raw)) is not None:
        return word
    choice = c.obj(raw, "tool_choice")
    if choice.get("type") != "function":
        raise InvalidRequest(
            "Invalid value for 'tool_choice': use auto, none, required or a function.",
            param="tool_choice",
        )
    return ToolChoice("named", c.string(choice.get("name"), "tool_choice.name", non_empty=True))


def _known_fields(value: Any, where: str, known: frozenset[str]) -> None:
    if value is None:
        return
    for key in c.obj(value, where):
        if key not in known:
            raise InvalidRequest(
                f"Unknown parameter: '{where}.{key[:64]}'.", param=f"{where}.{key}"
            )


def _no_logprobs(body: dict[str, Any]) -> None:
    """Log-probabilities are refused, never dropped: the canonical answer Arbiter builds every
    Response from (whatever the upstream's protocol) carries none to return."""
    include = c.array(body.get("include") or [], "include")
    for value in include:
        if not isinstance(value, str) or value not in _INCLUDABLE:
            raise InvalidRequest(
                f"Invalid value for 'include': {str(value)[:80]!r}.", param="include"
            )
    if _LOGPROBS_INCLUDE in include:
        raise InvalidRequest(
            f"'include' {_LOGPROBS_INCLUDE!r} is not supported: Arbiter's Responses API returns "
            "no log-probabilities (/v1/chat/completions relays them with 'logprobs').",
            param="include",
        )
    top = c.opt_integer(body.get("top_logprobs"), "top_logprobs", minimum=0)
    if top:  # 0 asks for no alternatives: nothing to drop
        raise InvalidRequest(
            "'top_logprobs' is not supported: Arbiter's Responses API returns no "
            "log-probabilities (/v1/chat/completions relays them with 'top_logprobs').",
            param="top_logprobs",
        )


def _verbosity(raw: Any) -> str | None:
    if raw is None:
        return None
    value = c.obj(raw, "text").get("verbosity")
    if value is None:
        return None
    if value not in _VERBOSITY:
        raise InvalidRequest(
            f"Invalid value for 'text.verbosity': {value!r} (use low, medium or high).",
            param="text.verbosity",
        )
    return str(value)


def _text_format(raw: Any) -> tuple[dict[str, Any], ResponseFormat | None]:
    if raw is None:
        return {"type": "text"}, None
    text = c.obj(raw, "text")
    fmt = text.get("format")
    if fmt is None:
        return {"type": "text"}, None
    fmt = c.obj(fmt, "text.format")
    kind = fmt.get("type")
    # a misspelt `strict` went unread: the schema was served as a best-effort one, by models
    # that cannot keep it
    _known_fields(fmt, "text.format", _JSON_SCHEMA_FIELDS if kind == "json_schema" else _TYPE)
    if kind == "text":
        return fmt, None
    if kind == "json_object":
        return fmt, ResponseFormat("json_object")
    if kind == "json_schema":
        schema = c.obj(fmt.get("schema"), "text.format.schema")
        name = schema_name(fmt.get("name"), "text.format.name")
        strict = c.opt_bool(fmt.get("strict"), "text.format.strict")
        check_strict_format(schema, name, strict, "text.format.schema", responses=True)
        return fmt, ResponseFormat("json_schema", schema, name, strict)
    raise InvalidRequest(
        f"Invalid value for 'text.format.type': {kind!r}.", param="text.format.type"
    )
