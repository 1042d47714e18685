"""Anthropic Messages responses and errors <-> canonical types. Pure."""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from arbiter import errors as e
from arbiter.canonical import (
    CanonicalRequest,
    CanonicalResponse,
    CanonicalUsage,
    ContentPart,
    StopReason,
    TextPart,
    Thought,
    ToolCallPart,
    all_counts,
    count_in,
    reported_cost,
    whole_usage,
)
from arbiter.protocols._check import INPUT_LEVELS_IN_ANSWER, writable_below
from arbiter.protocols.anthropic_encode import TOOL_ID_CHARS
from arbiter.types import estimate_tokens

# Anthropic's own reasons onto the canonical ones (which are Anthropic's core four + refusal).
_STOP_IN: dict[str, StopReason] = {
    "end_turn": "end_turn", "max_tokens": "max_tokens", "stop_sequence": "stop_sequence",
    "tool_use": "tool_use", "refusal": "refusal", "pause_turn": "end_turn",
    "model_context_window_exceeded": "max_tokens",
}  # fmt: skip


def stop_reason_in(value: Any) -> StopReason | None:
    return _STOP_IN.get(value) if isinstance(value, str) else None


def window_filled(value: Any) -> bool:
    """The stop reason says the context window filled (read as `max_tokens`, but not the
    cut at the client's limit a cache may keep)."""
    return isinstance(value, str) and value == "model_context_window_exceeded"


def _count(usage: dict[str, Any], key: str) -> int:
    return count_in(usage.get(key))


def usage_in(raw: Any) -> CanonicalUsage:
    usage = raw if isinstance(raw, dict) else {}
    writes = _count(usage, "cache_creation_input_tokens")
    split = usage.get("cache_creation")  # the writes by cache: the hour's are billed dearer
    hour = min(_count(split, "ephemeral_1h_input_tokens"), writes) if isinstance(split, dict) else 0
    return CanonicalUsage(
        input_tokens=_count(usage, "input_tokens"),
        output_tokens=_count(usage, "output_tokens"),
        cache_read_input_tokens=_count(usage, "cache_read_input_tokens"),
        cache_creation_input_tokens=writes,
        cost=reported_cost(usage),
        cache_creation_1h_input_tokens=hour,
        counted=all_counts(usage.get(k) for k in _COUNTS),
    )


_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def usage_out(usage: CanonicalUsage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
    }
    if hour := usage.cache_creation_1h_input_tokens:  # the split, as the live answer said it
        out["cache_creation"] = {
            "ephemeral_5m_input_tokens": usage.cache_creation_input_tokens - hour,
            "ephemeral_1h_input_tokens": hour,
        }
    if usage.cost is not None:  # an upstream's reported cost, as it said it
        out["cost"] = usage.cost
    return out


def decode_response(body: Any, *, thinking: bool = False) -> CanonicalResponse:
    """An upstream's Message as canonical; a body that is not one raises UpstreamError. Blocks
    with no counterpart are left out: only text and tool calls are kept, and with `thinking`
    the thinking blocks as `thoughts` (for the Responses API's reasoning items)."""
    if not isinstance(body, dict) or not isinstance(body.get("content"), list):
        raise e.UpstreamError("malformed answer from an Anthropic upstream")
    parts: list[ContentPart] = []
    thoughts: list[Thought] = []
    for block in body["content"]:
        if not isinstance(block, dict):
            raise e.UpstreamError("malformed content block from an Anthropic upstream")
        if thinking and (thought := _thought(block, len(parts))) is not None:
            thoughts.append(thought)
        elif block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append(TextPart(block["text"]))
        elif block.get("type") == "tool_use":
            given = block.get("input")
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise e.UpstreamError("malformed tool_use block from an Anthropic upstream")
            try:
                arguments = orjson.dumps(given if isinstance(given, dict) else {})
            except orjson.JSONEncodeError as err:  # nested past what orjson writes
                raise e.UpstreamError("tool_use input nested too deeply") from err
            parts.append(ToolCallPart(block["id"], block["name"], arguments.decode()))
    sequence = body.get("stop_sequence")
    return CanonicalResponse(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        parts=tuple(parts),
        stop_reason=stop_reason_in(body.get("stop_reason")),
        usage=whole_usage(
            usage_in(body.get("usage")), body.get("usage"), ("input_tokens", "output_tokens")
        ),
        stop_sequence=sequence if isinstance(sequence, str) else None,
        thoughts=tuple(thoughts),
    )


def holds_more(body: Any) -> bool:
    """Whether a Message holds what its canonical form leaves out: a block other than text and
    tool_use (thinking, redacted_thinking, a server tool's, a kind added later) or text with
    citations. Relayed as it came, its client read them; a cached copy would not hold them."""
    content = body.get("content") if isinstance(body, dict) else None
    for block in content if isinstance(content, list) else ():
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in ("text", "tool_use") or (kind == "text" and block.get("citations")):
            return True
    return False


def _thought(block: dict[str, Any], at: int) -> Thought | None:
    """A thinking or redacted_thinking block as a Thought (None for any other block)."""
    kind = block.get("type")
    if kind == "thinking" and isinstance(block.get("thinking"), str):
        signature = block.get("signature")
        return Thought(at, block["thinking"], signature if isinstance(signature, str) else "")
    if kind == "redacted_thinking" and isinstance(block.get("data"), str):
        return Thought(at, "", redacted=block["data"])
    return None


def message_id(raw_id: str) -> str:
    return raw_id if raw_id.startswith("msg_") else "msg_" + raw_id


def tool_use_id(given: str | None) -> str:
    """The id an Anthropic client gets for a tool call another protocol's model made. The
    client sends it back in every later turn, where Anthropic's rules hold: [a-zA-Z0-9_-] only,
    unique in the conversation. OpenAI-compatible servers break both (Kimi's
    `functions.get_weather:0`, `call_0` numbered per answer, so every turn's first call is
    `call_0`): such ids made the next turn a 400. A fresh id per call keeps both rules;
    Anthropic's own (`toolu_...`, from a proxy in front of Claude, or a cached answer) are kept."""
    if given is not None and given.startswith("toolu_") and TOOL_ID_CHARS.issuperset(given):
        return given
    return "toolu_" + secrets.token_hex(12)


def encode_response(resp: CanonicalResponse, model: str) -> dict[str, Any]:
    """A Message body for an Anthropic client; `model` is the name the client sees."""
    content: list[dict[str, Any]] = []
    for part in resp.parts:
        if isinstance(part, TextPart):
            content.append({"type": "text", "text": part.text})
        else:
            content.append({
                "type": "tool_use", "id": tool_use_id(part.id), "name": part.name,
                "input": tool_input(part.arguments),
            })  # fmt: skip
    return {
        "id": message_id(resp.id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": resp.stop_reason,
        "stop_sequence": resp.stop_sequence,
        "usage": usage_out(resp.usage),
    }


def tool_input(arguments: str) -> dict[str, Any]:
    """A model's tool arguments as an object; text that is not one (OpenAI models can emit
    broken JSON, a Python repr, an array) is kept whole under `_raw` rather than lost or
    failing the answer. A translated stream sends the same object (anthropic_stream)."""
    try:
        value = orjson.loads(arguments) if arguments.strip() else {}
    except orjson.JSONDecodeError:
        return {"_raw": arguments}
    # read deeper than orjson writes (255 levels, counted from the answer's top): rendering
    # the answer would fail
    if not isinstance(value, dict) or not writable_below(value, INPUT_LEVELS_IN_ANSWER):
        return {"_raw": arguments}
    return value


def count_tokens_body(req: CanonicalRequest) -> dict[str, int]:
    """The answer to /v1/messages/count_tokens: arbiter's usual estimate (chars / 4) of the
    system, messages and tool definitions, since no upstream is asked."""
    tools = "".join(orjson.dumps(t.parameters).decode() + (t.description or "") for t in req.tools)
    return {"input_tokens": estimate_tokens(req.text() + tools) + 4 * len(req.messages)}


# -- errors ------------------------------------------------------------------------------------

# ArbiterError -> (Anthropic error type, Anthropic status). Anthropic's statuses: 400, 401, 403,
# 404, 413, 429, 500 (api_error), 504 (timeout_error), 529 (overloaded_error). A failure that is
# not the sidecar's own bug keeps the 5xx the OpenAI surface answers (a bad upstream 502, a store
# down 503) under the closest type: a 500 reads to monitoring as the sidecar crashing, and the
# anthropic SDK raises and retries any 5xx alike (InternalServerError).
_BY_CLASS: tuple[tuple[type[e.ArbiterError], str, int], ...] = (
    (e.InvalidRequest, "invalid_request_error", 400),
    (e.Unauthorized, "authentication_error", 401),
    (e.PolicyDenied, "permission_error", 403),
    (e.UnknownModel, "not_found_error", 404),
    (e.NotFound, "not_found_error", 404),
    (e.MethodNotAllowed, "invalid_request_error", 405),
    (e.PayloadTooLarge, "request_too_large", 413),
    (e.BudgetExceeded, "rate_limit_error", 429),
    (e.UpstreamRateLimited, "rate_limit_error", 429),
    (e.UpstreamTimeout, "timeout_error", 504),
    (e.UpstreamUnavailable, "overloaded_error", 529),
    (e.NoRouteAvailable, "overloaded_error", 529),
)
_BY_STATUS = {
    400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
    403: "permission_error", 404: "not_found_error", 413: "request_too_large",
    429: "rate_limit_error", 504: "timeout_error", 529: "overloaded_error",
}  # fmt: skip


def error_type(err: e.ArbiterError) -> tuple[str, int]:
    """The Anthropic error type and HTTP status for `err`."""
    if isinstance(err, e.UpstreamRejected):  # the upstream's own 4xx: keep its status
        status = err.upstream_status
        return _BY_STATUS.get(status, "invalid_request_error"), status
    for cls, kind, status in _BY_CLASS:
        if isinstance(err, cls):
            return kind, status
    status = err.http_status
    if status < 500:  # a client's mistake named by its own class (408, 415, ...): keep it a 4xx
        return _BY_STATUS.get(status, "invalid_request_error"), status
    return _BY_STATUS.get(status, "api_error"), status


def error_status(err: e.ArbiterError) -> int:
    return error_type(err)[1]


def error_body(err: e.ArbiterError) -> dict[str, Any]:
    kind, _ = error_type(err)
    error: dict[str, Any] = {"type": kind, "message": err.message}
    if isinstance(err, e.ThreadsUnsupported):  # the code the SDK branches on (its `error_code`)
        error["details"] = {"error_code": err.code}
    return {"type": "error", "error": error}


def error_bytes(err: e.ArbiterError) -> bytes:
    return orjson.dumps(error_body(err))


def sse_error_event(err: e.ArbiterError) -> bytes:
    """The terminal event of a stream that failed after it began: Anthropic's `error` event."""
    return b"event: error\ndata: " + error_bytes(err) + b"\n\n"
