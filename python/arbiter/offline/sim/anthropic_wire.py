"""Anthropic's Messages API for the simulator's Anthropic-protocol models.

POST /v1/messages (JSON and SSE), POST /v1/messages/count_tokens, GET /v1/models when asked
with an `anthropic-version` header, and errors in Anthropic's shape. A request is decoded with
protocols.anthropic (so it gets Anthropic's own 400s) and then read as the OpenAI-shaped view
that simulate.py takes: the same prompt and seed get the same answer, usage and cost here as
on /v1/chat/completions; only the wire format differs.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from random import Random
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from arbiter import sampling
from arbiter.canonical import (
    BlockStart,
    BlockStop,
    CanonicalRequest,
    CanonicalResponse,
    CanonicalUsage,
    MessageStart,
    MessageStop,
    StopReason,
    TextDelta,
    TextPart,
    ToolArgsDelta,
    ToolCallPart,
    ToolResultPart,
)
from arbiter.errors import InvalidRequest
from arbiter.offline.sim.config import ModelProfile
from arbiter.offline.sim.failures import FailureKind
from arbiter.offline.sim.headers import provider_headers
from arbiter.offline.sim.simulate import (
    CachePrefix,
    Completion,
    Failed,
    billing_when_left,
    simulate,
)
from arbiter.offline.sim.sse import EventStream
from arbiter.offline.sim.state import count_tokens, prompt_tokens, state_of
from arbiter.protocols.anthropic import StreamEncoder, decode_request, encode_response
from arbiter.protocols.anthropic_response import usage_out

_CREATED_AT = "2023-11-14T22:13:20Z"


def error_response(
    status: int, type_: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = {"type": "error", "error": {"type": type_, "message": message}}
    return Response(orjson.dumps(body), status, dict(headers or {}), "application/json")


def failure_response(kind: FailureKind, rng: Random) -> Response:
    """A request-level failure as Anthropic answers it. The 5xx draw is the one the OpenAI path
    makes (500/502/503): 500 stays api_error, the other two are Anthropic's 529 overloaded."""
    if kind == "error_429":
        message = "Number of requests has exceeded your rate limit. Please try again later."
        return error_response(429, "rate_limit_error", message, {"retry-after": "1"})
    if kind == "timeout":
        return error_response(504, "timeout_error", "The upstream timed out.")
    if kind == "down":
        return error_response(529, "overloaded_error", "Overloaded (the model is down).")
    if rng.randrange(3) == 0:
        return error_response(500, "api_error", "Internal server error")
    return error_response(529, "overloaded_error", "Overloaded")


def _unauthorized(request: Request) -> Response | None:
    """The anthropic SDK sends `x-api-key`; a Bearer token is accepted too."""
    if not state_of(request).config.require_auth:
        return None
    if request.headers.get("x-api-key", "").strip():
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return None
    return error_response(401, "authentication_error", "invalid x-api-key")


def list_models(request: Request) -> Response:
    denied = _unauthorized(request)
    if denied is not None:
        return denied
    data = [{"type": "model", "id": p.name, "display_name": p.name, "created_at": _CREATED_AT,
             "max_input_tokens": p.context_window}
            for p in state_of(request).profiles.values()
            if p.protocol == "anthropic" and p.listed]  # fmt: skip
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    page = {"data": data, "has_more": False, "first_id": first, "last_id": last}
    return Response(orjson.dumps(page), media_type="application/json")


async def _decode(
    request: Request, *, count_tokens: bool
) -> tuple[ModelProfile, CanonicalRequest, dict[str, Any]] | Response:
    denied = _unauthorized(request)
    if denied is not None:
        return denied
    try:
        raw = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return error_response(400, "invalid_request_error", "The request body is not valid JSON.")
    try:
        req = decode_request(raw, count_tokens=count_tokens)
    except InvalidRequest as err:
        return error_response(400, "invalid_request_error", err.message)
    profile = state_of(request).profiles.get(req.model)
    if profile is None or profile.protocol != "anthropic":  # an OpenAI one: /v1/chat/completions
        return error_response(404, "not_found_error", f"model: {req.model}")
    return profile, req, raw


def openai_view(req: CanonicalRequest) -> dict[str, Any]:
    """The request as the OpenAI-shaped body simulate.py reads. A message's text becomes a
    plain string (as an OpenAI client sends it), so its digest, and so its draws, match the
    same conversation sent to /v1/chat/completions. protocols.openai.encode_request is not used
    here: it renders text as content-part lists, which would hash differently."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": s} for s in req.system]
    for msg in req.messages:
        text = "".join(p.text for p in msg.parts if isinstance(p, TextPart | ToolResultPart))
        messages.append({"role": msg.role, "content": text})
    view: dict[str, Any] = {"model": req.model, "messages": messages}
    if req.max_tokens is not None:
        view["max_tokens"] = req.max_tokens
    if req.stop:
        view["stop"] = list(req.stop)
    fmt = req.response_format
    if fmt is not None and fmt.schema is not None:  # structured outputs: answer to the schema
        view["response_format"] = {
            "type": "json_schema", "json_schema": {"name": "response", "schema": fmt.schema},
        }  # fmt: skip
    return view


async def count_message_tokens(request: Request) -> Response:
    """What the same request would be billed as input_tokens."""
    decoded = await _decode(request, count_tokens=True)
    if isinstance(decoded, Response):
        return decoded
    _, req, _ = decoded
    tokens = prompt_tokens(openai_view(req)["messages"])
    return Response(orjson.dumps({"input_tokens": tokens}), media_type="application/json")


async def messages(request: Request) -> Response:
    decoded = await _decode(request, count_tokens=False)
    if isinstance(decoded, Response):
        return decoded
    profile, req, raw = decoded
    if profile.one_sampler and sampling.sets_both(raw):
        message = (
            "`temperature` and `top_p` cannot both be specified for this model. "
            "Please use only one."
        )
        return error_response(400, "invalid_request_error", message)
    view = openai_view(req)
    tools = req if req.tools else None  # tool_calls.pick reads its tools and tool_choice
    outcome = await simulate(state_of(request), profile, view, req.stream, cache_prefix(raw), tools)
    if isinstance(outcome, Failed):
        return failure_response(outcome.kind, outcome.rng)
    message_id = f"msg_sim{outcome.id_bits:016x}"
    outcome.headers.update(provider_headers(request, outcome.id_bits, "anthropic"))
    if req.stream:
        left = billing_when_left(state_of(request), profile, outcome, first_piece=2)
        return _stream(message_id, profile.name, outcome, left)
    await asyncio.sleep(outcome.first_s + outcome.gap_s * len(outcome.pieces))
    if outcome.malformed:
        return Response(_malformed_body(outcome.rng, message_id), 200,
                        media_type="application/json")  # fmt: skip
    answer = CanonicalResponse(
        id=message_id,
        model=profile.name,
        parts=(_part(message_id, outcome),),
        stop_reason=_stop_reason(outcome),
        usage=_usage(outcome),
        stop_sequence=outcome.stop_sequence,
    )
    body = encode_response(answer, profile.name)
    if outcome.body_cost is not None:
        body["usage"]["cost"] = outcome.body_cost
    return Response(orjson.dumps(body), 200, outcome.headers, "application/json")


def _part(message_id: str, outcome: Completion) -> TextPart | ToolCallPart:
    call = outcome.tool_call
    if call is None:
        return TextPart(outcome.text)
    return ToolCallPart(_tool_use_id(message_id), call.name, call.arguments)


def _tool_use_id(message_id: str) -> str:
    return "toolu_" + message_id.removeprefix("msg_")


def _usage(outcome: Completion) -> CanonicalUsage:
    (prompt, completion), (read, written) = outcome.usage, outcome.cache
    return CanonicalUsage(prompt - read - written, completion, read, written)


def cache_prefix(raw: dict[str, Any]) -> CachePrefix | None:
    """The prompt up to its last `cache_control` block (system blocks, then messages; tools are
    not counted, as the sim bills no tokens for them), or None when nothing is marked. Its
    tokens are counted as prompt_tokens counts the OpenAI view: per message, chars / 4."""
    system = raw.get("system")
    units: list[list[Any]] = [[b] for b in system] if isinstance(system, list) else []
    for msg in raw.get("messages") or []:
        content = msg.get("content") if isinstance(msg, dict) else None
        units.append(content if isinstance(content, list) else [content])
    marked = [(i, j) for i, unit in enumerate(units) for j, block in enumerate(unit)
              if isinstance(block, dict) and block.get("cache_control")]  # fmt: skip
    if not marked:
        return None
    last, upto = marked[-1]
    prefix = [*units[:last], units[last][: upto + 1]]
    tokens = sum(count_tokens("".join(_block_text(b) for b in unit)) for unit in prefix)
    digest = hashlib.sha256(orjson.dumps(prefix, option=orjson.OPT_SORT_KEYS)).digest()
    return CachePrefix(digest, tokens)


def _block_text(block: Any) -> str:
    """The text of a block as the OpenAI view has it (text, or a tool_result's text)."""
    if isinstance(block, str):
        return block
    if not isinstance(block, dict):
        return ""
    if block.get("type") == "text":
        return str(block.get("text", ""))
    if block.get("type") == "tool_result":
        inner = block.get("content")
        return (
            "".join(_block_text(b) for b in inner) if isinstance(inner, list) else str(inner or "")
        )
    return ""


def _stop_reason(outcome: Completion) -> StopReason:
    if outcome.tool_call is not None:
        return "tool_use"
    if outcome.stop_sequence is not None:
        return "stop_sequence"
    return "max_tokens" if outcome.finish == "length" else "end_turn"


def _stream(
    message_id: str, model: str, outcome: Completion, left: Callable[[int], None]
) -> EventStream:
    """message_start (+ ping), one text block of deltas, message_delta, message_stop. The fault
    plan as on the OpenAI path: a cut drops the connection after `cut_after` deltas (so never
    a message_stop), a malformed event replaces one delta."""
    encoder = StreamEncoder(model)
    usage = _usage(outcome)
    opening = CanonicalUsage(usage.input_tokens, 0, *outcome.cache)
    call = outcome.tool_call
    start = BlockStart(0, "text")
    if call is not None:
        start = BlockStart(0, "tool_use", _tool_use_id(message_id), call.name)
    events = [encoder.encode(MessageStart(message_id, model, opening)), encoder.encode(start)]
    for i, piece in enumerate(outcome.pieces):
        if i == outcome.plan.malformed_at:
            events.append(b'event: content_block_delta\ndata: {"type": "content_block_delta", '
                          b'"index": 0, "delta": {"type": "text_del\n\n')  # fmt: skip
        elif call is not None:
            events.append(encoder.encode(ToolArgsDelta(0, piece)))
        else:
            events.append(encoder.encode(TextDelta(0, piece)))
    events.append(encoder.encode(BlockStop(0)))
    final: dict[str, Any] = usage_out(usage)  # cumulative, input counts repeated
    if outcome.body_cost is not None:
        final["cost"] = outcome.body_cost
    delta = {"stop_reason": _stop_reason(outcome), "stop_sequence": outcome.stop_sequence}
    events.append(b"event: message_delta\ndata: " + orjson.dumps(
        {"type": "message_delta", "delta": delta, "usage": final}) + b"\n\n")  # fmt: skip
    events.append(encoder.encode(MessageStop()))
    cut_at = None if outcome.plan.cut_after is None else 2 + outcome.plan.cut_after
    return EventStream(
        events, outcome.first_s, outcome.gap_s, cut_at, outcome.headers, pace_from=3,
        on_left=left,
    )  # fmt: skip


def _malformed_body(rng: Random, message_id: str) -> bytes:
    """A 200 body that is not valid JSON, or valid JSON without `content`."""
    if rng.random() < 0.5:
        return b'{"id": "' + message_id.encode() + b'", "type": "message", "conte'
    return orjson.dumps({"id": message_id, "type": "message", "model": "?"})
