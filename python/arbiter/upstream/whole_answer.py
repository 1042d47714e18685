"""A whole JSON answer to a streaming request, as the SSE text the stream would have been.

Some OpenAI-compatible servers (and proxies in front of Anthropic ones) ignore `stream: true`
and answer with one `application/json` body. The client asked for a stream and should get the
answer as one: the body is turned into its protocol's events (OpenAI chunks and `[DONE]`, or
Anthropic's message_start ... message_stop) and read by the same stream code as a real stream,
so usage, finish reasons, translation and recording work as for any stream. An error body stays
an error (failover acts on it as on any stream that fails before its first content).

Long text and tool arguments go out in pieces, so no event is longer than the stream's
`max_event_bytes` (a piece of `piece_chars` characters is at most 6 bytes a character in JSON).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from arbiter.errors import UpstreamError
from arbiter.protocols.anthropic_stream import upstream_error
from arbiter.upstream.http import answer_object, log_upstream_text
from arbiter.upstream.openai_errors import error_in_answer


def piece_chars(max_event_bytes: int) -> int:
    """Characters per piece: \\uXXXX escapes make a character up to 6 bytes, plus the frame."""
    return max((max_event_bytes - 1024) // 6, 1)


def _pieces(text: str, size: int) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


# -- OpenAI --------------------------------------------------------------------------------


def _data(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def openai_events(raw: bytes, model: str, size: int) -> bytes:
    """A chat completion (or a legacy text completion) as its stream of chunks."""
    body = answer_object(raw, model)
    if "error" in body:  # classified by its code, as the same error with its HTTP status
        raise error_in_answer(model, body, raw)
    choices = body.get("choices")
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise UpstreamError(f"{model}: malformed answer from upstream")
    head: dict[str, Any] = {
        k: body[k] for k in ("id", "created", "model", "system_fingerprint") if k in body
    }
    legacy = body.get("object") == "text_completion" or any("text" in c for c in choices)
    if not legacy and not all(isinstance(c.get("message"), dict) for c in choices):
        raise UpstreamError(f"{model}: malformed answer from upstream")
    head["object"] = "text_completion" if legacy else "chat.completion.chunk"
    out: list[bytes] = []
    for place, choice in enumerate(choices):
        index = choice.get("index", place)
        deltas = _legacy_deltas(choice, size) if legacy else _chat_deltas(choice, size)
        for delta in deltas:
            out.append(_data({**head, "choices": [{"index": index, **delta}]}))
        end: dict[str, Any] = {"index": index, "finish_reason": choice.get("finish_reason")}
        if legacy:
            end["text"] = ""
        else:
            end["delta"] = {}
        out.append(_data({**head, "choices": [end]}))
    if body.get("usage") is not None:
        out.append(_data({**head, "choices": [], "usage": body["usage"]}))
    return b"".join(out) + b"data: [DONE]\n\n"


def _legacy_deltas(choice: dict[str, Any], size: int) -> Iterator[dict[str, Any]]:
    text = choice.get("text")
    first: dict[str, Any] = {"logprobs": choice.get("logprobs"), "finish_reason": None}
    if not isinstance(text, str) or not text:
        yield {"text": text if isinstance(text, str) else "", **first}
        return
    for n, piece in enumerate(_pieces(text, size)):
        yield {"text": piece, **(first if n == 0 else {"finish_reason": None})}


def _chat_deltas(choice: dict[str, Any], size: int) -> Iterator[dict[str, Any]]:
    message: dict[str, Any] = choice["message"]
    content = message.get("content")
    # what else the message holds (refusal, reasoning_content, audio ...) goes in the first delta
    first = {k: v for k, v in message.items() if k not in ("content", "tool_calls")}
    first["role"] = message.get("role") or "assistant"
    extra = {"logprobs": choice["logprobs"]} if choice.get("logprobs") is not None else {}
    if isinstance(content, str) and content:
        for n, piece in enumerate(_pieces(content, size)):
            delta = {**first, "content": piece} if n == 0 else {"content": piece}
            yield {"delta": delta, "finish_reason": None, **(extra if n == 0 else {})}
    else:  # no text (a tool call only), or content as a list of parts: sent as it came
        yield {"delta": {**first, "content": content}, "finish_reason": None, **extra}
    calls = message.get("tool_calls")
    for place, call in enumerate(calls if isinstance(calls, list) else ()):
        if not isinstance(call, dict):
            continue
        given = call.get("function")
        function: dict[str, Any] = given if isinstance(given, dict) else {}
        args = function.get("arguments")
        args = args if isinstance(args, str) else orjson.dumps(args or {}).decode()
        opening = {k: v for k, v in call.items() if k != "function"}
        opening["index"] = place
        opening["function"] = {**function, "arguments": ""}
        yield {"delta": {"tool_calls": [opening]}, "finish_reason": None}
        for piece in _pieces(args, size):
            fragment = {"index": place, "function": {"arguments": piece}}
            yield {"delta": {"tool_calls": [fragment]}, "finish_reason": None}


# -- Anthropic ------------------------------------------------------------------------------


def _frame(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **data}) + b"\n\n"


def anthropic_events(raw: bytes, model: str, size: int) -> bytes:
    """A Messages answer as its event stream, message_start to message_stop."""
    body = answer_object(raw, model)
    if body.get("type") == "error" or "error" in body:
        log_upstream_text(model, "answered a stream with an error body", raw)
        raise upstream_error(model, body.get("error"))  # classified by type, as an error event
    content = body.get("content")
    if not isinstance(content, list) or not all(isinstance(b, dict) for b in content):
        raise UpstreamError(f"{model}: malformed answer from upstream")
    given = body.get("usage")
    usage: dict[str, Any] = given if isinstance(given, dict) else {}
    start = {k: v for k, v in body.items() if k not in ("content", "stop_reason", "stop_sequence")}
    start.update(content=[], stop_reason=None, stop_sequence=None, usage={**usage})
    start["usage"]["output_tokens"] = 0  # the count so far; message_delta has the final one
    out = [_frame("message_start", {"message": start})]
    for index, block in enumerate(content):
        out.extend(_block(index, block, size))
    stop = {"stop_reason": body.get("stop_reason"), "stop_sequence": body.get("stop_sequence")}
    out.append(_frame("message_delta", {"delta": stop, "usage": usage}))
    out.append(_frame("message_stop", {}))
    return b"".join(out)


def _block(index: int, block: dict[str, Any], size: int) -> Iterator[bytes]:
    kind = block.get("type")
    opening, deltas = dict(block), []
    if kind == "text" and isinstance(block.get("text"), str):
        opening["text"] = ""
        deltas = [{"type": "text_delta", "text": p} for p in _pieces(block["text"], size)]
    elif kind == "tool_use":
        opening["input"] = {}
        args = orjson.dumps(block.get("input") or {}).decode()
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in _pieces(args, size)]
    elif kind == "thinking" and isinstance(block.get("thinking"), str):
        opening.update(thinking="", signature="")
        deltas = [
            {"type": "thinking_delta", "thinking": p} for p in _pieces(block["thinking"], size)
        ]
        if isinstance(block.get("signature"), str):
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
    # other blocks (redacted thinking, server tool results) come whole in their start
    yield _frame("content_block_start", {"index": index, "content_block": opening})
    for delta in deltas:
        yield _frame("content_block_delta", {"index": index, "delta": delta})
    yield _frame("content_block_stop", {"index": index})
