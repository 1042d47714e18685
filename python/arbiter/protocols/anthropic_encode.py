"""Canonical request -> Anthropic Messages body (for a Claude upstream). Pure."""

from __future__ import annotations

import dataclasses
import hashlib
import string
from typing import Any

import orjson

from arbiter.canonical import (
    AudioPart,
    CanonicalRequest,
    ImagePart,
    OpaquePart,
    Part,
    Protocol,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCallPart,
    ToolResultPart,
)
from arbiter.errors import InvalidRequest
from arbiter.media import image_type_of
from arbiter.protocols import _check as c
from arbiter.protocols.schema_dialects import for_anthropic


def encode_request(
    req: CanonicalRequest,
    upstream_model: str,
    *,
    default_max_tokens: int,
    structured_outputs: bool = False,
) -> dict[str, Any]:
    """An Anthropic body for `req`. Call untranslatable() first: this encodes what it can and
    raises InvalidRequest only for content Anthropic cannot hold at all (tool-call arguments that
    are not an object go as {"_raw": text}, as a translated answer shows them).
    `default_max_tokens` fills the field Anthropic requires when the client gave none.
    `structured_outputs`: the model takes `output_config.format` (its `json-schema`
    capability), so a schema the client did not ask to be strict goes there too."""
    body: dict[str, Any] = {
        "model": upstream_model,
        "max_tokens": req.max_tokens or default_max_tokens,
        "messages": _encode_messages(req),
    }
    # an empty system text is nothing said; Anthropic refuses it as an empty text block (400)
    system = [text for text in req.system if text]
    fmt = req.response_format
    # A strict schema always goes as Anthropic's structured output (routing sent it only to a
    # model that has them). A non-strict one asks for an answer in the schema's shape, best
    # effort: where the model has structured outputs, decoding constrained to the schema gives
    # exactly that, where an instruction in the system prompt only asks. Strict semantics stay
    # the client's choice all the same: a non-strict schema never makes `json-schema` a routing
    # requirement (a model without it still serves it by instruction), and the schema is put
    # in Anthropic's subset as a strict one is. json_object stays an instruction: Anthropic's
    # structured outputs close every object (`additionalProperties: false`), so "any object"
    # has no schema there (`{"type": "object"}` would allow only `{}`).
    constrained = fmt is not None and fmt.schema is not None and (fmt.strict or structured_outputs)
    if fmt is not None and not constrained:
        system.append(_json_instruction(fmt))
    if system:
        body["system"] = (
            system[0] if len(system) == 1 else [{"type": "text", "text": s} for s in system]
        )
    if req.tools:
        body["tools"] = [_encode_tool(t, req.source) for t in req.tools]
    choice = _encode_tool_choice(req)
    if choice is not None:
        body["tool_choice"] = choice
    if req.temperature is not None:
        body["temperature"] = min(req.temperature, 1.0)  # OpenAI allows up to 2; Anthropic 1
    for key in ("top_p", "top_k"):
        if (value := getattr(req, key)) is not None:
            body[key] = value
    if req.stop:
        body["stop_sequences"] = list(req.stop)
    # OpenAI's safety_identifier (its successor of `user`, chat's extras) is the same id
    user = req.user if req.user is not None else req.extras.get("safety_identifier")
    if isinstance(user, str) and user:
        body["metadata"] = {"user_id": user_id(user)}
    if req.stream:
        body["stream"] = True
    if req.source == "anthropic":
        body.update(req.extras)
    if constrained and fmt is not None and fmt.schema is not None:
        # Anthropic's structured outputs: the answer's text decoded constrained to the schema
        # (platform.claude.com/docs/en/build-with-claude/structured-outputs). Its own client's
        # schema goes as it came; another's is put in the subset Anthropic takes
        # (schema_dialects: what it cannot enforce is said in descriptions, as its SDK does).
        schema = fmt.schema if req.source == "anthropic" else for_anthropic(fmt.schema)
        config = body.get("output_config")
        body["output_config"] = {
            **(config if isinstance(config, dict) else {}),
            "format": {"type": "json_schema", "schema": schema},
        }
    return body


def _encode_messages(req: CanonicalRequest) -> list[dict[str, Any]]:
    """Consecutive same-role turns merged (OpenAI's run of `tool` messages becomes one user
    turn), tool_result blocks first in a user turn as Anthropic requires, empty text dropped,
    tool call ids made what Anthropic accepts (_ToolIds)."""
    turns: list[dict[str, Any]] = []
    ids = _ToolIds()
    for i, msg in enumerate(req.messages):
        parts = ids.rename(msg.role, msg.parts)
        blocks = [b for p in parts if (b := _encode_part(p, f"messages.{i}")) is not None]
        if not blocks:
            continue
        if turns and turns[-1]["role"] == msg.role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": msg.role, "content": blocks})
    for turn in turns:
        if turn["role"] == "user":
            turn["content"].sort(key=lambda b: b["type"] != "tool_result")  # stable
    _end_without_whitespace(turns)
    return turns


def _end_without_whitespace(turns: list[dict[str, Any]]) -> None:
    """A final assistant turn is a prefill to Anthropic, which refuses one ending in whitespace
    (400). To an OpenAI client it is an earlier turn, whose trailing whitespace means nothing:
    it is trimmed, and a turn left empty dropped (the encoding drops empty text)."""
    if not turns or turns[-1]["role"] != "assistant":
        return
    blocks = turns[-1]["content"]
    while (
        blocks
        and blocks[-1]["type"] == "text"
        and blocks[-1]["text"] != blocks[-1]["text"].rstrip()
    ):
        text = blocks[-1]["text"].rstrip()
        if text:
            blocks[-1] = {**blocks[-1], "text": text}
        else:
            blocks.pop()  # whitespace only: the block before it is the end now
    if not blocks:
        turns.pop()


MAX_USER_ID = 256  # characters of `metadata.user_id`


def user_id(user: str) -> str:
    """Another protocol's end-user id as Anthropic's `metadata.user_id`. OpenAI bounds `user`
    nowhere, Anthropic refuses one past 256 characters (its 400, after routing, for a request
    the client sent right): a longer one goes as its SHA-256, an opaque id (what Anthropic asks
    for) that stays the same for the same user."""
    if len(user) <= MAX_USER_ID:
        return user
    return hashlib.sha256(user.encode("utf-8", "surrogatepass")).hexdigest()


TOOL_ID_CHARS = frozenset(string.ascii_letters + string.digits + "_-")  # a tool_use id's
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})  # all it takes


def image_type(media_type: str | None) -> str | None:
    """An image's media type as Anthropic names it: `image/jpg` (a common misspelling that
    OpenAI takes) is `image/jpeg`."""
    return "image/jpeg" if media_type == "image/jpg" else media_type


class _ToolIds:
    """Anthropic wants every tool_use id unique in the request and made of [a-zA-Z0-9_-];
    OpenAI pairs a result with a call of the assistant turn just before it, so its ids may
    repeat across turns ("call_0" from servers that number calls per answer) and hold other
    characters ("functions.get_weather:0"). Sent as they were, Anthropic refused the request
    (400 after routing). A call whose id is not acceptable gets one that is (its characters
    kept where allowed, a suffix while taken), and each result the id of the call it answers
    in the turn before (same ids in one turn: in order)."""

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._turn: dict[str, list[str]] = {}  # the last assistant turn's ids: given -> sent
        self._role = ""

    def rename(self, role: str, parts: tuple[Part, ...]) -> tuple[Part, ...]:
        if role == "assistant" and self._role != "assistant":
            self._turn = {}
        self._role = role
        return tuple(self._renamed(p) for p in parts)

    def _renamed(self, part: Part) -> Part:
        if isinstance(part, ToolCallPart):
            sent = self._fresh(part.id)
            self._turn.setdefault(part.id, []).append(sent)
            return part if sent == part.id else dataclasses.replace(part, id=sent)
        if isinstance(part, ToolResultPart):
            queue = self._turn.get(part.tool_call_id)
            if not queue:
                return part  # answers nothing (untranslatable() keeps such requests away)
            sent = queue.pop(0) if len(queue) > 1 else queue[0]
            return (
                part if sent == part.tool_call_id else dataclasses.replace(part, tool_call_id=sent)
            )
        return part

    def _fresh(self, given: str) -> str:
        base = "".join(ch if ch in TOOL_ID_CHARS else "_" for ch in given) or "toolu"
        sent, n = base, 1
        while sent in self._used:
            n += 1
            sent = f"{base}_{n}"
        self._used.add(sent)
        return sent


def _encode_part(part: Part, param: str) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, ImagePart):
        return _encode_image(part)
    if isinstance(part, ToolCallPart):
        return {
            "type": "tool_use", "id": part.id, "name": part.name,
            "input": c.json_object_or_raw(part.arguments),
        }  # fmt: skip
    if isinstance(part, ToolResultPart):
        content = [b for p in part.content if (b := _encode_part(p, param)) is not None]
        out: dict[str, Any] = {"type": "tool_result", "tool_use_id": part.tool_call_id}
        if content:
            out["content"] = content
        if part.is_error:
            out["is_error"] = True
        return out
    if isinstance(part, OpaquePart) and part.protocol == "anthropic":
        return part.data
    kind = "input_audio" if isinstance(part, AudioPart) else part.kind
    raise InvalidRequest(
        f"{param}: {kind} content cannot be sent to an Anthropic model", param=param
    )


def _encode_image(part: ImagePart) -> dict[str, Any]:
    if part.data is not None:
        # the bytes' own type: Anthropic refuses a declared one they contradict, OpenAI does not
        media_type = image_type_of(part.data) or image_type(part.media_type)
        source = {"type": "base64", "media_type": media_type, "data": part.data}
    else:
        source = {"type": "url", "url": part.url}
    return {"type": "image", "source": source}


def _encode_tool(tool: Tool, source: Protocol) -> dict[str, Any]:
    if tool.builtin is not None:
        return tool.parameters  # an Anthropic server tool, as the client sent it
    schema = tool.parameters or {"type": "object"}
    if (
        "type" not in schema
    ):  # OpenAI reads a schema of properties as an object; Anthropic needs it said
        schema = {"type": "object", **schema}
    if tool.strict and source != "anthropic":
        # Anthropic's strict tools take the structured-outputs subset, as output_config does
        schema = for_anthropic(schema)
    out: dict[str, Any] = {"name": tool.name, "input_schema": schema}
    if tool.description:
        out["description"] = tool.description
    if tool.strict is not None:
        # Anthropic's tools take `strict` too (structured outputs: the input decoded
        # constrained to the schema), said as the client said it
        out["strict"] = tool.strict
    return out


def _encode_tool_choice(req: CanonicalRequest) -> dict[str, Any] | None:
    choice = req.tool_choice
    if not req.tools and (choice is None or choice.kind in ("auto", "none")):
        return None  # Anthropic refuses a tool_choice without tools; these mean nothing then
    if choice is None and req.parallel_tool_calls is not False:
        return None
    if choice is not None and choice.kind == "named":
        out: dict[str, Any] = {"type": "tool", "name": choice.name}
    else:
        out = {"type": choice.kind if choice is not None else "auto"}
    if req.parallel_tool_calls is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


def _json_instruction(fmt: ResponseFormat) -> str:
    """Anthropic has no JSON mode (only strict schemas, `output_config.format`): ask in the
    system prompt (best effort) for json_object and non-strict schemas."""
    text = "Respond with a single valid JSON object and nothing else: no prose, no code fences."
    if fmt.schema is not None:
        text += " The object must conform to this JSON Schema: " + orjson.dumps(fmt.schema).decode()
    return text
