"""Which requests can cross from one protocol to the other, and what is dropped on the way.

untranslatable(req, target) names the first feature `target` cannot serve faithfully, or None.
A model it names a feature for is not eligible for the request; a request pinned to such a
model gets a 400 naming the feature. Same protocol: always None (the body is relayed as is).

Translated, not refused:
- OpenAI system/developer messages -> Anthropic `system`; `tool` messages -> tool_result blocks.
- `temperature` above 1 (OpenAI allows 2) is clamped to Anthropic's maximum of 1.
- `response_format` json_object / json_schema (not strict) -> an instruction in Anthropic's
  system prompt (best effort: Anthropic has no JSON mode); a strict json_schema <-> Anthropic's
  structured outputs (`output_config.format`), the schema put in the subset Anthropic takes
  (schema_dialects.for_anthropic). A model of the other protocol serves a strict schema
  only with the `json-schema` capability (pipeline.wants_strict_schema); the client's own
  protocol relays it as it came.
- A tool_result's `is_error` -> its OpenAI `tool` message text starts with "Error: ".
- To Anthropic: tool call ids it refuses (repeated across turns, or outside [a-zA-Z0-9_-]) ->
  ids it accepts, each result following its call; an `image/jpg` data URL -> `image/jpeg`.
- To OpenAI: a tool call id longer than its 40 characters -> a digest of it, call and result
  alike (openai_call_ids.py).
Dropped (sampling hints and bookkeeping; the answer's content is not promised by them):
- to OpenAI: `top_k`; extras in _DROPPED["anthropic"] (service tier, top-level cache_control).
- to Anthropic: extras in _DROPPED["openai"] (seed, penalties, prompt-cache hints, ...);
  `reasoning_effort: "none"` (no thinking: what Anthropic does unasked). Not `store: true`:
  OpenAI keeps that completion for the caller to fetch (`chat.completions.retrieve`, evals),
  which Anthropic never does, so it is refused as any unknown extra (false is the default).
Refused (see the checks below): n > 1, audio input, files/documents, the thinking of the
tool-use loop in progress of a request that thinks (an earlier turn's is dropped: Anthropic
drops it too; so is the loop's own when the request asks for no thinking: nothing reads it),
provider-side tools; to Anthropic: whitespace-only stop sequences such as a newline
(Anthropic answers 400), tool arguments that are not a JSON object, a tool call whose result
is not in the next turn, an image of a type other than jpeg, png, gif or webp, and a request
left with no non-empty message (system text only); to OpenAI: images inside tool results, an
assistant prefill, more than 4 stop sequences, a strict schema OpenAI's strict mode refuses (an
optional property, an object not closed), a tool whose name is longer than OpenAI's 64
characters, listed or called in an earlier turn (Anthropic takes 128; not mapped to a shorter
one: the client reads the name the
model calls, sends it back in later turns, and Arbiter keeps no state to map it back across
requests); and every other extra field, since a field we
do not understand may change the answer.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

from arbiter.canonical import (
    AudioPart,
    CanonicalRequest,
    ImagePart,
    Message,
    OpaquePart,
    Protocol,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    current_turn_start,
    is_thinking,
)
from arbiter.protocols.anthropic_encode import IMAGE_TYPES, image_type
from arbiter.protocols.function_names import MAX_FUNCTION_NAME
from arbiter.protocols.schema_dialects import openai_strict_problem

# Prompt-caching hints (OpenAI's `prompt_cache_key` / `prompt_cache_retention`, Anthropic's
# top-level `cache_control`) are the caller's cost advice to its own provider: the other caches
# prompts its own way, and the answer is the same without them.
_DROPPED: dict[Protocol, frozenset[str]] = {
    "openai": frozenset({
        "seed", "frequency_penalty", "presence_penalty", "metadata", "service_tier",
        "prompt_cache_key", "prompt_cache_retention", "safety_identifier", "top_k",
        "repetition_penalty", "min_p",
    }),
    "anthropic": frozenset({"service_tier", "inference_geo", "cache_control"}),
}  # fmt: skip
_OPENAI_MAX_STOP = 4


# fields whose mere presence asks for a feature: `web_search_options: {}` turns web search on
_PRESENCE_ASKS = frozenset({"web_search_options"})


def _is_default(key: str, value: Any) -> bool:
    """A field set to its default asks for nothing, so dropping it loses nothing."""
    if key in _PRESENCE_ASKS:
        return value is None
    if value is None or value is False or value in ({}, [], 0, ""):
        return True
    if key == "modalities":
        return bool(value == ["text"])
    if key == "thinking":
        return isinstance(value, dict) and value.get("type") == "disabled"
    if key == "reasoning_effort":
        # "none" (OpenAI's "do not reason") is what a model asked without thinking does anyway
        return bool(value == "none")
    return False


class Blocker(NamedTuple):
    """What keeps a request from crossing: the feature, as a 400 words it, and the request field
    that carries it, so a named model's refusal names the field (`param`) as OpenAI's do: an
    extra's own key, else one of "n", "stop", "tools", "tools.{i}.name", "messages",
    "response_format" (the
    surface says it in the caller's words: request_checks.blocked_param)."""

    reason: str
    field: str


def untranslatable(req: CanonicalRequest, target: Protocol) -> str | None:
    found = blocker(req, target)
    return None if found is None else found.reason


def dropped(req: CanonicalRequest, target: Protocol) -> list[str]:
    """The request's fields dropped on the way to `target` (hints the other protocol has no
    place for), by the caller's names; [] for its own protocol. Named to the caller in the
    answer's x-arbiter-dropped header, so nothing is dropped silently."""
    if req.source == target:
        return []
    names = [
        k
        for k, v in req.extras.items()
        if k in _DROPPED[req.source] and not _is_default(k, v) and not _carried(req, k, target)
    ]
    if req.top_k is not None and target == "openai":
        names.append("top_k")
    return names


def _carried(req: CanonicalRequest, key: str, target: Protocol) -> bool:
    """A droppable field the other protocol still carries: OpenAI's safety_identifier is
    Anthropic's `metadata.user_id` when no `user` takes that place (anthropic_encode), so the
    header named it dropped while Anthropic was sent it."""
    return key == "safety_identifier" and target == "anthropic" and req.user is None


def blocker(req: CanonicalRequest, target: Protocol) -> Blocker | None:
    """untranslatable()'s feature with the field that carries it."""
    if req.source == target:
        return None
    for key, value in req.extras.items():
        if key not in _DROPPED[req.source] and not _is_default(key, value):
            return Blocker(f"the '{key}' parameter", key)
    for tool in req.tools:
        if tool.builtin is not None:
            return Blocker(f"the {tool.builtin!r} tool type", "tools")
    return _to_anthropic(req) if target == "anthropic" else _to_openai(req)


def _parts_problem(req: CanonicalRequest, target: Protocol) -> str | None:
    """The first part `target` cannot take. A part of `target`'s own kind goes as it came (a
    Responses client's reasoning item carrying an Anthropic model's thinking block, sent back
    to an Anthropic model: responses_reasoning.py)."""
    # where the thinking the model still reads begins: the tool-use loop in progress, when the
    # request thinks (a request that does not is served without it, as by the other protocol)
    current = current_turn_start(req.messages) if _thinks(req) else len(req.messages)
    for i, msg in enumerate(req.messages):
        for part in msg.parts:
            if i < current and msg.role == "assistant" and is_thinking(part):
                # an earlier turn's thinking: Anthropic drops it from the context too (only the
                # tool-use loop in progress keeps its own), so the other protocol loses nothing
                continue
            if isinstance(part, OpaquePart) and part.protocol != target:
                return f"{part.kind} content"
            if isinstance(part, AudioPart):
                return "audio input"
            if isinstance(part, ToolResultPart):
                for inner in part.content:
                    if isinstance(inner, OpaquePart) and inner.protocol != target:
                        return f"{inner.kind} content inside a tool_result"
    return None


def _thinks(req: CanonicalRequest) -> bool:
    """Whether the request asks its model to think (Anthropic's `thinking`, other than
    disabled): only then does the tool-use loop in progress need its own thinking back."""
    thinking = req.extras.get("thinking")
    return thinking is not None and not _is_default("thinking", thinking)


def _unanswered_tool_call(req: CanonicalRequest) -> str | None:
    """Anthropic needs every tool_use answered by a tool_result in the next (user) turn; the
    consecutive user messages after it are that one turn once encoded."""
    for i, msg in enumerate(req.messages):
        calls = Counter(p.id for p in msg.parts if isinstance(p, ToolCallPart))
        if not calls or msg.role != "assistant":
            continue
        answered: Counter[str] = Counter()
        for after in req.messages[i + 1 :]:  # the user turn that follows (one or more messages)
            if after.role != "user":
                break
            answered.update(p.tool_call_id for p in after.parts if isinstance(p, ToolResultPart))
        # calls sharing an id (one turn) need as many results: the encoding pairs them in order
        missing = [c for c, n in calls.items() if answered[c] < n]
        if missing:
            return f"tool call {missing[0]!r} without its result in the next turn"
    return None


def _nothing_to_send(messages: tuple[Message, ...]) -> bool:
    """No message is left once encoded for Anthropic: empty text is dropped, and so is the
    whitespace a final assistant turn ends with (anthropic_encode trims a prefill's)."""
    prefill = len(messages)
    while prefill and messages[prefill - 1].role == "assistant":
        prefill -= 1
    return all(
        isinstance(p, TextPart) and not (p.text.strip() if i >= prefill else p.text)
        for i, m in enumerate(messages)
        for p in m.parts
    )


def _to_anthropic(req: CanonicalRequest) -> Blocker | None:
    if req.n > 1:
        return Blocker("n > 1 (several choices per request)", "n")
    if (problem := _parts_problem(req, "anthropic")) is not None:
        return Blocker(problem, "messages")
    if any(not s.strip() for s in req.stop):
        return Blocker("a whitespace-only stop sequence (Anthropic refuses them)", "stop")
    for tool in req.tools:  # Anthropic's input_schema must be an object schema
        kind = tool.parameters.get("type", "object") if tool.parameters else "object"
        if tool.builtin is None and kind != "object":
            return Blocker(
                f"tool {tool.name[:64]!r} whose parameters are not an object schema", "tools"
            )
    if _nothing_to_send(req.messages):
        # only system text (or empty turns, which the encoding drops): no messages are left
        return Blocker("a request without a non-empty user or assistant message", "messages")
    for msg in req.messages:
        for part in msg.parts:
            if (
                isinstance(part, ImagePart)
                and part.url is not None
                and not part.url.startswith(("https://", "http://"))
            ):
                return Blocker(
                    "an image URL that is neither http(s) nor a base64 data URL", "messages"
                )
            if isinstance(part, ImagePart) and part.data is not None:
                kind = image_type(part.media_type)
                if kind not in IMAGE_TYPES:  # Anthropic answers 400
                    return Blocker(
                        f"an image of type {str(kind)[:40]!r} (it takes jpeg, png, gif, webp)",
                        "messages",
                    )
    unanswered = _unanswered_tool_call(req)
    return None if unanswered is None else Blocker(unanswered, "messages")


def _to_openai(req: CanonicalRequest) -> Blocker | None:
    if (problem := _parts_problem(req, "openai")) is not None:
        return Blocker(problem, "messages")
    if len(req.stop) > _OPENAI_MAX_STOP:
        return Blocker(f"more than {_OPENAI_MAX_STOP} stop_sequences", "stop")
    if req.messages and req.messages[-1].role == "assistant":
        return Blocker("a final assistant message (prefill)", "messages")
    fmt = req.response_format
    if fmt is not None and fmt.strict and (problem := openai_strict_problem(fmt.schema)):
        # an Anthropic schema may leave properties optional; OpenAI's strict mode refuses it
        return Blocker(
            f"a strict JSON schema with {problem} (OpenAI's strict mode requires them all)",
            "response_format",
        )
    for i, tool in enumerate(req.tools):
        if tool.builtin is None and len(tool.name) > MAX_FUNCTION_NAME:
            # Anthropic takes 128 characters, OpenAI 64: not mapped to a shorter name, which
            # the model would call, the client read and send back in later turns (where a
            # mapping must hold across requests Arbiter keeps no state for)
            return Blocker(
                f"tool {tool.name[:64]!r}... whose name is longer than OpenAI's "
                f"{MAX_FUNCTION_NAME} characters",
                f"tools.{i}.name" if req.source == "anthropic" else "tools",
            )
        if tool.strict and (problem := openai_strict_problem(tool.parameters, "input_schema")):
            return Blocker(
                f"strict tool {tool.name[:64]!r} with {problem} "
                "(OpenAI's strict mode requires them all)",
                "tools",
            )
    # a tool_result's images are carried: the `tool` message gets its text, a user message
    # after it the images (protocols/openai.py `_encode_message`)
    return _long_call_name(req)


def _long_call_name(req: CanonicalRequest) -> Blocker | None:
    """An earlier turn's call of a name longer than OpenAI's 64 characters (Anthropic's
    tool_use takes 128): OpenAI refuses it in the history too ("Invalid 'messages[4].
    tool_calls[0].function.name': string too long"), when the tool that took it is no longer
    listed (a listed one is refused above). Named by its id: the caller finds the block so."""
    for msg in req.messages:
        for part in msg.parts:
            if isinstance(part, ToolCallPart) and len(part.name) > MAX_FUNCTION_NAME:
                return Blocker(
                    f"the tool_use block {part.id[:64]!r} calling {part.name[:64]!r}... (a "
                    f"name longer than OpenAI's {MAX_FUNCTION_NAME} characters)",
                    "messages",
                )
    return None
