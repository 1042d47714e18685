"""OpenAI wire format <-> canonical types for /v1/chat/completions, /v1/models and errors.

Owns request validation (clear 400s naming the parameter) and the one renderer from ArbiterError
to OpenAI's error body. Unknown request fields are kept in the body and forwarded untouched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from arbiter import chunked_json, image_links, media, message_cap, relayed_usage
from arbiter.audio_data import check_inline_audio
from arbiter.errors import ArbiterError, InvalidRequest, MissingParameter
from arbiter.grading_hints import hints_from, take_body_field
from arbiter.ids import named
from arbiter.image_data import check_inline_image, split_data_url
from arbiter.protocols import _check as c
from arbiter.protocols import anthropic_response, openai_response
from arbiter.sandbox.request_tests import tests_from_field
from arbiter.surfaces import openai_chat_options, openai_chat_tools, openai_params
from arbiter.types import ChatRequest, ChatResult, estimate_tokens

if TYPE_CHECKING:
    from arbiter.registry import ListedModel

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# the roles whose messages the spec requires `content` of (an assistant's may be only calls)
_CONTENT_REQUIRED = frozenset({"system", "developer", "user", "tool"})
# orjson reads up to 1024 levels but writes at most 254: a body it read yet cannot forward would
# fail later, after routing. Fewer brackets than this cannot nest that deep (skip the check).
_MAX_NESTING = c.MAX_WRITTEN_DEPTH
_MAX_N = 128  # the spec's maximum for `n`


def error_body(err: ArbiterError) -> dict[str, Any]:
    return {
        "error": {
            "message": err.message,
            "type": err.type,
            "param": err.param,
            "code": err.code,
        }
    }


def error_bytes(err: ArbiterError) -> bytes:
    return orjson.dumps(error_body(err))


def sse_error_event(err: ArbiterError) -> bytes:
    """After SSE headers went out, an error becomes one terminal event in OpenAI's error shape."""
    return b"data: " + error_bytes(err) + b"\n\n"


def parse_chat_request(
    raw: bytes,
    headers: Mapping[str, str] | None = None,
    max_messages: int = message_cap.DEFAULT_MAX_MESSAGES,
) -> ChatRequest:
    try:
        body = chunked_json.loads(raw)  # a large body a piece at a time (the loop's turns)
    except orjson.JSONDecodeError as err:
        raise InvalidRequest(
            f"We could not parse the JSON body of your request ({err.msg} at byte {err.pos})."
        ) from err
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    message_cap.check(body, "messages", max_messages)  # before any per-message work
    _check_nesting(raw, body)
    field = take_body_field(body)  # never forwarded upstream
    grading = hints_from(headers or {}, field)
    tests = tests_from_field(field)  # code tests for the sandbox grader (arbiter.sandbox)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("you must provide a model parameter", param="model")
    messages = body.get("messages")
    if messages is None:
        raise MissingParameter("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array.", param="messages")
    texts: list[str] = []
    has_images = has_pdf = False
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise InvalidRequest(f"messages[{i}] must be an object.", param=f"messages[{i}]")
        role = msg.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise InvalidRequest(
                f"Invalid value for 'messages[{i}].role': {role!r}.", param=f"messages[{i}].role"
            )
        _check_message_fields(msg, i, role)
        text, images, files = _content_text(msg.get("content"), i, role)
        has_images = has_images or images
        has_pdf = has_pdf or files
        texts.append(text)
    _check_tool_pairs(messages)
    stream = body.get("stream")  # nullable in the spec: null means false
    if stream is None:
        stream = False
    elif not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean.", param="stream")
    openai_params.check_chat(body)  # the fields forwarded as they came, and both token limits
    openai_chat_tools.check_tool_fields(body)
    openai_chat_options.check_options(body)
    max_tokens = body.get("max_completion_tokens")  # both nullable: null means unset
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise InvalidRequest("'max_tokens' must be a positive integer.", param="max_tokens")
    n = body.get("n")  # choices multiply the cost: the spec's bound, checked before any call
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= _MAX_N):
        raise InvalidRequest(f"'n' must be an integer in [1, {_MAX_N}].", param="n")
    response_format = body.get("response_format")
    if response_format is not None and (
        not isinstance(response_format, dict) or not isinstance(response_format.get("type"), str)
    ):
        raise InvalidRequest(
            "'response_format' must be an object with a 'type'.", param="response_format"
        )
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object.", param="stream_options")
    tools = body.get("tools")
    prompt_text = "\n".join(texts)
    image_specs, audio, media_tokens = media.media_parts(messages)
    return ChatRequest(
        model=model,
        messages=messages,
        body=body,
        stream=stream,
        include_usage=bool(options and options.get("include_usage")),
        max_tokens=max_tokens,
        response_format=response_format,
        has_tools=bool(tools) or bool(body.get("functions")),
        has_images=has_images,
        has_pdf=has_pdf,  # a `file` part: Chat Completions takes PDFs there
        has_audio=audio > 0 or _asks_for_audio(body),
        prompt_text=prompt_text,
        prompt_tokens=media.text_tokens(prompt_text) + media_tokens + 4 * len(messages),
        images=image_specs,
        linked_media=image_links.openai_chat_links(body),
        grading=grading,
        tests=tests,
    )


def _asks_for_audio(body: dict[str, Any]) -> bool:
    """Spoken output (`modalities` holding "audio", or an `audio` output config) needs an audio
    model as a clip in the prompt does: routed elsewhere, the answer came back text only."""
    modalities = body.get("modalities")
    return body.get("audio") is not None or (isinstance(modalities, list) and "audio" in modalities)


def _check_message_fields(msg: dict[str, Any], i: int, role: str) -> None:
    """What the spec requires of a message of this role, before it is forwarded as it came: a
    user, system, developer or tool message without content (null or absent) was OpenAI's 400
    after routing and an empty prompt elsewhere; `name` is a string (a function message's is
    required) of one or more of [a-zA-Z0-9_-], as OpenAI's pattern has it; an assistant
    message's calls are checked by openai_chat_tools, its refusal is text and its audio an
    {id}."""
    if role in _CONTENT_REQUIRED and msg.get("content") is None:
        raise InvalidRequest(
            f"Missing required parameter: 'messages[{i}].content'.",
            param=f"messages[{i}].content",
        )
    name = msg.get("name")  # each path formatted only when at fault (every message pays)
    if name is not None or role == "function":
        if not isinstance(name, str):
            name = c.string(name, f"messages[{i}].name")  # raises: no string
        # a participant's name (a function message's: its function's) by OpenAI's rule; an
        # empty one is no absent one to OpenAI (its 400 after routing, when an Anthropic
        # model, which drops the name, would have answered it)
        openai_chat_tools.check_participant_name(name, i)
    if role == "assistant":
        openai_chat_tools.check_message_calls(msg, i)
        refusal = msg.get("refusal")
        if refusal is not None and not isinstance(refusal, str):
            c.string(refusal, f"messages[{i}].refusal")
        audio = msg.get("audio")  # an earlier spoken answer, named by its id
        if audio is not None and not (isinstance(audio, dict) and isinstance(audio.get("id"), str)):
            c.string(c.obj(audio, f"messages[{i}].audio").get("id"), f"messages[{i}].audio.id")


def _check_tool_pairs(messages: list[dict[str, Any]]) -> None:
    """OpenAI's pairing rule (Anthropic's too, once translated), a 400 here rather than an
    upstream's after routing: a `tool` message answers a call of the assistant message before
    it, and every call is answered before the conversation goes on, once: a call id twice in
    one message's calls, or two answers to one call, reached the upstream as given (OpenAI's
    400 there, which names nothing the caller sent)."""
    calls: dict[str, int] = {}  # the last assistant message's call ids -> their index, in order
    unanswered: dict[str, int] = {}
    answered: dict[str, int] = {}  # call id -> the message that answered it
    for i, msg in enumerate(messages):
        role = msg["role"]
        if role == "tool":
            call_id = msg.get("tool_call_id")
            if not (isinstance(call_id, str) and call_id in calls):
                shown = repr(call_id[:64]) if isinstance(call_id, str) else "a non-string"
                raise InvalidRequest(
                    f"Invalid parameter: 'tool_call_id' of {shown} not found in 'tool_calls' "
                    "of the preceding assistant message.",
                    param=f"messages[{i}].tool_call_id",
                )
            if call_id in answered:
                raise InvalidRequest(
                    f"Invalid parameter: duplicate 'tool_call_id' of {call_id[:64]!r}: "
                    f"messages[{answered[call_id]}] already answers that tool call (each call "
                    "is answered by one tool message).",
                    param=f"messages[{i}].tool_call_id",
                )
            answered[call_id] = i
            unanswered.pop(call_id, None)
            continue
        if unanswered:
            raise InvalidRequest(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. Not answered: "
                + ", ".join(repr(c[:64]) for c in list(unanswered)[:5]),
                param=f"messages[{i}].role",
            )
        if role == "assistant":
            tool_calls = msg.get("tool_calls")
            calls, answered = {}, {}
            for k, call in enumerate(tool_calls if isinstance(tool_calls, list) else ()):
                call_id = call.get("id") if isinstance(call, dict) else None
                if not isinstance(call_id, str):
                    continue
                if call_id in calls:
                    raise InvalidRequest(
                        f"Invalid parameter: duplicate tool call id {call_id[:64]!r} in "
                        f"'messages[{i}].tool_calls' (also at tool_calls[{calls[call_id]}]): "
                        "each call's id is unique.",
                        param=f"messages[{i}].tool_calls[{k}].id",
                    )
                calls[call_id] = k
            unanswered = dict(calls)


def _check_nesting(raw: bytes, body: dict[str, Any]) -> None:
    """Refuse a body nested deeper than orjson can write back (it is forwarded upstream)."""
    if not c.writes_back(body, raw):  # the depth from the text, GIL released (not a dumps)
        raise InvalidRequest(
            f"The request body is nested too deeply (at most {_MAX_NESTING} levels)."
        )


def _content_text(content: Any, i: int, role: str) -> tuple[str, bool, bool]:
    """A message's text, and whether it holds an image, and a file part."""
    if content is None or isinstance(content, str):
        return content or "", False, False
    if not isinstance(content, list):
        raise InvalidRequest(
            f"'messages[{i}].content' must be a string or an array of parts.",
            param=f"messages[{i}].content",
        )
    if not content and role != "assistant":  # OpenAI's own words; Anthropic's surface agrees
        raise InvalidRequest(
            f"Invalid 'messages[{i}].content': empty array. Expected an array with minimum "
            "length 1, but got an empty array instead.",
            param=f"messages[{i}].content",
        )
    parts: list[str] = []
    images = files = False
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            raise InvalidRequest(
                f"'messages[{i}].content' parts must be objects.", param=f"messages[{i}].content"
            )
        kind = _check_part(part, f"messages[{i}].content[{j}]")
        if kind == "text":
            parts.append(part["text"])
        elif kind in ("image_url", "input_image"):
            images = True
            _check_data_url(part, f"messages[{i}].content[{j}].image_url")
        elif kind == "input_audio":  # _check_part saw its data and format are strings
            check_inline_audio(part["input_audio"], f"messages[{i}].content[{j}].input_audio")
        elif kind == "file":  # _check_part saw `file` is an object
            _check_file(part["file"], f"messages[{i}].content[{j}].file")
            files = True
    return "\n".join(parts), images, files


# a known part's required field: (name, the JSON type it must have, the keys it must hold)
_PART_FIELDS: dict[str, tuple[str, type, tuple[str, ...]]] = {
    "text": ("text", str, ()),
    "refusal": ("refusal", str, ()),
    "image_url": ("image_url", dict, ("url",)),
    "input_audio": ("input_audio", dict, ("data", "format")),
    "file": ("file", dict, ()),
}


def _check_part(part: dict[str, Any], where: str) -> str:
    """A content part's type, after the spec's required fields of a known type are checked (a
    part the canonical request would read wrong, e.g. a text part without text, is a 400 here,
    not a prompt of nothing upstream). Other types pass on untouched: OpenAI-compatible servers
    take more (vLLM's video_url) and a named model forwards them."""
    kind = part.get("type")
    if not isinstance(kind, str) or not kind:
        raise InvalidRequest(f"Missing required parameter: '{where}.type'.", param=f"{where}.type")
    spec = _PART_FIELDS.get(kind)
    if spec is None:
        return kind
    name, want, keys = spec
    value = part.get(name)
    if value is None:
        raise InvalidRequest(
            f"Missing required parameter: '{where}.{name}'.", param=f"{where}.{name}"
        )
    if not isinstance(value, want):
        expected = "a string" if want is str else "an object"
        raise InvalidRequest(
            f"Invalid type for '{where}.{name}': expected {expected}.", param=f"{where}.{name}"
        )
    for key in keys:
        if not isinstance(value, dict) or not isinstance(value.get(key), str):
            raise InvalidRequest(
                f"Missing required parameter: '{where}.{name}.{key}' (a string).",
                param=f"{where}.{name}.{key}",
            )
    return kind


def _check_file(file: dict[str, Any], param: str) -> None:
    """A file part names its file (OpenAI's 400 otherwise, as the Responses API's input_file
    gets here): a `file_id` or inline `file_data`, each a string when given."""
    for key in ("file_id", "file_data", "filename"):
        if file.get(key) is not None:
            c.string(file[key], f"{param}.{key}")
    if file.get("file_id") is None and file.get("file_data") is None:
        raise InvalidRequest(f"'{param}' needs 'file_id' or 'file_data'.", param=param)


def _check_data_url(part: dict[str, Any], param: str) -> None:
    """An inline (data URL) image must be an image in valid base64 (image_data.py), whether
    `image_url` is the object (`{"url": ...}`, `param`.url) or the URL itself (an
    `input_image` part's string, vLLM's; `param`). One written as RFC 2397 allows but not as
    `data:<type>;base64,` (`;BASE64`, a `;name=` parameter) is forwarded in that form: what
    every upstream takes. (A linked one is image_links.py's, either form.)"""
    spec = part.get("image_url")
    holder, key = (spec, "url") if isinstance(spec, dict) else (part, "image_url")
    if holder is spec:
        param = f"{param}.url"
    url = holder.get(key)
    if isinstance(url, str) and url[:5].lower() == "data:":
        media_type, data = split_data_url(url, param)
        check_inline_image(media_type, data, param)
        if not url.startswith(f"data:{media_type};base64,"):
            holder[key] = f"data:{media_type};base64,{data}"


def models_body(models: Sequence[ListedModel], created: int) -> dict[str, Any]:
    """GET /v1/models in OpenAI's list shape; each entry also carries its context window and
    prices in USD per 1M tokens (null: not priced yet; `auto`: whichever model is chosen)."""
    return {
        "object": "list",
        "data": [
            {"id": m.name, "object": "model", "created": created, "owned_by": "arbiter",
             "context_window": m.context_window, "max_output_tokens": m.max_output_tokens,
             "price_in_per_mtok": m.price_in_per_mtok, "price_out_per_mtok": m.price_out_per_mtok,
             "routed": m.routed}
            for m in models
        ],
    }  # fmt: skip


def render_result(
    result: ChatResult,
    upstream_protocol: str,
    created: int,
    fallback_id: str = "",
    prompt_tokens: int = 0,
    limits: relayed_usage.Limits | None = None,
    json_only: bool = False,
) -> bytes:
    """The chat.completion body for an answer: the upstream's bytes when it speaks OpenAI, else
    its Anthropic answer translated (`fallback_id`: its id when the answer has none, the
    decision's, never a bare `chatcmpl-`; an OpenAI answer without one gets it too, and one
    whose `usage` holds a count that is no count gets Arbiter's counts: relayed_usage.py,
    `prompt_tokens` the prompt's; one past `limits`, what the call could bill, too;
    `json_only`: a strict JSON schema asked, so a translated text that opens as no JSON is
    the refusal: schema_refusal.py)."""
    if upstream_protocol == "openai":
        mend: dict[str, Any] = {}
        if not named(result.body.get("id")):  # the SDKs key a completion by it: never empty
            mend["id"] = openai_response.completion_id(fallback_id)
        usage = relayed_usage.openai_usage(
            result.body.get("usage"), prompt_tokens, estimate_tokens(result.content), limits
        )
        if usage is not None:
            mend["usage"] = usage
        if mend:
            return orjson.dumps({**result.body, **mend})
        return result.raw or orjson.dumps(result.body)
    canonical = anthropic_response.decode_response(result.body)
    if not canonical.id:
        canonical = dataclasses.replace(canonical, id=fallback_id)
    shown = relayed_usage.canonical_shown(
        canonical.usage, prompt_tokens, estimate_tokens(result.content), limits
    )
    if shown is not canonical.usage:  # translated, held to the same limits
        canonical = dataclasses.replace(canonical, usage=shown)
    return orjson.dumps(
        openai_response.encode_response(canonical, result.shown_model, created, json_only=json_only)
    )


def render_error(err: ArbiterError) -> tuple[bytes, int]:
    return error_bytes(err), err.http_status
